#!/usr/bin/env bash
# Install planfeed into .venv and start it on SQLite in ./data with the demo organisation.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/planfeed serve --demo --data-dir ./data "$@"
