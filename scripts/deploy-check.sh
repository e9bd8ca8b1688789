#!/usr/bin/env bash
# Validates the deployments in deploy/: SpinKube, and wasmCloud 2.x in deploy/wasmcloud/ (a step of
# `make test`; alone: `make deploy-check`).
#
# The tools are pinned in deploy/tools/requirements.txt and installed from PyPI into a
# project-local venv, .data/venv-deploy (python3-venv with apt if the interpreter lacks it),
# once per change of that file. They need no network at run time: kubernetes-validate ships
# Kubernetes' schemas, and the CRDs are vendored in deploy/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.data/venv-deploy
req=deploy/tools/requirements.txt
scripts/venv.sh "$venv" "$req"
"$venv/bin/python" deploy/tools/validate.py --selftest
