-- Operating the gateway (issue 11): commands can be cancelled by an operator, each delivery attempt keeps how long
-- it took, and the console's filters each read an index in seq order (newest first).
ALTER TABLE commands DROP CONSTRAINT IF EXISTS commands_status_check;
ALTER TABLE commands ADD CONSTRAINT commands_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled'));
CREATE INDEX commands_status ON commands (status, seq);
CREATE INDEX commands_provider ON commands (provider, seq);
CREATE INDEX commands_caller ON commands (caller, seq);

ALTER TABLE delivery_attempts ADD COLUMN latency_ms bigint;

CREATE INDEX outbox_type ON outbox (event_type, seq);
-- Two filters together whose rows rarely meet (dead events of one provider) would otherwise scan every row of one.
-- Not for delivered events, the bulk (by provider or type they are dense), so delivering one never writes these.
CREATE INDEX outbox_status_provider ON outbox (status, provider, seq) WHERE status <> 'delivered';
CREATE INDEX outbox_status_type ON outbox (status, event_type, seq) WHERE status <> 'delivered';
CREATE INDEX outbox_provider_event_id ON outbox (provider_event_id, seq);
CREATE INDEX outbox_received ON outbox (received_at_ms);
-- A subscription's deliveries by state, in event order: the console's per-subscription filters, bulk replay, and
-- the counts per subscription.
CREATE INDEX deliveries_state ON deliveries (subscription, state, event_seq);

-- Each delivery carries its event's provider and type, and the dead ones are indexed by them per subscription: the
-- dead-letter filters (a subscription's dead deliveries of one provider or type) are index seeks even when the two
-- sets barely meet.
ALTER TABLE deliveries ADD COLUMN provider text;
ALTER TABLE deliveries ADD COLUMN event_type text;
UPDATE deliveries d SET provider = o.provider, event_type = o.event_type FROM outbox o WHERE o.seq = d.event_seq;
CREATE INDEX deliveries_dead_provider ON deliveries (subscription, provider, event_seq) WHERE state = 'dead';
CREATE INDEX deliveries_dead_type ON deliveries (subscription, event_type, event_seq) WHERE state = 'dead';
