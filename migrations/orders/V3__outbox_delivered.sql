-- When order-events confirmed it recorded an outbox event. Redis pub/sub tells the publisher
-- only that a subscriber received the message, not that it lived to record it (a galley
-- SIGKILLed mid-message loses it). order-events sets a marker in Redis once the notification
-- is committed; recovery sets delivered_at when it finds the marker, and publishes again any
-- event published but never confirmed (order-events ignores a duplicate by its event id).
ALTER TABLE outbox ADD COLUMN delivered_at timestamp;
CREATE INDEX outbox_unconfirmed_idx ON outbox (published_at) WHERE published_at IS NOT NULL AND delivered_at IS NULL;
