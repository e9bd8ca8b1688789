#!/usr/bin/env bash
# Redeploying one function under load: wrk (32 connections, DURATION seconds) on a component
# whose .wasm is replaced (the echo probe → the core-module probe, renamed over it as a build
# does) and galley sent SIGHUP a third of the way in, beside a run with no reload. Reports
# requests, p99, non-2xx and socket errors (a dropped request shows as one) per run, medians,
# and how long after SIGHUP the new version answered. Writes bench/results/reload.md.
#
#   bench/reload.sh                      # 3 runs × 10 s each
#   RUNS=5 DURATION=20 bench/reload.sh
source "$(dirname "$0")/lib.sh" 3 10 32
GALLEY=${GALLEY_BIN:-target/release/galley}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  make --no-print-directory build-native toolchain
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
  cargo build --release --target wasm32-wasip2 -p host-probe
  cargo build --release --target wasm32-wasip1 -p host-probe-core
fi
echo_probe=$PWD/target/wasm32-wasip2/release/host_probe.wasm
core_probe=$PWD/target/wasm32-wasip1/release/host_probe_core.wasm

state=$(mktemp -d)
raw=$(mktemp)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$state" "$raw"; }
trap cleanup EXIT
cp bench/reload.spin.toml "$state/spin.toml"

# one_run LABEL RELOAD(0|1): a fresh galley on the echo probe, wrk for DURATION seconds,
# and with RELOAD=1 the swap + SIGHUP at a third of it.
one_run() {
  cp "$echo_probe" "$state/changing.wasm"
  GALLEY_LOG=info "$GALLEY" up --manifest "$state/spin.toml" --listen 127.0.0.1:3951 \
    --state-dir "$state/galley" >"$state/galley.log" 2>&1 &
  local galley=$!
  wait_http "http://127.0.0.1:3951/v/x"
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:3951/v/x" >"$state/wrk.out" &
  local load=$!
  if [ "$2" = 1 ]; then
    sleep "$(python3 -c "print($DURATION / 3)")"
    cp "$core_probe" "$state/changing.wasm.new" && mv "$state/changing.wasm.new" "$state/changing.wasm"
    local sent; sent=$(date +%s.%N)
    kill -HUP "$galley"
    until curl -s "http://127.0.0.1:3951/v/x" | grep -q '^core-module'; do sleep 0.005; done
    python3 -c "import sys,time; print(f'{(time.time()-float(sys.argv[1]))*1000:.0f}')" "$sent" >> "$state/switch_ms"
  fi
  wait "$load"
  kill "$galley"; wait "$galley" 2>/dev/null || true
  python3 - "$1" "$state/wrk.out" >> "$raw" <<'PY'
import re, sys
text = open(sys.argv[2]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
requests = int(re.search(r"(\d+) requests in", text).group(1))
p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", text).groups())
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print(sys.argv[1], requests, p99, non2xx.group(1) if non2xx else 0, sum(map(int, sock.groups())) if sock else 0)
PY
}

for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS" >&2
  one_run steady 0
  one_run reload 1
done

{
  cat <<MD
# Redeploying one function under load

\`bench/reload.sh\` (RUNS=$RUNS, DURATION=${DURATION}s, wrk -t2 -c$CONNECTIONS on one route): the route's \`.wasm\` replaced and galley sent SIGHUP a third of the way in (\`reload\`), beside the same run without it (\`steady\`). $(nproc) cores, $(date -u +%F).

| run | requests | p99 (ms) | non-2xx | socket errors |
|---|---|---|---|---|
MD
  awk '{ printf "| %s | %s | %.2f | %s | %s |\n", $1, $2, $3, $4, $5 }' "$raw"
  echo
  python3 - "$raw" "$state/switch_ms" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for label in ("steady", "reload"):
    sel = [r for r in rows if r[0] == label]
    print(f"- {label}: median {statistics.median(int(r[1]) for r in sel)} requests, p99 {statistics.median(float(r[2]) for r in sel):.2f} ms, "
          f"{sum(int(r[3]) for r in sel)} non-2xx, {sum(int(r[4]) for r in sel)} socket errors in all runs")
switch = [int(l) for l in open(sys.argv[2]) if l.strip()]
print(f"- the new version answered {statistics.median(switch)} ms (median; runs: {switch}) after SIGHUP")
PY
} > bench/results/reload.md
cat bench/results/reload.md
