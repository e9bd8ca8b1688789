#!/usr/bin/env bash
# Orders benchmark: POST /api/v1/orders (the whole saga: pricing through product-admin,
# reservation, charge with `pm_card_ok`, paid + outbox, commit, event publish) with a fresh
# Idempotency-Key per request, and GET /api/v1/orders/:id, at 32 connections; `wrk -t2
# --latency`, interleaved runs, medians. Writes bench/results/orders.md.
#
#   bench/orders.sh                      # 3 runs × 10 s each
#   RUNS=5 DURATION=20 bench/orders.sh
#   SKIP_BUILD=1 bench/orders.sh
source "$(dirname "$0")/lib.sh" 3 10 32
prepare_app
bench_workspace
# The metrics listener is on (as a production host would run): the per-step breakdown below
# reads galley's request and chained-call counters from it. It costs a host ~1-2 %
# (bench/results/observability.md).
metrics_port=$(free_port)
start_galley 3921 GALLEY_METRICS_LISTEN=127.0.0.1:$metrics_port
admin=$(jwt bench-admin admin)
customer=$(jwt "$(python3 -c 'import uuid; print(uuid.uuid4())')" customer)
base=http://127.0.0.1:3921
product=$(seed_product "$base" "$admin" 2.50 2000000000)
order=$(curl -sf "$base/api/v1/orders" -H "authorization: Bearer $customer" -H 'content-type: application/json' \
  -H "idempotency-key: bench-seed-$$" -d "{\"items\":[{\"product_id\":$product,\"quantity\":1}],\"payment_method\":\"pm_card_ok\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

order_script "$product" "$customer" "$state/create.lua"
# The same orders spread over 32 products: if orders waited on their one stock row's lock,
# these would be faster.
spread="$product"
for _ in $(seq 31); do spread="$spread,$(seed_product "$base" "$admin" 2.50 2000000000)"; done
order_script "$spread" "$customer" "$state/create-spread.lua"
galley_pid=$(pgrep -f "listen 127.0.0.1:3921" | head -1)
cat > "$state/read.lua" <<LUA
wrk.headers["authorization"] = "Bearer $customer"
LUA

# The ceiling: the saga's own SQL (bench/orders-ceiling/<database>.sql: the same statements
# in the same transactions, flushed or not as the saga commits them), prepared, run by pgbench
# on the orders, inventory and payments databases at once, CONNECTIONS clients each, for the
# same time. Every order needs all three shares, so the ceiling is the slowest share's rate.
# (Two shares are left out, so the ceiling errs high by the CPU they would take: the catalog's,
# pricing's one indexed batch read through product-admin, and the notifications', order-events'
# one insert off the request's path. Neither is near the slowest.) The faster shares keep running and take CPU the slowest could have had, so this errs
# low by at most their surplus.
pg_ceiling_run() {
  local out=() db
  for db in orders inventory payments; do
    pgbench -n -M prepared -h 127.0.0.1 -p "${GALLEY_TEST_PG_PORT:-54331}" -U galley -c "$CONNECTIONS" -j 2 \
      -T "$DURATION" -D product="$product" -D run="$RANDOM$RANDOM$i" -f "bench/orders-ceiling/$db.sql" "$db" \
      > "$state/pgbench-$db.out" 2>&1 &
    out+=("$!")
  done
  wait "${out[@]}"
  python3 - "$state" >> "$ceiling" <<'PY'
import re, sys
tps = {}
for db in ("orders", "inventory", "payments"):
    text = open(f"{sys.argv[1]}/pgbench-{db}.out").read()
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    if not found:
        sys.exit(f"pgbench on {db} failed:\n{text}")
    tps[db] = float(found.group(1))
print(min(tps.values()), tps["orders"], tps["inventory"], tps["payments"])
PY
}
ceiling="$state/ceiling"

# wrk_run with a script: LABEL URL SCRIPT [CONNECTIONS]
wrk_script_run() { wrk_run "$1" "$2" "${4:-$CONNECTIONS}" "$DURATION" "$raw" -s "$3"; }
wrk -t2 -c"$CONNECTIONS" -d2s -s "$state/create.lua" "$base/api/v1/orders" >/dev/null   # warm-up
# Per statement, in the last run's order-create window: pg_stat_statements (loaded by
# scripts/services.sh) reset before it and read after it, per database.
pg_sql() { psql -h 127.0.0.1 -p "${GALLEY_TEST_PG_PORT:-54331}" -U galley -qAt "$@"; }
saga_databases="orders inventory payments catalog notifications"
for db in $saga_databases; do pg_sql -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null; done
# counters FILE: what the per-step breakdown compares before and after the window: galley's
# metrics, commits per database and Postgres's WAL writes and flushes (fsyncs). A backend
# reports its counts to the statistics at most once a second while busy, and 10 s after it goes
# idle: the pause lets every count from before the snapshot arrive (the previous run's reads
# would otherwise land in the window, and the window's last second outside it).
counters() {
  sleep 11
  curl -sf "http://127.0.0.1:$metrics_port/metrics" > "$1.metrics"
  pg_sql -d orders -F $'\t' -c "SELECT datname, xact_commit FROM pg_stat_database WHERE datname IN ('orders', 'inventory', 'payments', 'catalog', 'notifications')
    UNION ALL SELECT 'wal_write', wal_write FROM pg_stat_wal UNION ALL SELECT 'wal_sync', wal_sync FROM pg_stat_wal" > "$1.pg"
}
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS"
  if [ "$i" = "$RUNS" ]; then
    pg_sql -d orders -c "SELECT pg_stat_statements_reset()" >/dev/null
    before=$(pg_sql -d orders -c "SELECT count(*) FROM orders")
    counters "$state/before"
  fi
  # What one order costs in CPU, galley's and Postgres's (every server process), over the run.
  postgres_pids=$(pgrep -u postgres -d ' ' postgres || true)
  read -r galley_before postgres_before < <(echo "$(cpu_ticks "$galley_pid") $(cpu_ticks $postgres_pids)")
  wrk_script_run order-create "$base/api/v1/orders" "$state/create.lua"
  read -r galley_after postgres_after < <(echo "$(cpu_ticks "$galley_pid") $(cpu_ticks $postgres_pids)")
  echo "$(tail -1 "$raw" | cut -d' ' -f3) $((galley_after - galley_before)) $((postgres_after - postgres_before))" >> "$state/cpu"
  if [ "$i" = "$RUNS" ]; then
    counters "$state/after"
    window_orders=$(( $(pg_sql -d orders -c "SELECT count(*) FROM orders") - before ))
    pg_sql -d orders -F $'\t' -c "SELECT d.datname, s.calls, s.total_exec_time, s.wal_bytes, regexp_replace(s.query, '\s+', ' ', 'g')
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname IN ('orders', 'inventory', 'payments', 'catalog', 'notifications') ORDER BY s.total_exec_time DESC" > "$state/statements"
  fi
  pg_ceiling_run
  wrk_script_run order-create-spread "$base/api/v1/orders" "$state/create-spread.lua"
  wrk_script_run order-create-alone "$base/api/v1/orders" "$state/create.lua" 1
  wrk_script_run order-query "$base/api/v1/orders/$order" "$state/read.lua"
done
read -r ceiling_tps ceiling_orders ceiling_inventory ceiling_payments < <(python3 -c '
import statistics, sys
rows = [[float(v) for v in l.split()] for l in open(sys.argv[1]) if l.strip()]
print(*(f"{statistics.median(r[i] for r in rows):.0f}" for i in range(4)))' "$ceiling")
created=$(median_of "$raw" order-create "$CONNECTIONS" 2)
fraction=$(python3 -c "print(f'{100 * $created / $ceiling_tps:.0f}')")
# Median CPU per order: ticks are 10 ms; an order's share is ticks × 10 000 µs / orders made.
read -r galley_cpu postgres_cpu < <(python3 -c '
import statistics, sys
rows = [[float(v) for v in l.split()] for l in open(sys.argv[1]) if l.strip()]
per_order = lambda i: statistics.median(r[i] * 10_000 / (r[0] * float(sys.argv[2])) for r in rows)
print(f"{per_order(1):.0f} {per_order(2):.0f}")' "$state/cpu" "$DURATION")
spread_ratio=$(python3 -c "print(f'{$(median_of "$raw" order-create-spread "$CONNECTIONS" 2) / $created:.2f}')")
cpu_bound=$(python3 -c "print(f'{$(nproc) * 1e6 / ($galley_cpu + $postgres_cpu):.0f}')")
not_completed=$(psql -h 127.0.0.1 -p "${GALLEY_TEST_PG_PORT:-54331}" -U galley -d orders -Atc \
  "SELECT count(*) FROM orders WHERE saga_state NOT IN ('completed','cancelled')")

{
  cat <<MD
# Orders: the saga and the read side

Generated by \`bench/orders.sh\` on $(date -u +%F) ($(nproc) cores, galley, test-profile Postgres
and Redis on the same machine). \`wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency\`, $RUNS interleaved runs
each; medians.

MD
  median_table "$raw"
  cat <<MD

- **order-create**: \`POST /api/v1/orders\`, one line, \`pm_card_ok\`, a fresh Idempotency-Key per
  request, all of one product (its stock row is every order's): pricing (one batch read of
  product-admin), the order's transaction, reservation (inventory-adjust), charge (payment),
  paid + outbox, event publish, reservation commit, completed.
  Every request must be a 201 (non-2xx 0). Orders left unsettled afterwards: $not_completed.
- **order-create-spread**: the same orders spread over 32 products (one at random per request).
  Spread over one product: **$spread_ratio×** (well above 1 would mean orders wait on their product's stock row).
- **CPU per order** (order-create runs, from \`/proc\`): galley **$galley_cpu µs**, Postgres **$postgres_cpu µs**
  (every server process). $(nproc) cores can make at most **$cpu_bound orders/s** at that cost: the
  saga is CPU-bound on this machine, galley and Postgres about evenly.
- **order-create-alone**: the same at one connection: one order's latency with the machine otherwise idle.
- **Ceiling**: the saga's own SQL run by pgbench (\`bench/orders-ceiling/\`, prepared, $CONNECTIONS clients
  per database, the three databases at once): **$ceiling_tps orders/s** (the slowest share; orders
  $ceiling_orders, inventory $ceiling_inventory, payments $ceiling_payments transactions-scripts/s).
  galley's order-create is **$fraction %** of it.
- **order-query**: \`GET /api/v1/orders/:id\` of one paid order (its head and lines, two SELECTs).

## One order, step by step

Over the last run's order-create window ($window_orders orders), from galley's metrics and
Postgres's statistics, per order. An instance serves one request: from the client, from a
chained call (galley's \`galley_chained_calls_total\`), or, for order-events, one Redis message
(counted here by the notifications database's commits, one per event). Counts a little under
1 per order are the requests still in flight when wrk stopped: their clients went away, and
galley's metrics record a request when it answers.

MD
  python3 - "$state/before" "$state/after" "$window_orders" <<'PY'
import re, sys
from collections import defaultdict
before, after, orders = sys.argv[1], sys.argv[2], max(int(sys.argv[3]), 1)
def metrics(path):
    series = defaultdict(float)
    for line in open(path + ".metrics"):
        m = re.match(r'^(\w+)\{(.*)\} (\S+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        name, value = m.group(1), float(m.group(3))
        if name == "http_server_request_duration_seconds_count":
            series[("client", labels["component"])] += value
        elif name == "http_server_request_duration_seconds_sum":
            series[("seconds", labels["component"])] += value
        elif name == "galley_chained_calls_total":
            series[("chained", labels["to"], labels["from"])] += value
    return series
def pg(path):
    return {k: float(v) for k, v in (l.rstrip("\n").split("\t") for l in open(path + ".pg") if l.strip())}
m0, m1, p0, p1 = metrics(before), metrics(after), pg(before), pg(after)
d = {k: m1[k] - m0.get(k, 0) for k in m1}
rows = []
for key, n in d.items():
    if n * 20 < orders:
        continue
    if key[0] == "client":
        wall = 1000 * d[("seconds", key[1])] / n
        rows.append((key[1], n, f"the client (its whole request: {wall:.0f} ms on average)"))
    elif key[0] == "chained":
        rows.append((key[1], n, f"a chained call from {key[2]}"))
events = p1["notifications"] - p0["notifications"]
rows.append(("order-events", events, "the Redis trigger, one message per event"))
print("| component | instances per order | reached by |")
print("|---|---|---|")
for component, n, how in sorted(rows, key=lambda r: -r[1]):
    print(f"| {component} | {n / orders:.2f} | {how} |")
print()
print(f"Instances per order: **{sum(r[1] for r in rows) / orders:.2f}**.")
p0, p1 = pg(before), pg(after)
print()
print("| database | commits per order |")
print("|---|---|")
for db in ("orders", "inventory", "payments", "notifications", "catalog"):
    print(f"| {db} | {(p1[db] - p0[db]) / orders:.2f} |")
print()
print(f"WAL per order: {(p1['wal_write'] - p0['wal_write']) / orders:.2f} writes, "
      f"{(p1['wal_sync'] - p0['wal_sync']) / orders:.2f} flushes (fsyncs, by any process: the "
      "commits that wait for the disk, and the WAL writer's for those that do not; concurrent "
      "commits share a flush).")
PY
  cat <<MD

## Where an order's database time goes

pg_stat_statements over the last run's order-create window ($window_orders orders), statements called
at least once per 20 orders; time includes lock waits (transaction control is not listed).

MD
  python3 - "$state/statements" "$window_orders" <<'PY'
import sys
orders = max(int(sys.argv[2]), 1)
rows = [l.rstrip("\n").split("\t", 4) for l in open(sys.argv[1]) if l.strip()]
print("| database | per order | ms per call | WAL bytes per order | statement |")
print("|---|---|---|---|---|")
total = {}
for db, calls, ms, wal, query in rows:
    calls, ms, wal = int(calls), float(ms), float(wal or 0)
    if calls * 20 < orders:
        continue
    total[db] = total.get(db, 0) + calls / orders
    query = query.replace("|", "\\|")
    print(f"| {db} | {calls / orders:.2f} | {ms / calls:.3f} | {wal / orders:.0f} | `{query[:90]}` |")
print()
print("Statements per order: " + ", ".join(f"{db} {n:.1f}" for db, n in sorted(total.items())) + ".")
PY
} > bench/results/orders.md
cat bench/results/orders.md
