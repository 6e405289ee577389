-- Gatehouse on PostgreSQL, schema version 1: the same tables as the embedded store (SQLite migrations 0001-0004),
-- shared by every gateway replica. Times are unix milliseconds on the database's clock (see clock.rs).

-- The inbox remembers every (provider, provider event id) seen, for deduplication: its primary key makes a
-- duplicate atomic across replicas (INSERT ... ON CONFLICT DO NOTHING, never check-then-insert).
CREATE TABLE inbox (
    provider          text   NOT NULL,
    provider_event_id text   NOT NULL,
    event_id          uuid   NOT NULL,
    received_at_ms    bigint NOT NULL,
    PRIMARY KEY (provider, provider_event_id)
);
CREATE INDEX inbox_received ON inbox (received_at_ms);

-- The outbox holds each accepted event. seq is taken under the ingest lock (pg_advisory_xact_lock), so it grows in
-- commit order across replicas: a cursor past seq N never skips a row committed later.
CREATE SEQUENCE outbox_seq;
CREATE TABLE outbox (
    seq               bigint PRIMARY KEY DEFAULT nextval('outbox_seq'),
    id                uuid   NOT NULL UNIQUE,
    provider          text   NOT NULL,
    event_type        text   NOT NULL,
    subject           text,
    provider_event_id text   NOT NULL,
    correlation_id    text   NOT NULL,
    received_at_ms    bigint NOT NULL,
    status            text   NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'delivered', 'dead', 'quarantined')),
    envelope          bytea  NOT NULL,
    raw_body          bytea  NOT NULL,
    -- JSON [[name, value], ...] of the request's headers (credentials aside), kept for quarantined events.
    raw_headers       text,
    quarantine_error  text
);
ALTER SEQUENCE outbox_seq OWNED BY outbox.seq;
-- Listing by status reads it in seq order; retention reads delivered events oldest first (seq follows receipt).
CREATE INDEX outbox_status ON outbox (status, seq);
CREATE INDEX outbox_provider ON outbox (provider, seq);

-- Idempotency keys, per caller. A claim is a row ('running', locked until locked_until_ms), visible to every
-- replica; a completed key keeps its answer until expires_at_ms.
CREATE TABLE idempotency_keys (
    caller          text    NOT NULL,
    key             text    NOT NULL,
    fingerprint     text    NOT NULL,
    token           uuid    NOT NULL,
    state           text    NOT NULL CHECK (state IN ('running', 'completed')),
    locked_until_ms bigint  NOT NULL,
    expires_at_ms   bigint  NOT NULL,
    status          integer,
    headers         text,
    body            bytea,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at_ms);
-- Pruning also forgets claims whose request never finished.
CREATE INDEX idempotency_keys_lapsed ON idempotency_keys (locked_until_ms) WHERE state = 'running';

-- Deferred commands, run by whichever replica's executor leases them (FOR UPDATE SKIP LOCKED).
CREATE TABLE commands (
    seq             bigserial PRIMARY KEY,
    id              uuid    NOT NULL UNIQUE,
    caller          text    NOT NULL,
    provider        text    NOT NULL,
    method          text    NOT NULL,
    path            text    NOT NULL,
    body            bytea   NOT NULL,
    vendor_key      text    NOT NULL,
    correlation_id  text    NOT NULL,
    status          text    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_ms bigint  NOT NULL,
    lease_owner     text,
    lease_until_ms  bigint  NOT NULL DEFAULT 0,
    response        text,
    last_error      text,
    created_at_ms   bigint  NOT NULL,
    updated_at_ms   bigint  NOT NULL
);
CREATE INDEX commands_due ON commands (next_attempt_ms, seq) WHERE status = 'pending';
CREATE INDEX commands_updated ON commands (updated_at_ms) WHERE status <> 'pending';

-- One row per (subscription, event) to deliver, written with the event. A delivery of an ordered subscription
-- that waits behind an older pending one of its subject has next_attempt_ms = 9223372036854775807 (WAITING).
CREATE TABLE deliveries (
    subscription    text    NOT NULL,
    event_seq       bigint  NOT NULL,
    subject         text,
    ordered         boolean NOT NULL,
    state           text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    -- Attempts ever made, replays included (`attempts` restarts at 0 on a replay): the next attempt's number in
    -- delivery_attempts, without reading it.
    history         integer NOT NULL DEFAULT 0,
    next_attempt_ms bigint  NOT NULL,
    lease_owner     text,
    lease_until_ms  bigint  NOT NULL DEFAULT 0,
    last_error      text,
    updated_at_ms   bigint  NOT NULL,
    PRIMARY KEY (subscription, event_seq)
);
-- Claims read each subscription's due deliveries in due order, and stop at their limit.
CREATE INDEX deliveries_due ON deliveries (subscription, next_attempt_ms) WHERE state = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_seq, state);
CREATE INDEX deliveries_subject ON deliveries (subscription, subject, event_seq) WHERE state = 'pending';

-- Every attempt, for inspection (GET /admin/events/{id}); keyed by event first, as inspection and pruning read it.
CREATE TABLE delivery_attempts (
    subscription text    NOT NULL,
    event_seq    bigint  NOT NULL,
    attempt      integer NOT NULL,
    at_ms        bigint  NOT NULL,
    outcome      text    NOT NULL,
    error        text,
    PRIMARY KEY (event_seq, subscription, attempt)
);

-- One row the readiness probe rewrites: a write like any other.
CREATE TABLE store_health (
    id            integer PRIMARY KEY CHECK (id = 1),
    checked_at_ms bigint  NOT NULL
);
INSERT INTO store_health (id, checked_at_ms) VALUES (1, 0);
