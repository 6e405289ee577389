-- Operating the gateway (issue 11): commands can be cancelled by an operator (SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with the same rows and seqs), each delivery attempt keeps how long
-- it took, and the outbox has the indexes the console's filters read newest first (an index on one column also
-- orders by rowid, which is seq).
CREATE TABLE commands_new (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    caller          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    vendor_key      TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    response        TEXT,
    last_error      TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
INSERT INTO commands_new SELECT seq, id, caller, provider, method, path, body, vendor_key, correlation_id, status,
    attempts, next_attempt_ms, lease_owner, lease_until_ms, response, last_error, created_at_ms, updated_at_ms
    FROM commands;
DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
CREATE INDEX commands_due ON commands (status, next_attempt_ms);
CREATE INDEX commands_updated ON commands (updated_at_ms);
CREATE INDEX commands_status ON commands (status);
CREATE INDEX commands_provider ON commands (provider);
CREATE INDEX commands_caller ON commands (caller);

ALTER TABLE delivery_attempts ADD COLUMN latency_ms INTEGER;

-- (status) orders by (status, seq): listing by status newest first, and retention (delivered, oldest first).
DROP INDEX outbox_retention;
CREATE INDEX outbox_status ON outbox (status);
CREATE INDEX outbox_provider ON outbox (provider);
-- Two filters together whose rows rarely meet (dead events of one provider) would otherwise scan every row of one.
CREATE INDEX outbox_status_provider ON outbox (status, provider);
CREATE INDEX outbox_status_type ON outbox (status, event_type);
CREATE INDEX outbox_type ON outbox (event_type);
CREATE INDEX outbox_provider_event_id ON outbox (provider_event_id);
CREATE INDEX outbox_received ON outbox (received_at_ms);
-- A subscription's deliveries by state, in event order: the console's per-subscription filters, bulk replay, and
-- the counts per subscription.
CREATE INDEX deliveries_state ON deliveries (subscription, state, event_seq);
