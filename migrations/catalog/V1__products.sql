-- Catalog: the write side of products (product-admin) and the source of the read side
-- (product-query). Ids are numbers: they are short in URLs and give keyset pagination
-- (`WHERE id > $after ORDER BY id`) its order for free.
CREATE TABLE products (
    -- ALWAYS: product-admin takes the next id from the sequence before inserting (it creates
    -- the stock row first, see functions/product-admin) and inserts it with OVERRIDING SYSTEM VALUE.
    id          bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text          NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text,
    -- Positive and below 10^8 by the type and this check; at most 2 decimals by the type.
    price       NUMERIC(10,2) NOT NULL CHECK (price > 0),
    image       text,
    created_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at  timestamp     NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX products_name_idx ON products (name);
