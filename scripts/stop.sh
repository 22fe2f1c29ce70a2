#!/usr/bin/env bash
# Stop the embedded database (and nothing else: the demo stops its own processes on Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
"$PY" -m onemap.embedded_pg stop
