-- The inventory database's share of one order (inventory-adjust: reserve, then commit).
\set n random(1, 1000000000)
BEGIN;
SET LOCAL synchronous_commit = off;
INSERT INTO reservations (order_id, state) VALUES (CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid), 'reserved') ON CONFLICT (order_id) DO NOTHING;
INSERT INTO reservation_lines (order_id, product_id, quantity) VALUES (CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid), :product, 1);
SAVEPOINT take_stock;
UPDATE stock SET on_hand = on_hand - 1, updated_at = (now() AT TIME ZONE 'utc') WHERE product_id = :product AND on_hand >= 1;
COMMIT;
SELECT pg_current_xact_id()::text AS xid;
BEGIN;
SET LOCAL synchronous_commit = off;
SELECT state, detail FROM reservations WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid) FOR UPDATE;
SELECT product_id, quantity::bigint AS quantity FROM reservation_lines WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid) ORDER BY product_id;
UPDATE reservations SET state = 'committed', detail = NULL::text, updated_at = (now() AT TIME ZONE 'utc') WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid);
COMMIT;
