-- Payments: one charge (and at most one refund) per order, so both are idempotent by order id.
CREATE TABLE payments (
    order_id    uuid          PRIMARY KEY,
    amount      NUMERIC(10,2) NOT NULL CHECK (amount >= 0),
    method      text          NOT NULL,
    -- 'charged' | 'declined' | 'refunded'
    state       text          NOT NULL CHECK (state IN ('charged', 'declined', 'refunded')),
    provider_ref text,
    created_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX payments_state_idx ON payments (state);
