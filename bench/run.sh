#!/usr/bin/env bash
# `make bench`: every benchmark, one after the other; each writes its report to bench/results/.
# What each measures: bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/host.sh
bench/postgres.sh
bench/reads.sh
bench/product_query.sh
bench/orders.sh
bench/gateway.sh
bench/grpc.sh
bench/files.sh
bench/observability.sh
bench/replicas.sh
bench/isolation.sh
bench/reload.sh
bench/wasmcloud.sh
