-- The orders database's share of one order (order-create's statements, in its transactions).
-- pgbench -M prepared; :product is the bench's product id. Unflushed steps set
-- synchronous_commit off, as the saga does.
-- (pgbench reads ":name" as a variable even inside a literal, so the time formats here use
-- "." where the saga writes ":": the same to_char work.)
\set n random(1, 1000000000)
BEGIN;
INSERT INTO orders (user_id, idempotency_key, status, total, payment_method, request_hash, saga_state) VALUES (CAST(md5(:client_id::text) AS uuid), 'ceiling-' || :client_id || '-' || :n || '-' || clock_timestamp()::text, 0, 2.50, 'pm_card_ok', 'fingerprint', 'reserving') ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id::text AS oid, to_char(created_at, 'YYYY-MM-DD"T"HH24.MI.SS"Z"') AS created_at \gset
INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (CAST(:oid AS uuid), :product, 1, 2.50);
INSERT INTO saga_log (order_id, step, outcome) VALUES (CAST(:oid AS uuid), 'created', 'reserving');
COMMIT;
BEGIN;
SET LOCAL synchronous_commit = off;
UPDATE orders SET saga_state = 'charging', updated_at = (now() AT TIME ZONE 'utc') WHERE id = CAST(:oid AS uuid) AND saga_state = 'reserving';
INSERT INTO saga_log (order_id, step, outcome) VALUES (CAST(:oid AS uuid), 'reserved', 'charging');
COMMIT;
BEGIN;
UPDATE orders SET status = 1, saga_state = 'committing', updated_at = (now() AT TIME ZONE 'utc') WHERE id = CAST(:oid AS uuid) AND saga_state = 'charging';
WITH e AS (SELECT gen_random_uuid() AS id, to_char((now() AT TIME ZONE 'utc'), 'YYYY-MM-DD"T"HH24.MI.SS"Z"') AS at) INSERT INTO outbox (id, event_type, order_id, payload) SELECT e.id, 'order.paid', CAST(:oid AS uuid), jsonb_set(jsonb_set(CAST('{"event_id":"","event_type":"order.paid"}' AS jsonb), '{event_id}', to_jsonb(e.id::text)), '{occurred_at}', to_jsonb(e.at)) FROM e RETURNING id::text AS eid, payload::text AS payload \gset
INSERT INTO saga_log (order_id, step, outcome) VALUES (CAST(:oid AS uuid), 'charged', 'committing');
COMMIT;
BEGIN;
SET LOCAL synchronous_commit = off;
UPDATE orders SET saga_state = 'completed', updated_at = (now() AT TIME ZONE 'utc') WHERE id = CAST(:oid AS uuid) AND saga_state = 'committing';
INSERT INTO saga_log (order_id, step, outcome) VALUES (CAST(:oid AS uuid), 'committed', 'completed');
UPDATE outbox SET published_at = (now() AT TIME ZONE 'utc'), attempts = attempts + 1 WHERE id = CAST(:eid AS uuid);
COMMIT;
