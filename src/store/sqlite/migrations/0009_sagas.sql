-- Sagas: one row per saga, its steps' progress as JSON (written whole at each checkpoint), run by the executor under
-- a lease like commands. (Status constraints as OR chains: an IN list makes SQLite build a temporary b-tree per
-- row written; see checks.rs.)
CREATE TABLE sagas (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    caller          TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'running'
                    CHECK (status = 'running' OR status = 'compensating' OR status = 'completed'
                           OR status = 'compensated' OR status = 'failed'),
    input           TEXT    NOT NULL,
    steps           TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    retries         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX sagas_due ON sagas (next_attempt_ms, seq) WHERE status = 'running' OR status = 'compensating';
CREATE INDEX sagas_by_status ON sagas (status, seq);
CREATE INDEX sagas_by_name ON sagas (name, status, seq);
CREATE INDEX sagas_finished ON sagas (updated_at_ms) WHERE status = 'completed' OR status = 'compensated';
