#!/usr/bin/env bash
# The gateway side by side with haproxy and nginx (issue 8; docs/benchmarks.md):
#
#   bash benchmarks/gateway/run.sh [--runs 3] [--duration 8] [--rules 1,128,131072] ...
#
# Installs the virtualenv's `bench` extra (matplotlib for the chart, py-spy for
# `python -m benchmarks.gateway.profile`); the Python harness installs wrk, haproxy and nginx
# from Debian's packages when they are missing. Writes
# benchmarks/gateway/results/gateway-vs-proxies.{json,png}.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -e '.[test,bench]' 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true
exec .venv/bin/python -m benchmarks.gateway "$@"
