#!/usr/bin/env bash
# The replicas profile: N `galley` processes behind nginx, one app to clients.
#
#   scripts/replicas.sh install            nginx with apt if absent
#   scripts/replicas.sh start N [dev|test] N replicas + nginx in the background; returns when
#                                           the balancer answers
#   scripts/replicas.sh stop [dev|test]    stops what `start` started (pid files)
#   scripts/replicas.sh up N               start (dev), then wait in the foreground; Ctrl-C stops
#                                           (`make up REPLICAS=N` runs this after the usual setup)
#
# Replica i listens on 127.0.0.1:$((BASE + i)) (BASE: dev 3100, test 3200), nginx on
# GALLEY_LISTEN's port (dev 3000, test 3290). Each replica has its own --state-dir, but they
# share the compiled-code cache (replica 1 compiles, the others load its code) and, through
# the runtime config, the key-value stores `cache` and `default` on the profile's Redis: any
# replica may answer any request. Pids, logs, the nginx config and its temp files are under
# .data/<profile>/replicas/. The app's variables come from the environment (SPIN_VARIABLE_*),
# as for `make up`. GALLEY_BIN and GALLEY_MANIFEST pick another binary or manifest;
# REPLICAS_BASE_PORT, GALLEY_LISTEN and REPLICAS_DIR move a set (two sets can run at once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

action=${1:?usage: replicas.sh install|start N [dev|test]|stop [dev|test]|up N}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
install_nginx() {
  nginx_bin >/dev/null && return 0
  echo "[replicas] installing nginx with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  nginx_bin >/dev/null
}

profile_vars() {
  profile=${1:-dev}
  case $profile in
    dev)  pg_port=${GALLEY_PG_PORT:-54330}; redis_port=${GALLEY_REDIS_PORT:-63790}; base=${REPLICAS_BASE_PORT:-3100}; listen=${GALLEY_LISTEN:-127.0.0.1:3000} ;;
    test) pg_port=${GALLEY_PG_PORT:-54331}; redis_port=${GALLEY_REDIS_PORT:-63791}; base=${REPLICAS_BASE_PORT:-3200}; listen=${GALLEY_LISTEN:-127.0.0.1:3290} ;;
    *) echo "unknown profile '$profile' (dev|test)" >&2; exit 2 ;;
  esac
  dir=${REPLICAS_DIR:-$root/.data/$profile/replicas}
  # The service roles' database passwords, as Spin variables.
  source "$root/scripts/db-secrets.sh"
  load_db_secrets "$profile"
}

wait_health() { # url [pid]
  for _ in $(seq 1200); do
    curl -sf "$1/.well-known/spin/health" >/dev/null 2>&1 && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

start() {
  local n=${1:?replica count} i port pid servers=""
  profile_vars "${2:-dev}"
  install_nginx
  stop "$profile" >/dev/null 2>&1 || true
  mkdir -p "$dir/nginx/tmp"
  printf '[key_value_store.cache]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n\n[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' \
    "$redis_port" "$redis_port" > "$dir/runtime-config.toml"
  for i in $(seq 1 "$n"); do
    port=$((base + i))
    mkdir -p "$dir/$i"
    # The first replica compiles the components; the others reuse its code cache.
    if [ "$i" -gt 1 ] && [ ! -e "$dir/$i/compiled" ]; then ln -s "$dir/1/compiled" "$dir/$i/compiled"; fi
    # nginx appends the client's address to X-Forwarded-For: one trusted proxy.
    SPIN_VARIABLE_DB_PORT=${SPIN_VARIABLE_DB_PORT:-$pg_port} SPIN_VARIABLE_REDIS_PORT=${SPIN_VARIABLE_REDIS_PORT:-$redis_port} \
      SPIN_VARIABLE_TRUSTED_PROXIES=${SPIN_VARIABLE_TRUSTED_PROXIES:-1} \
      nohup "${GALLEY_BIN:-target/release/galley}" up --manifest "${GALLEY_MANIFEST:-spin.toml}" --listen "127.0.0.1:$port" \
      --runtime-config-file "$dir/runtime-config.toml" --state-dir "$dir/$i" >"$dir/galley-$i.log" 2>&1 &
    pid=$!
    echo "$pid" > "$dir/galley-$i.pid"
    if [ "$i" -eq 1 ] || [ "$i" -eq "$n" ]; then
      # Replica 1 alone first (it fills the code cache); then the rest together.
      for j in $(seq 1 "$i"); do
        wait_health "http://127.0.0.1:$((base + j))" "$(cat "$dir/galley-$j.pid")" \
          || { echo "replica $j did not start; see $dir/galley-$j.log" >&2; tail -5 "$dir/galley-$j.log" >&2; exit 1; }
      done
    fi
    servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
  done
  local user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  sed -e "s|@USER@|$user_line|" -e "s|@DIR@|$dir/nginx|g" -e "s|@LISTEN@|${listen##*:}|" \
      -e "/@SERVERS@/{r /dev/stdin" -e "d}" scripts/nginx.conf.in <<<"${servers%$'\n'}" > "$dir/nginx/nginx.conf"
  "$(nginx_bin)" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log"
  wait_health "http://$listen" || { echo "nginx did not answer; see $dir/nginx/error.log" >&2; exit 1; }
  echo "[replicas:$profile] $n galley replicas on 127.0.0.1:$((base + 1))..$((base + n)) behind nginx on http://$listen (logs in $dir)"
}

stop() {
  profile_vars "${1:-dev}"
  local f pid
  if [ -s "$dir/nginx/nginx.pid" ]; then
    pid=$(cat "$dir/nginx/nginx.pid")
    kill "$pid" 2>/dev/null && echo "[replicas:$profile] stopping nginx"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/nginx/nginx.pid"
  fi
  for f in "$dir"/galley-*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null && echo "[replicas:$profile] stopping galley (pid $pid)"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}

case $action in
  install) install_nginx ;;
  start) start "${2:?replica count}" "${3:-dev}" ;;
  stop) stop "${2:-dev}" ;;
  up)
    start "${2:?replica count}" dev
    trap 'stop dev' EXIT
    trap 'exit 0' INT TERM
    echo "Stop with Ctrl-C."
    while :; do sleep 1; done
    ;;
  *) echo "unknown action '$action'" >&2; exit 2 ;;
esac
