#!/usr/bin/env bash
# Runs the API-key authentication benchmark and the HTTP benchmark on SQLCipher and on a
# private PostgreSQL, writes benchmarks/results/auth.json and prints a table.
#
#   bash benchmarks/run.sh            (or: make bench)
#
# Knobs (environment): BENCH_RUNS (auth runs, 7), BENCH_ITERATIONS (per auth run, 2000),
# BENCH_HTTP_RUNS (3), BENCH_HTTP_DURATION (seconds per HTTP run, 10),
# CITADEL_BENCH_PG_PORT (default: a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

RUNS="${BENCH_RUNS:-7}"
ITERATIONS="${BENCH_ITERATIONS:-2000}"
HTTP_RUNS="${BENCH_HTTP_RUNS:-3}"
HTTP_DURATION="${BENCH_HTTP_DURATION:-10}"

need_pkgs=()
command -v python3 >/dev/null || need_pkgs+=(python3 python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v wrk >/dev/null || need_pkgs+=(wrk)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -e . 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true
PY=.venv/bin/python

PG_PORT="${CITADEL_BENCH_PG_PORT:-$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
echo "== starting PostgreSQL on 127.0.0.1:${PG_PORT}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$(mktemp -d /tmp/citadel-bench-pg.XXXXXX)"
PARTS="$(mktemp -d /tmp/citadel-bench-results.XXXXXX)"
chown postgres:postgres "$PG_DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
  "-p ${PG_PORT} -k ${PG_DIR} -c listen_addresses=127.0.0.1" start >/dev/null
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR" "$PARTS"
}
trap cleanup EXIT
PG_URL="postgresql+psycopg://postgres@127.0.0.1:${PG_PORT}/postgres"

for backend in sqlite postgresql; do
  pg_args=()
  [ "$backend" = postgresql ] && pg_args=(--postgres-url "$PG_URL")
  echo "== auth benchmark on ${backend} (${RUNS} runs of ${ITERATIONS})"
  $PY -m benchmarks.auth_bench "${pg_args[@]}" --runs "$RUNS" --iterations "$ITERATIONS" \
    --out "$PARTS/auth-${backend}.json" >/dev/null
  echo "== HTTP benchmark on ${backend} (${HTTP_RUNS} runs of ${HTTP_DURATION}s)"
  $PY -m benchmarks.http_bench "${pg_args[@]}" --runs "$HTTP_RUNS" --duration "$HTTP_DURATION" \
    --out "$PARTS/http-${backend}.json" >/dev/null
done

echo
$PY -m benchmarks.report "$PARTS"/auth-*.json "$PARTS"/http-*.json --out benchmarks/results/auth.json
