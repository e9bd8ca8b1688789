-- Inventory: stock per product (referenced by id, no cross-database key) and reservations
-- per order, so reserve/release/commit are idempotent by order id.
CREATE TABLE stock (
    product_id uuid      PRIMARY KEY,
    quantity   integer   NOT NULL CHECK (quantity >= 0),
    updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

CREATE TABLE reservations (
    order_id   uuid      NOT NULL,
    product_id uuid      NOT NULL,
    quantity   integer   NOT NULL CHECK (quantity > 0),
    -- 'reserved' | 'released' | 'committed'
    state      text      NOT NULL CHECK (state IN ('reserved', 'released', 'committed')),
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX reservations_product_idx ON reservations (product_id);
CREATE INDEX reservations_state_idx ON reservations (state);
