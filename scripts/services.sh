#!/usr/bin/env bash
# Project-local Postgres and Redis (and, for the test profile, an MQTT broker) for one
# profile, under .data/<profile>/.
#
#   scripts/services.sh up|down|reset|status dev|test
#   scripts/services.sh mqtt test      only the MQTT broker (the host tests call this)
#   scripts/services.sh prometheus test  only installs Prometheus and promtool, no service
#                                        (`up test` does too; scripts/test.sh calls this first)
#
# dev  (make up):   Postgres 54330, Redis 63790, .data/dev/
# test (make test): Postgres 54331, Redis 63791, mosquitto 18831, .data/test/
#
# Own ports and own data directories, so neither profile disturbs the other or a system
# service. `up` is idempotent: it installs PostgreSQL/Redis with apt only when absent, runs
# initdb only once, and starts only what is not already running. Postgres listens on
# 127.0.0.1 only. Over TCP every role needs its password (scram-sha-256): the superuser
# `galley`, used by galley-migrate and the tests only, and one role per service
# (`galley_users`, ...), created by galley-migrate. The passwords are generated once into
# .data/<profile>/db-secrets.env (mode 600, never committed). Over the Unix socket, which no
# component can reach, the superuser needs none: this script uses it to set that password.
set -euo pipefail

action=${1:?usage: services.sh up|down|reset|status dev|test}
profile=${2:?usage: services.sh up|down|reset|status dev|test}
root=$(cd "$(dirname "$0")/.." && pwd)

case $profile in
  dev)  pg_port=${GALLEY_PG_PORT:-54330}; redis_port=${GALLEY_REDIS_PORT:-63790}; mqtt_port=${GALLEY_MQTT_PORT:-18830} ;;
  test) pg_port=${GALLEY_PG_PORT:-54331}; redis_port=${GALLEY_REDIS_PORT:-63791}; mqtt_port=${GALLEY_MQTT_PORT:-18831} ;;
  *) echo "unknown profile '$profile' (dev|test)" >&2; exit 2 ;;
esac

data=$root/.data/$profile
redis_dir=$data/redis
mqtt_dir=$data/mosquitto
log() { echo "[services:$profile] $*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $* with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  if ! pg_bindir >/dev/null; then
    if apt-cache show postgresql-15 >/dev/null 2>&1; then apt_install postgresql-15; else apt_install postgresql; fi
  fi
  command -v redis-server >/dev/null || apt_install redis-server
}

