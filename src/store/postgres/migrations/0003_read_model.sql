-- The read model: the latest known state of each entity the adapters declare (acme-crm customers, stripe
-- payments), from webhooks and from the answers to /v1 calls. A state replaces the stored one only when its version
-- is greater, or equal and observed no earlier (see postgres/entities.rs). A deleted entity stays as a tombstone
-- (deleted = true) until retention prunes it by observed_at_ms, so an older state arriving late cannot bring it
-- back. Times are unix milliseconds on the gateway's clock (when it saw the state), not the database's.
CREATE TABLE read_model (
    provider       text    NOT NULL,
    kind           text    NOT NULL,
    entity_id      text    NOT NULL,
    version        bigint  NOT NULL,
    observed_at_ms bigint  NOT NULL,
    source         text    NOT NULL CHECK (source IN ('webhook', 'read', 'write')),
    deleted        boolean NOT NULL,
    body           bytea   NOT NULL,
    -- The event that carried the state, for webhooks.
    event_id       uuid,
    PRIMARY KEY (provider, kind, entity_id)
);
-- Retention deletes the entities last observed longest ago.
CREATE INDEX read_model_observed ON read_model (observed_at_ms);
