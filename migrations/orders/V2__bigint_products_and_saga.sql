-- Product ids are the catalog's `bigint` identity everywhere; V1 typed them as uuid here.
-- (No order code ran against V1, so the column is replaced rather than converted; a row would
-- make the NOT NULL fail loudly instead of inventing product ids.)
ALTER TABLE order_items DROP CONSTRAINT order_items_pkey;
DROP INDEX order_items_product_idx;
ALTER TABLE order_items DROP COLUMN product_id;
ALTER TABLE order_items ADD COLUMN product_id bigint NOT NULL CHECK (product_id > 0);
ALTER TABLE order_items ADD PRIMARY KEY (order_id, product_id);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- The saga's state lives on the order row, so one conditional UPDATE moves it and two actors
-- (the request and a recoverer) can never both take the same step:
--   reserving → charging → committing → completed          (paid, status 1)
--   reserving | charging → compensating → cancelled        (status 2, with a reason)
ALTER TABLE orders
    ADD COLUMN saga_state text NOT NULL DEFAULT 'reserving'
        CHECK (saga_state IN ('reserving', 'charging', 'committing', 'completed', 'compensating', 'cancelled')),
    ADD COLUMN payment_method text NOT NULL DEFAULT '',
    -- The request an Idempotency-Key stands for: the same key with another body is refused.
    ADD COLUMN request_hash text NOT NULL DEFAULT '',
    -- A machine-readable reason code goes in cancel_reason; the human detail here.
    ADD COLUMN cancel_detail text,
    -- Recovery's lease: a recoverer works on a saga only while it holds an unexpired lease.
    ADD COLUMN lease_until timestamp,
    -- Keyset pages, newest first, stable under concurrent inserts.
    ADD COLUMN seq bigserial NOT NULL;
CREATE UNIQUE INDEX orders_seq_idx ON orders (seq);
CREATE INDEX orders_user_seq_idx ON orders (user_id, seq DESC);
CREATE INDEX orders_unsettled_idx ON orders (updated_at) WHERE saga_state NOT IN ('completed', 'cancelled');

-- Outbox rows name their order, and count delivery attempts for the log.
ALTER TABLE outbox ADD COLUMN order_id uuid REFERENCES orders (id);
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
