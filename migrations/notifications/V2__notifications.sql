-- One notification per order event, keyed by the event id: a duplicate or replayed event
-- inserts nothing (order-events uses ON CONFLICT DO NOTHING on both tables, in one transaction).
CREATE TABLE notifications (
    event_id   uuid      PRIMARY KEY REFERENCES processed_events (event_id),
    order_id   uuid      NOT NULL,
    user_id    uuid      NOT NULL,
    kind       text      NOT NULL,
    message    text      NOT NULL,
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);
CREATE INDEX notifications_order_idx ON notifications (order_id);
