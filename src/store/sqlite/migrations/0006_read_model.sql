-- The read model: the latest known state of each entity the adapters declare (acme-crm customers, stripe
-- payments), from webhooks and from the answers to /v1 calls. A state replaces the stored one only when its version
-- is greater, or equal and observed no earlier (see sqlite/entities.rs). A deleted entity stays as a tombstone
-- (deleted = 1) until retention prunes it by observed_at_ms, so an older state arriving late cannot bring it back.
-- WITHOUT ROWID: rows live in the primary key's b-tree, so an upsert (one per kept /v1 answer) touches one b-tree
-- and the retention index, not a rowid table as well.
CREATE TABLE read_model (
    provider       TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    entity_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    observed_at_ms INTEGER NOT NULL,
    source         TEXT    NOT NULL CHECK (source IN ('webhook', 'read', 'write')),
    deleted        INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    body           BLOB    NOT NULL,
    -- The event that carried the state, for webhooks.
    event_id       TEXT,
    PRIMARY KEY (provider, kind, entity_id)
) WITHOUT ROWID;
-- Retention deletes the entities last observed longest ago.
CREATE INDEX read_model_observed ON read_model (observed_at_ms);
