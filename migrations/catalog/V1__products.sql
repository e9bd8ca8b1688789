-- Catalog: the write side of products (product-admin) and the source of the read side.
-- V1 holds what DESIGN.md implies; the catalog issue extends it.
CREATE TABLE products (
    id          uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text          NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text          NOT NULL DEFAULT '',
    price       NUMERIC(10,2) NOT NULL CHECK (price >= 0),
    image       text,
    created_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX products_name_idx ON products (name);
