-- Orders and the saga that drives them. Status keeps the seed system's codes:
-- 0 unpaid, 1 paid, 2 cancelled. Users and products are referenced by id only.
CREATE TABLE orders (
    id              uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid          NOT NULL,
    idempotency_key text          NOT NULL,
    status          smallint      NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    total           NUMERIC(10,2) NOT NULL CHECK (total >= 0),
    cancel_reason   text,
    created_at      timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at      timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE UNIQUE INDEX orders_user_idempotency_key ON orders (user_id, idempotency_key);
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_items (
    order_id   uuid          NOT NULL REFERENCES orders (id),
    product_id uuid          NOT NULL,
    quantity   integer       NOT NULL CHECK (quantity > 0),
    unit_price NUMERIC(10,2) NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- One row per saga step, so an interrupted saga can be finished or compensated.
CREATE TABLE saga_log (
    id         bigserial PRIMARY KEY,
    order_id   uuid      NOT NULL REFERENCES orders (id),
    step       text      NOT NULL,
    outcome    text      NOT NULL,
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX saga_log_order_idx ON saga_log (order_id);

-- Transactional outbox: events written with the state change, published to Redis later.
CREATE TABLE outbox (
    id           uuid      PRIMARY KEY DEFAULT gen_random_uuid(),
    event_type   text      NOT NULL,
    payload      jsonb     NOT NULL,
    created_at   timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    published_at timestamp
);
CREATE INDEX outbox_unpublished_idx ON outbox (created_at) WHERE published_at IS NULL;
