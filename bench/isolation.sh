#!/usr/bin/env bash
# Failure isolation: user-lookup and product-query under load (wrk, 16 connections each, at the
# same time), first alone, then while a test-only component (tests/components/misbehave) traps,
# loops until the request deadline and exhausts its memory on every request (one connection
# each, and LOOPERS connections looping at once: several throttled guests must together take a
# bounded share of the machine). Interleaved runs, medians; the report gives their error counts
# and the p99 ratio faulted/alone. Writes bench/results/isolation.md (OUT names another file).
#
#   bench/isolation.sh                   # 3 runs × 10 s each, 6 looping connections
#   RUNS=5 DURATION=20 LOOPERS=1 bench/isolation.sh
#   SKIP_BUILD=1 GALLEY_BIN=/tmp/galley-old OUT=/tmp/old.md bench/isolation.sh
source "$(dirname "$0")/lib.sh" 3 10 16
LOOPERS=${LOOPERS:-6}
OUT=${OUT:-bench/results/isolation.md}
prepare_app
bench_workspace
# The app plus the failing component; sources made absolute, as the manifest lives in $state.
BENCH_MANIFEST=$state/spin.toml
sed "s#^source = \"target/#source = \"$PWD/target/#" spin.toml > "$BENCH_MANIFEST"
cat >> "$BENCH_MANIFEST" <<TOML

[[trigger.http]]
route = "/_bench/misbehave/..."
component = "e2e-misbehave"

[component.e2e-misbehave]
source = "$PWD/target/wasm32-wasip2/release/e2e_misbehave.wasm"
TOML

# A 5 s deadline, so each looping request ends and another starts during a run.
start_galley 3931 GALLEY_REQUEST_TIMEOUT_SECS=5
base=http://127.0.0.1:3931
admin=$(jwt bench-admin admin)
user=$(curl -sf "$base/api/v1/users" -H 'content-type: application/json' \
  -d "{\"username\":\"bench$$\",\"password\":\"bench password\",\"mobile\":\"13800138000\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
customer=$(jwt "$user" customer)
product=$(curl -sf "$base/api/v1/products" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"Benchmark tea","price":"3.10"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# healthy_load SUFFIX: both routes at once, one wrk each (waited for by pid: a bare `wait`
# would wait for galley too).
healthy_load() {
  wrk_run "user-lookup$1" "$base/api/v1/users/$user" "$CONNECTIONS" "$DURATION" "$raw" -H "authorization: Bearer $customer" &
  local users=$!
  wrk_run "product-query$1" "$base/api/v1/products/$product" "$CONNECTIONS" "$DURATION" "$raw" &
  wait "$users" "$!"
}

for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS: alone" >&2
  healthy_load ""
  echo "run $run/$RUNS: beside a trapping, looping and memory-exhausting component" >&2
  failing=()
  for failure in ${FAILURES:-trap loop oom}; do
    connections=1
    [ "$failure" = loop ] && connections=$LOOPERS
    wrk -t1 -c"$connections" -d"$((DURATION + 2))s" "$base/_bench/misbehave/$failure" >"$state/$failure.out" 2>&1 &
    failing+=("$!")
  done
  sleep 1
  healthy_load "+faults"
  wait "${failing[@]}" || true
  # Requests wrk left in flight keep running to their 5 s deadline: let them end before the
  # next run's "alone" phase, or it is not alone.
  sleep 6
done

{
  cat <<MD
# Failure isolation

\`bench/isolation.sh\` (RUNS=$RUNS, DURATION=${DURATION}s, LOOPERS=$LOOPERS, $CONNECTIONS connections per route, wrk -t2): user-lookup and product-query at the same time, alone and beside a component that traps, loops until the 5 s deadline and exhausts its 128 MiB on every request (one connection trapping, $LOOPERS looping at once, one exhausting memory). Medians of $RUNS interleaved runs; $(nproc) cores, $(date -u +%F).

MD
  median_table "$raw"
  echo
  for route in user-lookup product-query; do
    alone=$(median_of "$raw" "$route" "$CONNECTIONS" 4)
    faulted=$(median_of "$raw" "$route+faults" "$CONNECTIONS" 4)
    python3 -c "import sys; print(f'- {sys.argv[1]}: p99 {float(sys.argv[3]):.1f} ms beside the failing component vs {float(sys.argv[2]):.1f} ms alone: **×{float(sys.argv[3])/float(sys.argv[2]):.1f}**')" "$route" "$alone" "$faulted"
  done
} > "$OUT"
cat "$OUT"
