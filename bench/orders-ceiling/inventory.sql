-- The inventory database's share of one order (inventory-adjust: reserve, then commit), as
-- it runs them: the claim and its lines in one statement that also turns the flush off for its
-- transaction, the stock take, the commit, the WAL flush; then the commit of the reservation,
-- one unflushed statement.
\set n random(1, 1000000000)
BEGIN;
WITH claimed AS (INSERT INTO reservations (order_id, state) VALUES (CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid), 'reserved') ON CONFLICT (order_id) DO NOTHING RETURNING order_id), lines AS (INSERT INTO reservation_lines (order_id, product_id, quantity) SELECT claimed.order_id, line.product_id, line.quantity FROM claimed, unnest(ARRAY[:product]::bigint[], ARRAY[1]::integer[]) AS line(product_id, quantity)) SELECT (SELECT count(*) FROM claimed) AS claimed, set_config('synchronous_commit', 'off', true) AS unflushed;
UPDATE stock SET on_hand = on_hand - 1, updated_at = (now() AT TIME ZONE 'utc') WHERE product_id = :product AND on_hand >= 1;
COMMIT;
SELECT pg_current_xact_id()::text AS xid;
WITH committed AS (UPDATE reservations SET state = 'committed', detail = NULL, updated_at = (now() AT TIME ZONE 'utc') WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid) AND state = 'reserved' RETURNING order_id) SELECT line.product_id, line.quantity::bigint AS quantity, set_config('synchronous_commit', 'off', true) AS unflushed FROM committed JOIN reservation_lines line USING (order_id) ORDER BY line.product_id;
