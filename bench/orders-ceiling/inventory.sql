-- The inventory database's share of one order (inventory-adjust: reserve, then commit), as
-- it runs a one-line order with the stock there: the take, the claim and its line in one
-- unflushed statement, then the WAL flush; then the commit of the reservation, one unflushed
-- statement.
\set n random(1, 1000000000)
WITH taken AS (UPDATE stock SET on_hand = on_hand - 1, updated_at = (now() AT TIME ZONE 'utc') WHERE product_id = :product AND on_hand >= 1 RETURNING product_id), claimed AS (INSERT INTO reservations (order_id, state) SELECT CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid), 'reserved' FROM taken RETURNING order_id), claimed_line AS (INSERT INTO reservation_lines (order_id, product_id, quantity) SELECT order_id, :product, 1 FROM claimed) SELECT (SELECT count(*) FROM claimed) AS claimed, set_config('synchronous_commit', 'off', true) AS unflushed;
SELECT pg_current_xact_id()::text AS xid;
WITH committed AS (UPDATE reservations SET state = 'committed', detail = NULL, updated_at = (now() AT TIME ZONE 'utc') WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid) AND state = 'reserved' RETURNING order_id) SELECT line.product_id, line.quantity::bigint AS quantity, set_config('synchronous_commit', 'off', true) AS unflushed FROM committed JOIN reservation_lines line USING (order_id) ORDER BY line.product_id;
