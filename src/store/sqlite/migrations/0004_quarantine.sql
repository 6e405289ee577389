-- Quarantine: a correctly signed webhook the adapter cannot translate is kept as an event with status
-- 'quarantined' (no deliveries), with the headers it came with and the adapter's error, until it is translated
-- again. SQLite cannot change a CHECK constraint in place, so the outbox is rebuilt with the same rows and seqs.
CREATE TABLE outbox_new (
    seq               INTEGER PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    provider          TEXT    NOT NULL,
    event_type        TEXT    NOT NULL,
    subject           TEXT,
    provider_event_id TEXT    NOT NULL,
    correlation_id    TEXT    NOT NULL,
    received_at_ms    INTEGER NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'delivered', 'dead', 'quarantined')),
    envelope          BLOB    NOT NULL,
    raw_body          BLOB    NOT NULL,
    -- JSON [[name, value], ...] of the request's headers (credentials aside), kept for quarantined events.
    raw_headers       TEXT,
    quarantine_error  TEXT
);
INSERT INTO outbox_new (seq, id, provider, event_type, subject, provider_event_id, correlation_id, received_at_ms,
                        status, envelope, raw_body)
    SELECT seq, id, provider, event_type, subject, provider_event_id, correlation_id, received_at_ms,
           status, envelope, raw_body FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_retention ON outbox (status, received_at_ms);

-- A delivery queued behind a newer one of its subject (a replay while that one was retrying) waited for a
-- promotion that never came: one waits only behind an older pending delivery now. Free those already waiting.
UPDATE deliveries SET next_attempt_ms = 0
WHERE next_attempt_ms = 9223372036854775807 AND state = 'pending'
  AND NOT EXISTS (SELECT 1 FROM deliveries o
                  WHERE o.subscription = deliveries.subscription AND o.subject = deliveries.subject
                    AND o.state = 'pending' AND o.event_seq < deliveries.event_seq);

-- One row the readiness probe rewrites: a write that goes through the writer like any other.
CREATE TABLE store_health (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at_ms INTEGER NOT NULL
);
INSERT INTO store_health (id, checked_at_ms) VALUES (1, 0);
