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
scripts/venv.sh "$venv" "$req"
"$venv/bin/python" deploy/tools/validate.py --selftest
