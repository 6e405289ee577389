-- Sagas: one row per saga, its steps' progress as JSON (written whole at each checkpoint), leased by whichever
-- replica's executor claims it (FOR UPDATE SKIP LOCKED), like commands.
CREATE TABLE sagas (
    seq             bigserial PRIMARY KEY,
    id              uuid    NOT NULL UNIQUE,
    name            text    NOT NULL,
    caller          text    NOT NULL,
    status          text    NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
    input           text    NOT NULL,
    steps           text    NOT NULL,
    correlation_id  text    NOT NULL,
    retries         integer NOT NULL DEFAULT 0,
    next_attempt_ms bigint  NOT NULL,
    lease_owner     text,
    lease_until_ms  bigint  NOT NULL DEFAULT 0,
    created_at_ms   bigint  NOT NULL,
    updated_at_ms   bigint  NOT NULL
);
CREATE INDEX sagas_due ON sagas (next_attempt_ms, seq) WHERE status IN ('running', 'compensating');
CREATE INDEX sagas_by_status ON sagas (status, seq);
CREATE INDEX sagas_by_name ON sagas (name, status, seq);
CREATE INDEX sagas_finished ON sagas (updated_at_ms) WHERE status IN ('completed', 'compensated');
