#!/usr/bin/env bash
# `make wasmcloud-check`: the composed components (make wasmcloud) on a local wasmCloud 2.x
# lattice, then the users, catalog and one-order smoke checks against it (docs/wasmcloud.md).
#
# The lattice: nats-server (messaging: order events), the test profile's Postgres and Redis
# (key-value), one `wash dev` host per component of spin.toml (each a wasmCloud 2.x host with
# its built-in plugins, configured by `galley-wasmcloud lattice`), and nginx in front, routing
# spin.toml's routes and the private components' paths to those hosts. Chained calls go
# through the front too (the chaining adapter's `spin_internal_authority`).
#
# A guest's 127.0.0.1 is its own virtual network on wasmCloud, and its traffic may not reach the
# machine's loopback, so the machine gets a private address (WASMCLOUD_CHECK_ADDRESS,
# 10.213.0.1) on `lo`, where the front listens and socat forwards to Postgres.
#
# It needs wasmCloud 2.x's `wash` (WASH=/path/to/wash, or `wash` on PATH): it is not on any
# package registry this project installs from (crates.io's `wash` is the 1.x CLI). Install it
# with wasmCloud's installer (curl -fsSL https://wasmcloud.com/sh | bash) or build `crates/wash`
# of github.com/wasmCloud/wasmCloud. Not part of `make test` for that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

WASH=${WASH:-$(command -v wash || true)}
if [ -z "$WASH" ] || ! "$WASH" --version 2>/dev/null | grep -q ' 2\.'; then
  echo "make wasmcloud-check needs wasmCloud 2.x's wash: set WASH=/path/to/wash or put it on PATH" >&2
  echo "(curl -fsSL https://wasmcloud.com/sh | bash, or build crates/wash of github.com/wasmCloud/wasmCloud)" >&2
  exit 2
fi
address=${WASMCLOUD_CHECK_ADDRESS:-10.213.0.1}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
export GALLEY_TEST_PG_PORT=${GALLEY_TEST_PG_PORT:-54331} GALLEY_TEST_REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
export GALLEY_TEST_MQTT_PORT=${GALLEY_TEST_MQTT_PORT:-18831}
export GALLEY_PG_PORT=$GALLEY_TEST_PG_PORT GALLEY_REDIS_PORT=$GALLEY_TEST_REDIS_PORT GALLEY_MQTT_PORT=$GALLEY_TEST_MQTT_PORT

for tool in nats-server socat jq; do
  command -v "$tool" >/dev/null || { $sudo apt-get install -y -q "$tool" >/dev/null; }
done
scripts/services.sh install nginx
ip -o addr show dev lo | grep -q " $address/" || $sudo ip addr add "$address/32" dev lo

dir=.data/wasmcloud-check
pids=()
cleanup() {
  [ -f "$dir/front.pid" ] && kill "$(cat "$dir/front.pid")" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/services.sh down test
  echo "make wasmcloud-check: $(( $(date +%s) - start ))s in total"
}
trap cleanup EXIT
rm -rf "$dir" && mkdir -p "$dir/tmp"

scripts/services.sh up test
make --no-print-directory wasmcloud
target/release/galley-migrate --port "$GALLEY_TEST_PG_PORT" --secrets-file .data/test/db-secrets.env --fresh >/dev/null
set -a; . .data/test/db-secrets.env; set +a

port() { target/release/galley-services free-port; }
nats_port=$(port) postgres_port=$(port) front_port=$(port)
nats-server -a 127.0.0.1 -p "$nats_port" > "$dir/nats.log" 2>&1 & pids+=($!)
socat "TCP-LISTEN:$postgres_port,bind=$address,fork,reuseaddr" "TCP:127.0.0.1:$GALLEY_TEST_PG_PORT" & pids+=($!)
# Every host connects to NATS as it starts, and gives up if nothing answers yet.
for _ in $(seq 100); do grep -q "Server is ready" "$dir/nats.log" && break; sleep 0.1; done
grep -q "Server is ready" "$dir/nats.log" || { echo "nats-server did not start:" >&2; cat "$dir/nats.log" >&2; exit 1; }

auth_secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
vars=(--var "auth_secret=$auth_secret" --var trusted_proxies=1)
for service in users catalog inventory orders payments files notifications; do
  key="SPIN_VARIABLE_${service^^}_DB_PASSWORD"
  vars+=(--var "${service}_db_password=${!key}")
done
first_port=$(( $(port) ))
target/release/galley-wasmcloud lattice --dir "$dir" --address "$address" --front-port "$front_port" \
  --postgres-port "$postgres_port" --first-port "$first_port" --nats-url "nats://127.0.0.1:$nats_port" \
  --redis-url "redis://127.0.0.1:$GALLEY_TEST_REDIS_PORT" "${vars[@]}" > "$dir/hosts.txt"

declare -A host_pid
while read -r component host_port; do
  (cd "$dir/$component" && exec "$WASH" dev) > "$dir/$component.log" 2>&1 & pids+=($!)
  host_pid[$component]=$!
done < "$dir/hosts.txt"
nginx -p "$PWD/$dir" -c front.conf

# Each host compiles its component before it serves (the order-events host serves messages, but
# says the same line once its component is deployed).
deadline=$(( $(date +%s) + 180 ))
while read -r component host_port; do
  until grep -q "listening for HTTP requests" "$dir/$component.log"; do
    if [ "$(date +%s)" -gt "$deadline" ] || ! kill -0 "${host_pid[$component]}" 2>/dev/null; then
      echo "the wash host of $component did not start:" >&2; grep -v "^ *[0-9]*: \|^ *at " "$dir/$component.log" | tail -15 >&2; exit 1
    fi
    sleep 1
  done
done < "$dir/hosts.txt"
echo "lattice up: $(wc -l < "$dir/hosts.txt") wash hosts, nats on $nats_port, front on $address:$front_port"

admin="wcadmin$(date +%s)"
printf 'an-admin-password\n' | target/release/galley-admin --port "$GALLEY_TEST_PG_PORT" \
  --secrets-file .data/test/db-secrets.env --username "$admin" --mobile 13800138000 >/dev/null
python3 scripts/wasmcloud-smoke.py "http://127.0.0.1:$front_port" "$admin" an-admin-password "$GALLEY_TEST_PG_PORT"
