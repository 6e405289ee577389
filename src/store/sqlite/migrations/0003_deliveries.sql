-- One row per (subscription, event) to deliver, written with the event (fan-out at ingest): its state, attempts,
-- when it is next due, and the lease of the relay that claimed it. Ordered subscriptions deliver the events of one
-- subject one at a time, oldest first.
CREATE TABLE deliveries (
    subscription    TEXT    NOT NULL,
    event_seq       INTEGER NOT NULL,
    subject         TEXT,
    ordered         INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    updated_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (subscription, event_seq)
) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_ms);
CREATE INDEX deliveries_event ON deliveries (event_seq, state);
CREATE INDEX deliveries_subject ON deliveries (subscription, subject, event_seq) WHERE state = 'pending';

-- Every attempt, for inspection (`GET /admin/events/{id}`).
CREATE TABLE delivery_attempts (
    subscription TEXT    NOT NULL,
    event_seq    INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    at_ms        INTEGER NOT NULL,
    outcome      TEXT    NOT NULL,
    error        TEXT,
    PRIMARY KEY (subscription, event_seq, attempt)
) WITHOUT ROWID;

-- Retention reads these.
CREATE INDEX outbox_retention ON outbox (status, received_at_ms);
CREATE INDEX inbox_received ON inbox (received_at_ms);

-- Events stored before deliveries existed have nothing to deliver (a subscription starts with new events).
UPDATE outbox SET status = 'delivered' WHERE status = 'pending';
