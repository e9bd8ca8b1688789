# Shared by the bench scripts: wrk runs parsed into one line each, and medians into markdown.
# A raw line is: <label> <connections> <requests/s> <p50 ms> <p99 ms> <non-2xx count>
#
# A script starts with `source "$(dirname "$0")/lib.sh" RUNS DURATION CONNECTIONS`: its run
# shape (runs, seconds per run, connections; the environment's RUNS, DURATION and CONNECTIONS
# win). Sourcing stops the script at the first failure, moves to the repository's root,
# installs wrk and builds the launcher: every server a bench starts (Postgres, Redis, galley,
# nginx) is started and awaited by it (`launcher ...`, the same as `scripts/services.sh ...`).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-${1:-5}}
DURATION=${DURATION:-${2:-10}}
CONNECTIONS=${CONNECTIONS:-${3:-64}}
mkdir -p bench/results
# load_db_secrets PROFILE: the Postgres passwords as Spin variables and PGPASSWORD.
source scripts/db-secrets.sh

# need_command COMMAND PACKAGE: installs Debian's PACKAGE with apt when COMMAND is missing.
need_command() {
  command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
need_command wrk wrk
cargo build --release --quiet -p galley-launcher
launcher() { target/release/galley-services "$@"; }

# wrk_run LABEL URL CONNECTIONS DURATION RAWFILE [wrk options, e.g. -H "authorization: …"]
wrk_run() {
  local threads=2
  [ "$3" -lt 2 ] && threads=1
  wrk -t$threads -c"$3" -d"${4}s" --latency "${@:6}" "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text); p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(sys.argv[1], sys.argv[2], rps, ms(*p50.groups()), ms(*p99.groups()), errors.group(1) if errors else 0)
' "$1" "$3" >> "$5"
}

# interleaved_runs "LABEL..." [wrk options, e.g. -H "authorization: …"]: a 2 s warm-up of each
# ${url[LABEL]} (the caller's associative array), then $RUNS rounds of wrk_run over them into
# $raw, every other round in reverse order so no label always runs first. If the caller's
# associative array `cpu_pids` names, per label, the galley serving it, each run also appends
# "LABEL galley-µs postgres-µs redis-µs" per request (CPU from /proc) to $state/cpu.
interleaved_runs() {
  local labels=($1) order label i
  shift
  declare -p cpu_pids >/dev/null 2>&1 || declare -gA cpu_pids=()
  for label in "${labels[@]}"; do
    wrk -t2 -c"$CONNECTIONS" -d2s "$@" "${url[$label]}" >/dev/null
  done
  for i in $(seq "$RUNS"); do
    echo "run $i/$RUNS"
    order=("${labels[@]}")
    [ $((i % 2)) = 0 ] && mapfile -t order < <(printf '%s\n' "${labels[@]}" | tac)
    for label in "${order[@]}"; do
      if [ -n "${cpu_pids[$label]:-}" ]; then
        cpu_per_request "$label" "${cpu_pids[$label]}" wrk_run "$label" "${url[$label]}" "$CONNECTIONS" "$DURATION" "$raw" "$@"
      else
        wrk_run "$label" "${url[$label]}" "$CONNECTIONS" "$DURATION" "$raw" "$@"
      fi
    done
  done
}

# cpu_per_request LABEL GALLEY_PID COMMAND...: runs COMMAND (a wrk_run, which appends its line
# to $raw) and appends to $state/cpu the CPU each request cost galley, every Postgres server
# process (backends included) and Redis, in µs: ticks are 10 ms, so a run needs a few thousand
# requests for the figure to mean anything. A backend that exits during the run takes its CPU
# with it (the pools keep theirs open under load, so this undercounts only in theory).
cpu_per_request() {
  local label=$1 galley=$2 pg redis before after
  shift 2
  pg=$(pgrep -u postgres -d ' ' postgres || true)
  redis=$(pgrep -d ' ' redis-server || true)
  before="$(cpu_ticks "$galley") $(cpu_ticks $pg) $(cpu_ticks $redis)"
  "$@"
  pg=$(pgrep -u postgres -d ' ' postgres || true)   # backends the run opened count too
  after="$(cpu_ticks "$galley") $(cpu_ticks $pg) $(cpu_ticks $redis)"
  python3 - "$label" "$(tail -1 "$raw" | cut -d' ' -f3)" "$DURATION" $before $after >> "$state/cpu" <<'PY'
import sys
label, rps, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
b, a = [int(v) for v in sys.argv[4:7]], [int(v) for v in sys.argv[7:10]]
requests = rps * secs
print(label, *(f"{(y - x) * 10_000 / requests:.0f}" for x, y in zip(b, a)))
PY
}

# prepare_app: builds (unless SKIP_BUILD=1), starts the test profile's services, migrates.
prepare_app() {
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    make --no-print-directory build
  fi
  GALLEY_PG_PORT="${GALLEY_TEST_PG_PORT:-54331}" GALLEY_REDIS_PORT="${GALLEY_TEST_REDIS_PORT:-63791}" \
    launcher up test
  "${GALLEY_MIGRATE:-target/release/galley-migrate}" --port "${GALLEY_TEST_PG_PORT:-54331}" \
    --secrets-file .data/test/db-secrets.env >/dev/null
  load_db_secrets test
}

# bench_workspace: sets $state (a temp folder) and $raw (a temp file for raw lines), both
# removed on exit after every pid in $pids has been stopped and has exited.
bench_workspace() {
  state=$(mktemp -d)
  raw=$(mktemp)
  pids=()
  trap '[ ${#pids[@]} -eq 0 ] || launcher stop "${pids[@]}" || true; rm -rf "$state" "$raw"' EXIT
}

# The signing secret of this run's app; `jwt` signs tokens with it.
bench_secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# start_galley PORT [NAME=VALUE...]: `galley up` serving ${BENCH_MANIFEST:-spin.toml} on PORT
# against the test profile's services (${BENCH_RUNTIME_CONFIG:-the test profile's runtime
# config}), with this run's secret and any extra environment (state and log galley.log in
# $state/galley-PORT), once it answers its health check. Its pid is in $galley_pid (and $pids);
# fails if galley exits first (e.g. refusing a memory limit below what a component declares).
start_galley() {
  local port=$1 assignment
  shift
  local extra=(--env GALLEY_LOG=warn --env SPIN_VARIABLE_AUTH_SECRET="$bench_secret")
  for assignment in "$@"; do extra+=(--env "$assignment"); done
  galley_pid=$(GALLEY_PG_PORT="${GALLEY_TEST_PG_PORT:-54331}" GALLEY_REDIS_PORT="${GALLEY_TEST_REDIS_PORT:-63791}" \
    launcher galley --port "$port" --state-dir "$state/galley-$port" --manifest "${BENCH_MANIFEST:-spin.toml}" \
      --runtime-config "${BENCH_RUNTIME_CONFIG:-.data/test/runtime-config.toml}" "${extra[@]}") || return 1
  pids+=("$galley_pid")
}

# stop_galley: stops the galley start_galley started last.
stop_galley() {
  if [ -n "${galley_pid:-}" ]; then
    kill "$galley_pid" 2>/dev/null || true
    while kill -0 "$galley_pid" 2>/dev/null; do sleep 0.05; done
    galley_pid=
  fi
}

# jwt SUB ROLE: an HS256 token signed with this run's secret, as auth-token issues them.
jwt() {
  python3 - "$bench_secret" "$1" "$2" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": sys.argv[2], "role": sys.argv[3], "iss": "galley", "iat": now, "exp": now + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}

# wait_http URL: until it answers 200 (30 s at most)
wait_http() { launcher wait-http "$1"; }

# free_port: a port nothing listens on
free_port() { launcher free-port; }

# median_table RAWFILE: a markdown table of medians per (label, connections)
median_table() {
  python3 - "$1" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
keys = list(dict.fromkeys((r[0], r[1]) for r in rows))
print("| configuration | connections | requests/s | p50 (ms) | p99 (ms) | non-2xx |")
print("|---|---|---|---|---|---|")
for label, conns in keys:
    sel = [r for r in rows if r[0] == label and r[1] == conns]
    med = lambda i: statistics.median(float(r[i]) for r in sel)
    print(f"| {label} | {conns} | {med(2):.0f} | {med(3):.3f} | {med(4):.3f} | {sum(int(r[5]) for r in sel)} |")
PY
}

# median_of RAWFILE LABEL CONNECTIONS COLUMN
median_of() {
  python3 -c 'import statistics,sys; rows=[l.split() for l in open(sys.argv[1]) if l.strip()]; print(statistics.median(float(r[int(sys.argv[4])]) for r in rows if r[0]==sys.argv[2] and r[1]==sys.argv[3]))' "$@"
}

# seed_product BASE ADMIN_TOKEN PRICE ON_HAND: creates a product through BASE's API, stocks it,
# and prints its id.
seed_product() {
  local id
  id=$(curl -sf "$1/api/v1/products" -H "authorization: Bearer $2" -H 'content-type: application/json' \
    -d "{\"name\":\"Benchmark product\",\"price\":\"$3\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -sf -X PUT "$1/api/v1/inventory/$id" -H "authorization: Bearer $2" \
    -H 'content-type: application/json' -d "{\"on_hand\": $4}" >/dev/null
  echo "$id"
}

# order_script PRODUCTS CUSTOMER_TOKEN FILE: a wrk Lua script for POST /api/v1/orders where
# every request is a new purchase (a fresh Idempotency-Key) of one unit of a product from
# PRODUCTS (ids separated by commas; one at random per request).
order_script() {
  cat > "$3" <<LUA
local counter = 0
local prefix = ""
local products = {$1}
-- Each wrk thread has its own Lua state: a table's address tells them apart.
init = function(args)
  prefix = tostring(os.time()) .. "-" .. string.match(tostring({}), "0x(%x+)")
end
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer $2"
request = function()
  counter = counter + 1
  wrk.headers["idempotency-key"] = "bench-" .. prefix .. "-" .. counter
  local product = products[math.random(#products)]
  local body = '{"items":[{"product_id":' .. product .. ',"quantity":1}],"payment_method":"pm_card_ok"}'
  return wrk.format(nil, nil, nil, body)
end
LUA
}

# cpu_ticks PID...: user + system CPU ticks (1/100 s) the processes have used so far.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
