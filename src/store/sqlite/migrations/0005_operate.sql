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

-- (status) orders by (status, seq): listing by status newest first. (Retention keeps its (status, received_at_ms).)
CREATE INDEX outbox_status ON outbox (status);
CREATE INDEX outbox_provider ON outbox (provider);
-- Two filters together whose rows rarely meet (dead events of one provider) would otherwise scan every row of one.
-- Not for delivered events, the bulk (by provider or type they are dense), so delivering one never writes these.
CREATE INDEX outbox_status_provider ON outbox (status, provider) WHERE status <> 'delivered';
CREATE INDEX outbox_status_type ON outbox (status, event_type) WHERE status <> 'delivered';
CREATE INDEX outbox_type ON outbox (event_type);
CREATE INDEX outbox_provider_event_id ON outbox (provider_event_id);
CREATE INDEX outbox_received ON outbox (received_at_ms);
-- A subscription's deliveries by state, in event order: the console's per-subscription filters, bulk replay, and
-- the counts per subscription.
CREATE INDEX deliveries_state ON deliveries (subscription, state, event_seq);

-- Each delivery carries its event's provider and type, and the dead ones are indexed by them per subscription: the
-- dead-letter filters (a subscription's dead deliveries of one provider or type) are index seeks even when the two
-- sets barely meet.
ALTER TABLE deliveries ADD COLUMN provider TEXT;
ALTER TABLE deliveries ADD COLUMN event_type TEXT;
UPDATE deliveries SET provider = (SELECT provider FROM outbox WHERE seq = deliveries.event_seq),
                      event_type = (SELECT event_type FROM outbox WHERE seq = deliveries.event_seq);
CREATE INDEX deliveries_dead_provider ON deliveries (subscription, provider, event_seq) WHERE state = 'dead';
CREATE INDEX deliveries_dead_type ON deliveries (subscription, event_type, event_seq) WHERE state = 'dead';

-- The relay claims per subscription (each has its own slots): the due index is led by it, so one subscription's
-- claim never steps over another's backlog (a hanging consumer's).
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (state, subscription, next_attempt_ms);
