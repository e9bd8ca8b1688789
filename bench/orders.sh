#!/usr/bin/env bash
# Orders benchmark: POST /api/v1/orders (the whole saga: pricing through product-query,
# reservation, charge with `pm_card_ok`, paid + outbox, commit, event publish) with a fresh
# Idempotency-Key per request, and GET /api/v1/orders/:id, at 32 connections; `wrk -t2
# --latency`, interleaved runs, medians. Writes bench/results/orders.md.
#
#   bench/orders.sh                      # 3 runs × 10 s each
#   RUNS=5 DURATION=20 bench/orders.sh
#   SKIP_BUILD=1 bench/orders.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
source bench/lib.sh
GALLEY=${GALLEY_BIN:-target/release/galley}
MIGRATE=${GALLEY_MIGRATE:-target/release/galley-migrate}
PG_PORT=${GALLEY_TEST_PG_PORT:-54331}
REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
export GALLEY_PG_PORT=$PG_PORT GALLEY_REDIS_PORT=$REDIS_PORT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  make --no-print-directory build
fi
scripts/services.sh up test >/dev/null
"$MIGRATE" --port "$PG_PORT" >/dev/null

state=$(mktemp -d)
raw=$(mktemp)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$state" "$raw"; }
trap cleanup EXIT

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
env GALLEY_LOG=warn SPIN_VARIABLE_DB_PORT="$PG_PORT" SPIN_VARIABLE_REDIS_PORT="$REDIS_PORT" \
  SPIN_VARIABLE_AUTH_SECRET="$secret" \
  "$GALLEY" up --manifest spin.toml --listen 127.0.0.1:3921 \
  --runtime-config-file .data/test/runtime-config.toml --state-dir "$state/galley" >"$state/galley.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:3921/.well-known/spin/health"

# HS256 tokens signed with this run's secret, as auth-token issues them.
jwt() { # sub role
  python3 - "$secret" "$1" "$2" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": sys.argv[2], "role": sys.argv[3], "iss": "galley", "iat": now, "exp": now + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}
admin=$(jwt bench-admin admin)
customer=$(jwt "$(python3 -c 'import uuid; print(uuid.uuid4())')" customer)
base=http://127.0.0.1:3921
product=$(curl -sf "$base/api/v1/products" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"Benchmark coffee","price":"2.50"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT "$base/api/v1/inventory/$product" -H "authorization: Bearer $admin" \
  -H 'content-type: application/json' -d '{"on_hand": 2000000000}' >/dev/null
order=$(curl -sf "$base/api/v1/orders" -H "authorization: Bearer $customer" -H 'content-type: application/json' \
  -H "idempotency-key: bench-seed-$$" -d "{\"items\":[{\"product_id\":$product,\"quantity\":1}],\"payment_method\":\"pm_card_ok\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# Every request a new purchase: a fresh Idempotency-Key from a per-thread counter.
cat > "$state/create.lua" <<LUA
local counter = 0
local prefix = ""
-- Each wrk thread has its own Lua state: a table's address tells them apart.
init = function(args)
  prefix = tostring(os.time()) .. "-" .. string.match(tostring({}), "0x(%x+)")
end
wrk.method = "POST"
wrk.body = '{"items":[{"product_id":$product,"quantity":1}],"payment_method":"pm_card_ok"}'
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $customer"
request = function()
  counter = counter + 1
  wrk.headers["idempotency-key"] = "bench-" .. prefix .. "-" .. counter
  return wrk.format()
end
LUA
cat > "$state/read.lua" <<LUA
wrk.headers["authorization"] = "Bearer $customer"
LUA

# wrk_run with a script: LABEL URL SCRIPT
wrk_script_run() {
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$3" "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text); p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(sys.argv[1], sys.argv[2], rps, ms(*p50.groups()), ms(*p99.groups()), errors.group(1) if errors else 0)
' "$1" "$CONNECTIONS" >> "$raw"
}
wrk -t2 -c"$CONNECTIONS" -d2s -s "$state/create.lua" "$base/api/v1/orders" >/dev/null   # warm-up
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS"
  wrk_script_run order-create "$base/api/v1/orders" "$state/create.lua"
  wrk_script_run order-query "$base/api/v1/orders/$order" "$state/read.lua"
done
not_completed=$(psql -h 127.0.0.1 -p "$PG_PORT" -U galley -d orders -Atc \
  "SELECT count(*) FROM orders WHERE saga_state NOT IN ('completed','cancelled')")

{
  echo "# Orders: the saga and the read side"
  echo
  echo "Generated by \`bench/orders.sh\` on $(date -u +%F) ($(nproc) cores, galley, test-profile Postgres"
  echo "and Redis on the same machine). \`wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency\`, $RUNS interleaved runs"
  echo "each; medians."
  echo
  median_table "$raw"
  echo
  echo "- **order-create**: \`POST /api/v1/orders\`, one line, \`pm_card_ok\`, a fresh Idempotency-Key per"
  echo "  request: order-query's relay, pricing (product-query), the order's transaction, reservation"
  echo "  (inventory-adjust), charge (payment), paid + outbox, reservation commit, event publish."
  echo "  Every request must be a 201 (non-2xx 0). Orders left unsettled afterwards: $not_completed."
  echo "- **order-query**: \`GET /api/v1/orders/:id\` of one paid order (its head and lines, two SELECTs)."
} > bench/results/orders.md
cat bench/results/orders.md
