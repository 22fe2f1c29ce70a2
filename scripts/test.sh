#!/usr/bin/env bash
# The whole test suite (lint included); its exit status says it all. Assumes scripts/setup.sh ran.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check .; exit 1; }
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
