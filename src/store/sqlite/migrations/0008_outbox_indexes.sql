-- Delivered events are the bulk of the outbox, and every index an event enters is written at ingest (and rewritten
-- when its status changes). Two indexes leave out what they do not need:
-- * the status index keeps the statuses an operator looks for (pending, dead, quarantined): a listing of delivered
--   events reads the outbox in `seq` order, where they are dense;
-- * retention reads only delivered events, oldest first: its index holds only them, by receipt time (it was
--   (status, received_at_ms) over every event, rewritten twice per delivered event).
DROP INDEX outbox_status;
CREATE INDEX outbox_status ON outbox (status) WHERE status <> 'delivered';
DROP INDEX outbox_retention;
CREATE INDEX outbox_retention ON outbox (received_at_ms) WHERE status = 'delivered';
