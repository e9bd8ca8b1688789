#!/usr/bin/env bash
# `make soak`: the mixed-load soak (tests/api/soak.rs) alone for SOAK_SECS seconds (default
# 300), against the test profile's Postgres, Redis and a galley of its own, then every saga
# settled and the consistency check. Prints the report and writes it to bench/results/soak.md;
# fails on any 5xx, unexpected answer or violation. Services are stopped on every exit.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'scripts/services.sh down test' EXIT

export GALLEY_TEST_PG_PORT=${GALLEY_TEST_PG_PORT:-54331} GALLEY_TEST_REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
export GALLEY_TEST_MQTT_PORT=${GALLEY_TEST_MQTT_PORT:-18831}
export GALLEY_PG_PORT=$GALLEY_TEST_PG_PORT GALLEY_REDIS_PORT=$GALLEY_TEST_REDIS_PORT GALLEY_MQTT_PORT=$GALLEY_TEST_MQTT_PORT
scripts/services.sh up test
make --no-print-directory build
target/release/galley-migrate --port "$GALLEY_TEST_PG_PORT" --secrets-file .data/test/db-secrets.env --fresh
mkdir -p bench/results
GALLEY_SOAK_SECS=${SOAK_SECS:-300} GALLEY_SOAK_REPORT=$PWD/bench/results/soak.md \
  cargo test --release -p galley-e2e -- --ignored --nocapture soak::
