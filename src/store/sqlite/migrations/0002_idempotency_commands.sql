-- Idempotency keys, per caller: the request's fingerprint and the response to replay, until expires_at_ms. (The
-- embedded store holds keys in flight in memory and writes only completed ones; token, state and locked_until_ms
-- leave room for a store whose claims are rows.)
CREATE TABLE idempotency_keys (
    caller          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('running', 'completed')),
    locked_until_ms INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    status          INTEGER,
    headers         TEXT,
    body            BLOB,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at_ms);

-- Deferred commands (`Prefer: respond-async`): the caller's validated mutation, run later by the executor under a
-- lease; vendor_key is the idempotency key every attempt sends to vendors that take one.
CREATE TABLE commands (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    caller          TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    path            TEXT    NOT NULL,
    body            BLOB    NOT NULL,
    vendor_key      TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    response        TEXT,
    last_error      TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX commands_due ON commands (status, next_attempt_ms);
CREATE INDEX commands_updated ON commands (updated_at_ms);
