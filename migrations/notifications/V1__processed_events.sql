-- order-events: which events were handled, so duplicates and replays are no-ops.
CREATE TABLE processed_events (
    event_id     uuid      PRIMARY KEY,
    event_type   text      NOT NULL,
    processed_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX processed_events_type_idx ON processed_events (event_type);
