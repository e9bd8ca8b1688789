#!/usr/bin/env bash
# GraphQL gateway benchmark: one "user and their orders" screen (a user with 20 orders of 5
# products each) as one `userWithOrders` query, with and without the lines' products, beside
# the REST calls that answer the same screen (`GET /api/v1/users/:id` and `GET /api/v1/orders`);
# 32 connections, `wrk -t2 --latency`, interleaved runs, medians. Writes bench/results/gateway.md.
#
#   bench/gateway.sh                      # 3 runs × 10 s each
#   RUNS=5 DURATION=20 bench/gateway.sh
#   SKIP_BUILD=1 bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
source bench/lib.sh
MIGRATE=${GALLEY_MIGRATE:-target/release/galley-migrate}
PG_PORT=${GALLEY_TEST_PG_PORT:-54331}
REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
PORT=${BENCH_PORT:-3923}
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
start_galley "$PORT" "$secret" "$state"
base=http://127.0.0.1:$PORT
admin=$(jwt "$secret" bench-admin admin)
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# A real user (user-lookup reads it from the users database) with 20 paid orders of 5 products.
name="bench_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
user=$(curl -sf "$base/api/v1/users" -H 'content-type: application/json' \
  -d "{\"username\":\"$name\",\"password\":\"bench-password\",\"mobile\":\"13800138000\"}" | json_field id)
token=$(curl -sf "$base/api/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"$name\",\"password\":\"bench-password\"}" | json_field access_token)
items=()
for i in 1 2 3 4 5; do
  product=$(curl -sf "$base/api/v1/products" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"name\":\"Benchmark item $i\",\"price\":\"2.50\"}" | json_field id)
  curl -sf -X PUT "$base/api/v1/inventory/$product" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"on_hand": 1000}' >/dev/null
  items+=("{\"product_id\":$product,\"quantity\":1}")
done
lines=$(IFS=,; echo "${items[*]}")
for i in $(seq 20); do
  curl -sf "$base/api/v1/orders" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -H "idempotency-key: bench-$name-$i" -d "{\"items\":[$lines],\"payment_method\":\"pm_card_ok\"}" >/dev/null
done

# The screen's query, as a wrk script: with the lines' products, or only what REST answers.
order_fields='id userId status amount paymentMethod cancelReason cancelDetail createdAt lines { productId quantity unitPrice'
graphql_script() { # FILE SELECTION_OF_A_LINE_END
  python3 - "$1" "$user" "$token" "{ userWithOrders(id: \"$user\") { user { id username mobile role createdAt } orders { nodes { $order_fields $2 } } } }" <<'PY'
import json, sys
path, user, token, query = sys.argv[1:]
body = json.dumps({"query": query})
with open(path, "w") as f:
    f.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n')
    f.write(f'wrk.headers["authorization"] = "Bearer {token}"\nwrk.body = [==[{body}]==]\n')
PY
}
graphql_script "$state/screen.lua" 'product { id name price } } }'
graphql_script "$state/screen-plain.lua" '} }'
echo "wrk.headers[\"authorization\"] = \"Bearer $token\"" > "$state/rest.lua"

# The answers must be whole (GraphQL errors are 200s too, so look inside once before).
check=$(curl -sf "$base/graphql" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "$(sed -n 's/^wrk.body = \[==\[\(.*\)\]==\]$/\1/p' "$state/screen.lua")")
python3 - "$check" <<'PY'
import json, sys
answer = json.loads(sys.argv[1])
assert "errors" not in answer, answer["errors"]
orders = answer["data"]["userWithOrders"]["orders"]["nodes"]
assert len(orders) == 20 and all(len(o["lines"]) == 5 and o["lines"][0]["product"]["name"] for o in orders), "20 orders of 5 products"
PY

wrk -t2 -c"$CONNECTIONS" -d2s -s "$state/screen.lua" "$base/graphql" >/dev/null   # warm-up
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS"
  wrk_run graphql-userWithOrders+products "$base/graphql" "$CONNECTIONS" "$DURATION" "$raw" "$state/screen.lua"
  wrk_run graphql-userWithOrders "$base/graphql" "$CONNECTIONS" "$DURATION" "$raw" "$state/screen-plain.lua"
  wrk_run rest-user "$base/api/v1/users/$user" "$CONNECTIONS" "$DURATION" "$raw" "$state/rest.lua"
  wrk_run rest-orders "$base/api/v1/orders" "$CONNECTIONS" "$DURATION" "$raw" "$state/rest.lua"
done
# A REST client makes both calls for one screen: at full load the two share the machine, so
# its screens/s is 1 / (1/users + 1/orders).
rest_screens=$(python3 -c 'import sys; u, o = map(float, sys.argv[1:]); print(f"{1 / (1 / u + 1 / o):.0f}")' \
  "$(median_of "$raw" rest-user "$CONNECTIONS" 2)" "$(median_of "$raw" rest-orders "$CONNECTIONS" 2)")

{
  echo "# GraphQL gateway: one screen, one request"
  echo
  echo "Generated by \`bench/gateway.sh\` on $(date -u +%F) ($(nproc) cores, galley, test-profile Postgres"
  echo "and Redis on the same machine). \`wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency\`, $RUNS interleaved runs"
  echo "each; medians. The screen: one user with 20 paid orders of 5 products each."
  echo
  median_table "$raw"
  echo
  echo "- **graphql-userWithOrders+products**: \`POST /graphql\`, \`userWithOrders\` with every order field and"
  echo "  each line's product: 3 chained calls per request (user-lookup and order-query at the same time,"
  echo "  then one batch \`GET /api/v1/products?ids=…\` of product-admin for the 100 lines)."
  echo "- **graphql-userWithOrders**: the same without products (exactly what the two REST calls answer):"
  echo "  2 chained calls, at the same time."
  echo "- **rest-user**, **rest-orders**: \`GET /api/v1/users/:id\` and \`GET /api/v1/orders\` (20 orders with"
  echo "  their lines) with the same token. A REST client needs both for the screen: at this load that"
  echo "  is **$rest_screens screens/s** (1 / (1/users + 1/orders)), against one request per screen for GraphQL."
  echo "- A GraphQL error is still a 200, so \`non-2xx\` cannot show one: the script checks once, before"
  echo "  the runs, that the query answers 20 orders of 5 products without errors."
} > bench/results/gateway.md
cat bench/results/gateway.md
