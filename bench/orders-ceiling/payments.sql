-- The payments database's share of one order (payment: one charge).
\set n random(1, 1000000000)
BEGIN;
INSERT INTO payments (order_id, amount, method, state) VALUES (CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid), 2.50, 'pm_card_ok', 'pending') ON CONFLICT (order_id) DO NOTHING;
UPDATE payments SET state = 'charged', provider_ref = 'ch_ceiling', updated_at = (now() AT TIME ZONE 'utc') WHERE order_id = CAST(md5(:client_id::text || '-' || :n::text || '-' || :run) AS uuid) RETURNING order_id::text AS order_id, amount, method, state, provider_ref;
COMMIT;
