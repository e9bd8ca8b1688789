#!/usr/bin/env bash
# scripts/venv.sh DIR REQUIREMENTS: a project-local Python virtualenv at DIR with the pinned
# packages of REQUIREMENTS installed from PyPI, made again only when that file changes (a copy
# of it is kept in DIR). python3 and python3-venv come from apt when the machine lacks them.
# Used by scripts/deploy-check.sh (deploy tools) and scripts/fuzz.sh (Schemathesis).
set -euo pipefail
venv=${1:?usage: scripts/venv.sh DIR REQUIREMENTS}
req=${2:?usage: scripts/venv.sh DIR REQUIREMENTS}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "[venv] installing $* with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3 python3-venv
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  echo "[venv] installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.txt"
fi
