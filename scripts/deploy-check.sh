#!/usr/bin/env bash
# Validates the SpinKube deployment in deploy/ (a step of `make test`; alone: `make deploy-check`).
#
# The tools are pinned in deploy/tools/requirements.txt and installed from PyPI into a
# project-local venv, .data/venv-deploy (python3-venv with apt if the interpreter lacks it),
# once per change of that file. They need no network at run time: kubernetes-validate ships
# Kubernetes' schemas, and the SpinApp CRD is vendored in deploy/vendor/spinkube/.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.data/venv-deploy
req=deploy/tools/requirements.txt
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "[deploy-check] installing $* with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3 python3-venv
if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  mkdir -p .data
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  echo "[deploy-check] installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.txt"
fi
"$venv/bin/python" deploy/tools/validate.py --selftest
