#!/usr/bin/env bash
# `make bench`: every benchmark, one after the other; each writes its report to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/host.sh
bench/postgres.sh
bench/product_query.sh
bench/orders.sh
bench/replicas.sh
bench/files.sh
bench/isolation.sh
bench/reload.sh
bench/grpc.sh
bench/gateway.sh
bench/observability.sh
