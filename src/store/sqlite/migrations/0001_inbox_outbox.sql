-- The inbox remembers every (provider, provider event id) seen, for deduplication.
CREATE TABLE inbox (
    provider          TEXT    NOT NULL,
    provider_event_id TEXT    NOT NULL,
    event_id          TEXT    NOT NULL,
    received_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (provider, provider_event_id)
) WITHOUT ROWID;

-- The outbox holds each accepted event; seq is the commit order.
CREATE TABLE outbox (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    provider          TEXT    NOT NULL,
    event_type        TEXT    NOT NULL,
    subject           TEXT,
    provider_event_id TEXT    NOT NULL,
    correlation_id    TEXT    NOT NULL,
    received_at_ms    INTEGER NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    envelope          BLOB    NOT NULL,
    raw_body          BLOB    NOT NULL
);
