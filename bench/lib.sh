# Shared by the bench scripts: wrk runs parsed into one line each, and medians into markdown.
# A raw line is: <label> <connections> <requests/s> <p50 ms> <p99 ms> <non-2xx count>
# Sourcing it also sets the run shape (RUNS, DURATION seconds, CONNECTIONS) and installs wrk.

RUNS=${RUNS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
mkdir -p bench/results
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# wrk_run LABEL URL CONNECTIONS DURATION RAWFILE [LUA_SCRIPT]
wrk_run() {
  local threads=2
  [ "$3" -lt 2 ] && threads=1
  local script=()
  [ -n "${6:-}" ] && script=(-s "$6")
  wrk -t$threads -c"$3" -d"${4}s" --latency "${script[@]}" "$2" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text); p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(sys.argv[1], sys.argv[2], rps, ms(*p50.groups()), ms(*p99.groups()), errors.group(1) if errors else 0)
' "$1" "$3" >> "$5"
}

# wait_http URL: until it answers 2xx (30 s at most)
wait_http() {
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}

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

# start_galley PORT SECRET STATE_DIR: `galley up` with spin.toml on 127.0.0.1:PORT against the
# test profile's Postgres and Redis (PG_PORT, REDIS_PORT), in the background (its pid appended
# to the caller's `pids` array), and waits until it answers.
start_galley() {
  env GALLEY_LOG=warn SPIN_VARIABLE_DB_PORT="$PG_PORT" SPIN_VARIABLE_REDIS_PORT="$REDIS_PORT" \
    SPIN_VARIABLE_AUTH_SECRET="$2" \
    "${GALLEY_BIN:-target/release/galley}" up --manifest spin.toml --listen 127.0.0.1:"$1" \
    --runtime-config-file .data/test/runtime-config.toml --state-dir "$3/galley" >"$3/galley.log" 2>&1 &
  pids+=("$!")
  wait_http "http://127.0.0.1:$1/.well-known/spin/health"
}

# jwt SECRET SUB ROLE: an HS256 bearer token signed with SECRET, as auth-token issues them.
jwt() {
  python3 - "$1" "$2" "$3" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": sys.argv[2], "role": sys.argv[3], "iss": "galley", "iat": now, "exp": now + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
}

# bench_prepare: builds (unless SKIP_BUILD=1), starts the test profile's services and migrates
# (PG_PORT), then sets `state` (a temp dir), `raw` (a temp file for wrk_run), `pids` (for
# start_galley) and `secret` (this run's auth_secret). At exit every pid is stopped and both
# temp paths removed.
bench_prepare() {
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    make --no-print-directory build
  fi
  scripts/services.sh up test >/dev/null
  "${GALLEY_MIGRATE:-target/release/galley-migrate}" --port "$PG_PORT" >/dev/null
  state=$(mktemp -d)
  raw=$(mktemp)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$state" "$raw"' EXIT
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
}
