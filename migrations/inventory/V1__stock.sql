-- Inventory: stock per product (referenced by id, no cross-database key) and reservations
-- per order, so reserve/release/commit are idempotent by order id. Owned by inventory-adjust.
CREATE TABLE stock (
    product_id bigint    PRIMARY KEY,
    -- What can still be reserved. Reserving subtracts here with a conditional UPDATE; the
    -- CHECK is the backstop that makes a negative stock impossible whatever the code does.
    on_hand    integer   NOT NULL CHECK (on_hand >= 0),
    updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- One row per order: the first outcome of reserving it, and where it went from there.
-- The primary key is what makes a repeated or concurrent reserve of one order run once.
CREATE TABLE reservations (
    order_id   uuid      PRIMARY KEY,
    -- reserved → committed | released; rejected (not enough stock) is final, and so is a
    -- release that arrived before any reserve (a tombstone, so a late reserve does nothing).
    state      text      NOT NULL CHECK (state IN ('reserved', 'rejected', 'released', 'committed')),
    -- Why a reservation was rejected, for the repeated answer.
    detail     text,
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX reservations_state_idx ON reservations (state);

-- The lines an order asked for (kept for rejected orders too, so a repeat can be compared).
CREATE TABLE reservation_lines (
    order_id   uuid    NOT NULL REFERENCES reservations (order_id),
    product_id bigint  NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX reservation_lines_product_idx ON reservation_lines (product_id);
