#!/usr/bin/env bash
# The project's launcher (launcher/, `galley-services`): builds it on first use, then runs it.
# Everything Galley runs beside itself is started, awaited and stopped by it:
#
#   scripts/services.sh up|down|reset|status dev|test   a profile's Postgres, Redis (+ mosquitto)
#   scripts/services.sh mqtt test                       only the MQTT broker (host tests)
#   scripts/services.sh install prometheus|nginx        apt, only when absent
#   scripts/services.sh replicas start N|stop|up N [--profile dev|test]
#   scripts/services.sh galley --port P --state-dir D [--env NAME=VALUE]...   prints its pid
#   scripts/services.sh redis --port P --dir D                                prints its pid
#   scripts/services.sh free-port | wait-http URL
#
# dev (make up): Postgres 54330, Redis 63790; test (make test): 54331, 63791, mosquitto 18831;
# data under .data/<profile>/. `scripts/services.sh --help` lists every option.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release --quiet -p galley-launcher)
exec "$root/target/release/galley-services" "$@"
