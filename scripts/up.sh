#!/usr/bin/env bash
# `make up`: services (dev profile), databases, build, then serve on 127.0.0.1:3000 in the
# foreground (Ctrl-C stops the app; `make down` stops Postgres and Redis).
# REPLICAS=N (`make up REPLICAS=3`): N galley processes behind nginx on the same address
# (`scripts/services.sh replicas`), the `cache` and `default` stores on the dev Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${GALLEY_LISTEN:-127.0.0.1:3000}
scripts/services.sh up dev
make --no-print-directory build
target/release/galley-migrate --port 54330 --secrets-file .data/dev/db-secrets.env
# The service roles' database passwords, as Spin variables (scripts/db-secrets.sh).
source scripts/db-secrets.sh
load_db_secrets dev

# A signing secret generated once per checkout, never committed, never a default in code.
secret_file=.data/dev/auth_secret
[ -s "$secret_file" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret_file"; chmod 600 "$secret_file"; }
export SPIN_VARIABLE_AUTH_SECRET
SPIN_VARIABLE_AUTH_SECRET=$(cat "$secret_file")

cat <<MSG

Galley on http://$listen  (Postgres 127.0.0.1:54330, Redis 127.0.0.1:63790; data in .data/dev)
Try:
  curl -si http://$listen/api/v1/users -H 'content-type: application/json' \\
       -d '{"username":"alice","password":"correct horse","mobile":"13800138000"}'
  curl -si http://$listen/api/v1/auth/token -H 'content-type: application/json' \\
       -d '{"username":"alice","password":"correct horse"}'
Stop with Ctrl-C; \`make down\` stops Postgres and Redis.

MSG

if [ -n "${REPLICAS:-}" ]; then
  echo "Replicas profile: $REPLICAS galley processes behind nginx on http://$listen"
  exec scripts/services.sh replicas up "$REPLICAS" --profile dev
fi

spin_cli=${SPIN:-}
if [ -z "$spin_cli" ] && command -v spin >/dev/null 2>&1; then spin_cli=spin; fi
if [ -n "$spin_cli" ]; then
  exec "$spin_cli" up --listen "$listen" --runtime-config-file .data/dev/runtime-config.toml
else
  # --watch: rebuild one component (`cargo build --release --target wasm32-wasip2 -p <name>`)
  # and galley swaps it in without a restart or a dropped request.
  exec target/release/galley up --manifest spin.toml --listen "$listen" --watch \
    --runtime-config-file .data/dev/runtime-config.toml --state-dir .data/dev/galley
fi
