#!/usr/bin/env bash
# The HTTP contract, fuzzed: Schemathesis generates valid and invalid requests for every
# operation of api/openapi.yaml and sends them to a galley host serving the app; any 5xx, any
# answer the contract does not describe (status, content type, headers, body schema) or any
# error that is not an RFC 9457 problem (tests/fuzz/hooks.py) fails the run.
#
#   scripts/fuzz.sh            bounded, a step of `make test`: a fixed seed and 20 examples per
#                              operation (the stateful phase follows what the app answers, so
#                              the count of cases varies a little between runs)
#   scripts/fuzz.sh long       `make fuzz`: builds, then 1000 examples per operation (or 15 min)
#                              per pass; stops the test services at the end
#
# Knobs: FUZZ_SEED, FUZZ_MAX_EXAMPLES (per operation and pass), FUZZ_MAX_TIME (long: seconds
# per pass), FUZZ_WORKERS, GALLEY_BIN.
#
# Three passes, one per caller: anonymous, a customer's token, an admin's token, so every
# operation is tried from each side of its authorization. The host is galley on a free port
# against the test profile's Postgres, with a Redis of its own for the `cache` store and the
# events (the login throttle's counters live there: they start empty, whatever ran before).
# X-Forwarded-For is not trusted, as in production without a proxy: every fuzzed login
# counts against 127.0.0.1, so the address lock (429, in the contract) is part of what is
# fuzzed. Schemathesis is pinned in tests/fuzz/requirements.txt and installed from PyPI into
# .data/venv-fuzz once per change of that file.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-bounded}
budget=()
case $mode in
  bounded) max_examples=${FUZZ_MAX_EXAMPLES:-20} ;;
  # Each pass also stops after FUZZ_MAX_TIME seconds (15 min): the three passes stay within
  # the tokens' hour.
  long) max_examples=${FUZZ_MAX_EXAMPLES:-1000}; budget=(--max-time "${FUZZ_MAX_TIME:-900}") ;;
  *) echo "usage: scripts/fuzz.sh [bounded|long]" >&2; exit 2 ;;
esac
seed=${FUZZ_SEED:-14001}
# One worker: with several threads, Hypothesis (under Python 3.11 before 3.11.8) can fail with
# "AST constructor recursion depth mismatch" (a CPython race in ast), an error of the tool's own.
workers=${FUZZ_WORKERS:-1}
export GALLEY_TEST_PG_PORT=${GALLEY_TEST_PG_PORT:-54331} GALLEY_TEST_REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
export GALLEY_PG_PORT=$GALLEY_TEST_PG_PORT GALLEY_REDIS_PORT=$GALLEY_TEST_REDIS_PORT
export GALLEY_TEST_MQTT_PORT=${GALLEY_TEST_MQTT_PORT:-18831} GALLEY_MQTT_PORT=${GALLEY_TEST_MQTT_PORT:-18831}
log() { echo "[fuzz] $*"; }

# --- Schemathesis, pinned, in a project-local venv ---------------------------------------
venv=.data/venv-fuzz
req=tests/fuzz/requirements.txt
scripts/venv.sh "$venv" "$req"

# --- the app ------------------------------------------------------------------------------
# Every server here is started and awaited by the launcher (scripts/services.sh).
launcher=target/release/galley-services
state=$(mktemp -d)
pids=()
cleanup() {
  # Awaited before the folder goes: Redis and galley write their last log lines in it as they
  # shut down, and a file written during `rm -rf` fails it (and with it `make test`).
  [ ${#pids[@]} -eq 0 ] || "$launcher" stop "${pids[@]}" || true
  rm -rf "$state"
}
# Within `make test`, test.sh owns the services; `make fuzz` starts and stops them itself.
trap 'cleanup; [ "$mode" != long ] || scripts/services.sh down test' EXIT
[ "$mode" != long ] || make --no-print-directory build
scripts/services.sh up test
target/release/galley-migrate --port "$GALLEY_TEST_PG_PORT" --secrets-file .data/test/db-secrets.env >/dev/null
# http URL [JSON]: GET (or POST the JSON) and print the body; fails on anything but a 2xx.
http() {
  python3 -c 'import sys, urllib.request as u
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
print(u.urlopen(u.Request(sys.argv[1], body, {"content-type": "application/json"}), timeout=30).read().decode())' "$@"
}

redis_port=$("$launcher" free-port)
redis_pid=$("$launcher" redis --port "$redis_port" --dir "$state/redis")
pids+=("$redis_pid")
printf '[key_value_store.cache]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$redis_port" >"$state/runtime-config.toml"

port=$("$launcher" free-port)
base=http://127.0.0.1:$port
# Compiled components kept across runs (keyed by the wasm's and the engine's hashes, as the e2e
# replicas share theirs): only the first run on a machine, or after a rebuild, compiles them.
mkdir -p "$state/galley" target/fuzz-compiled
ln -s "$PWD/target/fuzz-compiled" "$state/galley/compiled"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
galley_pid=$("$launcher" galley --profile test --port "$port" --state-dir "$state/galley" --runtime-config "$state/runtime-config.toml" \
  --env GALLEY_LOG=warn --env SPIN_VARIABLE_REDIS_PORT="$redis_port" --env SPIN_VARIABLE_AUTH_SECRET="$secret") \
  || { log "galley did not become healthy"; exit 1; }
pids+=("$galley_pid")

# --- callers: a customer (registered through the API) and an admin (galley-admin) ---------
run_id=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
password="fuzz-password-$run_id"
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login() { http "$base/api/v1/auth/token" "{\"username\":\"$1\",\"password\":\"$password\"}" | json_field access_token; }
http "$base/api/v1/users" "{\"username\":\"fuzz_c_$run_id\",\"password\":\"$password\",\"mobile\":\"13800138000\"}" >/dev/null
printf '%s\n' "$password" | target/release/galley-admin --port "$GALLEY_TEST_PG_PORT" --secrets-file .data/test/db-secrets.env \
  --username "fuzz_a_$run_id" --mobile 13800138001 >/dev/null
customer_token=$(login "fuzz_c_$run_id")
admin_token=$(login "fuzz_a_$run_id")

# --- the passes ---------------------------------------------------------------------------
# Every check Schemathesis has (not_a_server_error, status_code_conformance,
# content_type_conformance, response_headers_conformance, response_schema_conformance, the
# negative/positive data, auth and method checks...) plus error_is_problem_json.
export SCHEMATHESIS_HOOKS=tests/fuzz/hooks.py
start=$(date +%s)
failed=()
for pass in anonymous customer admin; do
  auth=()
  case $pass in
    customer) auth=(-H "Authorization: Bearer $customer_token") ;;
    admin) auth=(-H "Authorization: Bearer $admin_token") ;;
  esac
  log "pass $pass: seed $seed, at most $max_examples examples per operation, $base"
  if ! "$venv/bin/schemathesis" --config-file tests/fuzz/schemathesis.toml run api/openapi.yaml --url "$base" "${auth[@]}" \
      --checks all --seed "$seed" --max-examples "$max_examples" "${budget[@]}" --workers "$workers" \
      --generation-database none --request-timeout 30 --no-color; then
    failed+=("$pass")
  fi
done
log "$(( $(date +%s) - start ))s for the three passes"
if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]} (galley's log follows)"
  tail -n 50 "$state/galley/galley.log"
  exit 1
fi
log "no failures"
