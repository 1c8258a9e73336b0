#!/usr/bin/env bash
# The inner loop (`make check`): lint, import contracts, types and the unit tests — the ones
# that need neither the control-plane database nor an outside program — in about a minute.
# Uses the virtualenv `make test` made; `make test` remains the whole suite on both backends.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== import contracts"
.venv/bin/lint-imports
echo "== types"
.venv/bin/mypy
echo "== unit tests"
CITADEL_TEST_DATABASE=sqlite .venv/bin/pytest -n "${CITADEL_TEST_WORKERS:-auto}" -q \
  -p no:cacheprovider -m "not db" tests/unit tests/runtime/test_reconcile.py "$@"
