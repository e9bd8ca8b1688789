#!/usr/bin/env bash
# `make test`: the test profile's own Postgres (54331), Redis (63791) and MQTT broker (18831)
# under .data/test, fresh databases, a build, native unit tests, end-to-end tests against a
# galley host that the tests start and stop themselves, then the host's own tests. Services
# are stopped on every exit, failures included.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
trap 'scripts/services.sh down test; echo "make test: $(( $(date +%s) - start ))s in total"' EXIT

# The ports can be moved (e.g. to run a second `make test` from another checkout at once).
export GALLEY_TEST_PG_PORT=${GALLEY_TEST_PG_PORT:-54331} GALLEY_TEST_REDIS_PORT=${GALLEY_TEST_REDIS_PORT:-63791}
export GALLEY_TEST_MQTT_PORT=${GALLEY_TEST_MQTT_PORT:-18831}
export GALLEY_PG_PORT=$GALLEY_TEST_PG_PORT GALLEY_REDIS_PORT=$GALLEY_TEST_REDIS_PORT GALLEY_MQTT_PORT=$GALLEY_TEST_MQTT_PORT
# The SpinKube manifests in deploy/ against the SpinApp CRD and Kubernetes' schemas (seconds).
scripts/deploy-check.sh
# The Prometheus rules, their unit tests (every alert firing and not) and the scrape config in
# deploy/prometheus/ (promtool: Debian's prometheus package, installed by services.sh). `check
# config` wants the saga metrics token file the config names to exist: an empty one will do.
scripts/services.sh install prometheus
(umask 077 && mkdir -p .data/prometheus && touch .data/prometheus/saga-metrics.token)
promtool check rules deploy/prometheus/rules.yml
promtool check config deploy/prometheus/prometheus.yml
promtool test rules deploy/prometheus/rules.test.yml
scripts/services.sh up test
make --no-print-directory build
# The wasmCloud adapters (wasm): the e2e suite runs the app with the Postgres one plugged in.
make --no-print-directory wasmcloud-adapters
target/release/galley-migrate --port "$GALLEY_TEST_PG_PORT" --secrets-file .data/test/db-secrets.env --fresh

# Native unit tests: the shared library and every component's domain rules; with them, the
# wasmCloud builds' tests: every component composed with the adapters it needs, what each
# composed file imports read back and checked against what a wasmCloud host provides, and the
# adapters' own rules. One cargo invocation, so they share its dependency builds (run alone,
# with their own feature set, they rebuilt ~6 minutes of them).
cargo test --release -p galley-common $(printf -- '-p %s ' $(ls functions | grep -vx common)) \
  -p galley-wasmcloud -p adapter-postgres -p adapter-chaining
# The host's and the migrator's unit tests: the same package set as `make build-native`, so
# nothing it built is built again with other features (wasmtime is the long one).
cargo test --release -p galley -p galley-migrate
# The launcher's own unit tests (it has already started everything above).
cargo test --release -p galley-launcher
# End-to-end: real HTTP against target/release/galley, real Postgres and Redis (replicas.rs
# starts three galley processes behind nginx, installed here if absent).
scripts/services.sh install nginx
# grpcio (gRPC C-core), the reference client the gRPC tests call beside tonic (tests/api/grpc.rs).
scripts/venv.sh .data/venv-grpc tests/grpc/requirements.txt
# (The recovery tests run with the rest: each has service databases of its own, since its
# recoverers take every unsettled saga in their orders database.)
cargo test --release -p galley-e2e
# The mixed-load soak for 30 s on a galley of its own, alone (tests/api/soak.rs): fails on any 5xx or consistency violation.
GALLEY_SOAK_SECS=30 cargo test --release -p galley-e2e -- --ignored --nocapture soak::
# The same contention tests again with every app behind nginx as 3 replicas sharing the
# `cache` Redis and the databases: stock, orders and the cache agree across processes.
GALLEY_E2E_REPLICAS=3 cargo test --release -p galley-e2e -- \
  catalog::create_query_update_restock_through_the_cache catalog::concurrent_reservations_never_oversell \
  orders::a_hundred_buyers_for_thirty_units_make_thirty_paid_orders orders::one_idempotency_key_sent_twenty_times_at_once_is_one_order
# The HTTP contract fuzzed (Schemathesis, fixed seed, bounded examples per operation): no 5xx,
# no answer outside api/openapi.yaml, every error problem+json. `make fuzz` runs it at length.
scripts/fuzz.sh
# The host's end-to-end tests: probe components on real `galley up` processes.
cargo test --release -p galley-host-tests