# Postgres refuses to run as root. As root (CI), the cluster belongs to the unprivileged
# `postgres` user (created if the package did not); as anyone else, to that user.
pg_owner() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }
run_pg() {
  # From /, since `postgres` may not be allowed into the current directory.
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Where the cluster lives. Normally .data/<profile>/pg; but when root runs from a checkout the
# `postgres` user cannot reach (say, under /root), the cluster goes to /var/tmp and
# .data/<profile>/pg becomes a link to it, so the layout seen from the repo is the same.
pg_home() {
  # Always the resolved path: `postgres` may be unable to traverse the link's own location.
  if [ -L "$data/pg" ] || [ -d "$data/pg" ]; then readlink -f "$data/pg"; return; fi
  mkdir -p "$data"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    chown postgres "$data"
    if ! runuser -u postgres -- test -w "$data"; then
      local alt
      alt=/var/tmp/galley-$(echo "$root" | sha1sum | cut -c1-12)/$profile
      mkdir -p "$alt" && chown -R postgres "$(dirname "$alt")"
      ln -s "$alt" "$data/pg"
      echo "$alt"; return
    fi
  fi
  mkdir -p "$data/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$data/pg"
  echo "$data/pg"
}

pg_up() {
  local bin home pgdata sock
  bin=$(pg_bindir)
  home=$(pg_home)
  pgdata=$home/cluster
  sock=$home/run
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    log "initdb $pgdata"
    run_pg mkdir -p "$pgdata" "$sock"
    run_pg "$bin/initdb" -D "$pgdata" -U galley --auth=trust -E UTF8 --no-instructions >/dev/null
  fi
  run_pg mkdir -p "$sock"
  if run_pg "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    log "postgres already running on 127.0.0.1:$pg_port"
  else
    log "starting postgres on 127.0.0.1:$pg_port"
    # max_connections: the host pools up to 64 connections per connection string, per process;
    # the replicas profile and its tests run several processes (3 x 64 per database at most).
    # pg_stat_statements: calls, time and WAL per statement, for an operator and bench/orders.sh
    # (`CREATE EXTENSION pg_stat_statements` in a database to read them there).
    run_pg "$bin/pg_ctl" -D "$pgdata" -l "$home/postgres.log" -w -t 60 \
      -o "-p $pg_port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=1000 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" start >/dev/null
  fi
}

# KEY=value lines: the superuser's password and each service role's, under the names the
# tools read (galley-migrate --secrets-file, the e2e harness, `make up`, which exports them
# as Spin variables). Missing entries are added; existing ones are never changed.
secrets_file=$data/db-secrets.env
# The same list as galley-migrate's SERVICES (it refuses to run without each password).
db_services="users catalog inventory orders payments files notifications"
write_secrets() {
  local key
  mkdir -p "$data"
  ( umask 077; touch "$secrets_file" )
  for key in GALLEY_PG_PASSWORD $(for s in $db_services; do echo "SPIN_VARIABLE_${s^^}_DB_PASSWORD"; done); do
    grep -q "^$key=" "$secrets_file" ||
      echo "$key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> "$secrets_file"
  done
}

# The superuser gets its password (over the socket), then TCP starts asking for passwords.
pg_require_passwords() {
  local bin home password hba
  bin=$(pg_bindir)
  home=$(pg_home)
  password=$(sed -n 's/^GALLEY_PG_PASSWORD=//p' "$secrets_file")
  echo "ALTER ROLE galley PASSWORD '$password'" |
    run_pg "$bin/psql" -q -X -v ON_ERROR_STOP=1 -h "$home/run" -p "$pg_port" -U galley -d postgres >/dev/null
  hba=$(printf '%s\n' "# Written by scripts/services.sh: see its header." \
    "local all all trust" "host all all 127.0.0.1/32 scram-sha-256" "host all all ::1/128 scram-sha-256")
  if [ "$(run_pg cat "$home/cluster/pg_hba.conf")" != "$hba" ]; then
    echo "$hba" | run_pg tee "$home/cluster/pg_hba.conf" >/dev/null
    run_pg "$bin/pg_ctl" -D "$home/cluster" reload >/dev/null
  fi
}

pg_down() {
  local bin pgdata
  bin=$(pg_bindir) || return 0
  [ -e "$data/pg" ] || return 0
  pgdata=$(readlink -f "$data/pg")/cluster
  [ -f "$pgdata/PG_VERSION" ] || return 0
  if run_pg "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    log "stopping postgres"
    run_pg "$bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
  fi
}

redis_pid() {
  local pid
  pid=$(cat "$redis_dir/redis.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

redis_up() {
  mkdir -p "$redis_dir"
  if redis_pid >/dev/null; then
    log "redis already running on 127.0.0.1:$redis_port"
    return
  fi
  log "starting redis on 127.0.0.1:$redis_port"
  # Volatile by design (scripts/redis.conf); a snapshot left by an older setup is not loaded.
  rm -f "$redis_dir/dump.rdb" "$redis_dir/appendonly.aof"
  redis-server "$root/scripts/redis.conf" --port "$redis_port" --daemonize yes --dir "$redis_dir" \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" >/dev/null
  for _ in $(seq 50); do redis_pid >/dev/null && return; sleep 0.1; done
  echo "redis did not start; see $redis_dir/redis.log" >&2; exit 1
}

redis_down() {
  local pid
  if pid=$(redis_pid); then
    log "stopping redis"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

# mosquitto, for galley's MQTT tests: Debian's package, run as a plain process on its own port
# (not the system service), anonymous, in memory.
mosquitto_bin() {
  local b
  for b in "$(command -v mosquitto 2>/dev/null)" /usr/sbin/mosquitto; do
    [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
  done
  return 1
}

mqtt_pid() {
  local pid
  pid=$(cat "$mqtt_dir/mosquitto.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

mqtt_up() {
  mosquitto_bin >/dev/null || apt_install mosquitto
  mkdir -p "$mqtt_dir"
  if mqtt_pid >/dev/null; then
    log "mosquitto already running on 127.0.0.1:$mqtt_port"
    return
  fi
  log "starting mosquitto on 127.0.0.1:$mqtt_port"
  {
    echo "listener $mqtt_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "pid_file $mqtt_dir/mosquitto.pid"
    echo "log_dest file $mqtt_dir/mosquitto.log"
    # As root it would switch to the `mosquitto` user, who cannot write here.
    if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
  } > "$mqtt_dir/mosquitto.conf"
  rm -f "$mqtt_dir/mosquitto.pid"
  # Its start-up warnings (running as root) go to its log, not the terminal.
  "$(mosquitto_bin)" -c "$mqtt_dir/mosquitto.conf" -d 2>>"$mqtt_dir/mosquitto.log"
  for _ in $(seq 50); do
    mqtt_pid >/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null && return
    sleep 0.1
  done
  echo "mosquitto did not start; see $mqtt_dir/mosquitto.log" >&2; exit 1
}

# Prometheus and promtool, for the tests: `make test` checks deploy/prometheus/ with promtool
# (docs/observability.md), and the observability tests run a Prometheus of their own. Debian's
# prometheus package, whose binaries are all that is wanted: not its Recommends
# (prometheus-node-exporter, another daemon), and not the system Prometheus on :9090 that its
# postinst starts and enables (systemd's unit; without systemd, the init script, unless a
# policy-rc.d forbids it, as in a container image): stopped and disabled right after the install.
prometheus_install() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  apt_install --no-install-recommends prometheus
  if [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  command -v prometheus >/dev/null && command -v promtool >/dev/null
}

mqtt_down() {
  local pid
  if pid=$(mqtt_pid); then
    log "stopping mosquitto"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

# The runtime config that `galley up`/`spin up` get: the repo's, with this profile's Redis port.
write_runtime_config() {
  sed "s/127\.0\.0\.1:63790/127.0.0.1:$redis_port/g" "$root/runtime-config.toml" > "$data/runtime-config.toml"
}

case $action in
  up)
    ensure_installed
    write_secrets
    pg_up
    pg_require_passwords
    redis_up
    if [ "$profile" = test ]; then mqtt_up; prometheus_install; fi
    write_runtime_config
    ;;
  mqtt)
    mqtt_up
    ;;
  prometheus)
    prometheus_install
    ;;
  down)
    pg_down
    redis_down
    mqtt_down
    ;;
  reset)
    pg_down
    redis_down
    mqtt_down
    if [ -L "$data/pg" ]; then rm -rf "$(readlink "$data/pg")"; fi
    rm -rf "$data"
    log "wiped $data"
    ;;
  status)
    bin=$(pg_bindir) && run_pg "$bin/pg_ctl" -D "$(readlink -f "$data/pg")/cluster" status || true
    if pid=$(redis_pid); then log "redis running (pid $pid)"; else log "redis not running"; fi
    if pid=$(mqtt_pid); then log "mosquitto running (pid $pid)"; fi
    ;;
  *) echo "unknown action '$action'" >&2; exit 2 ;;
esac
