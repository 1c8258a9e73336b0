#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, a virtualenv), starts a private
# PostgreSQL, and runs lint, import contracts, the type checker, the whole suite on SQLCipher,
# and the tests that reach the control-plane database (marked `db`, tests/conftest.py) again
# on PostgreSQL: the others do not depend on the backend and run once.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT="${CITADEL_TEST_PG_PORT:-55432}"
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
command -v python3 >/dev/null || need_pkgs+=(python3 python3-venv)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
# The deployment sandbox: bubblewrap, setpriv and prlimit (util-linux), libseccomp for pyseccomp.
command -v bwrap >/dev/null || need_pkgs+=(bubblewrap)
command -v setpriv >/dev/null && command -v prlimit >/dev/null || need_pkgs+=(util-linux)
ldconfig -p 2>/dev/null | grep -q 'libseccomp.so.2' || need_pkgs+=(libseccomp2)
# Encrypted deployment volumes: gocryptfs over FUSE.
command -v gocryptfs >/dev/null || need_pkgs+=(gocryptfs)
command -v fusermount3 >/dev/null || need_pkgs+=(fuse3)
# Customer-managed keys: a PKCS#11 HSM (SoftHSM2) for the provider tests.
command -v softhsm2-util >/dev/null || need_pkgs+=(softhsm2)
# Organization SSO: a real SAML IdP (SimpleSAMLphp under php -S); the package does not pull php-xml.
[ -d /usr/share/simplesamlphp ] || need_pkgs+=(simplesamlphp php-cli php-xml php-mbstring php-curl php-intl)
php -r 'exit(class_exists("DOMDocument") ? 0 : 1);' >/dev/null 2>&1 || need_pkgs+=(php-cli php-xml)
command -v xmlsec1 >/dev/null || need_pkgs+=(xmlsec1)
# Domain verification: a real DNS server on loopback (dnsmasq-base: the binary, no service
# that would take port 53).
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need_pkgs+=(dnsmasq-base)
# The README's tour (tests/e2e/test_readme_tour.py) runs curl and jq as a reader would.
command -v curl >/dev/null || need_pkgs+=(curl)
command -v jq >/dev/null || need_pkgs+=(jq)
# The console's browser tests: Debian's Chromium driven by Playwright (never `playwright install`,
# which would download a browser).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# The TOTP enrolment's QR code is read back from a screenshot by a real decoder (zbarimg).
command -v zbarimg >/dev/null || need_pkgs+=(zbar-tools)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# Deployment names (`<id>.local.citadel.localhost`, as a Cloud ID names them) resolve to loopback
# through libnss-myhostname, for the clients connecting by Cloud ID.
bash scripts/localhost-names.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]' 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true

# The official Elasticsearch clients, each in its own virtualenv (they pin different
# elastic-transport versions), for the node's client-compatibility tests; .venv-es9 also gets
# pyyaml for the clients' YAML suite interpreter (tests/compat/yaml_runner.py).
[ -x .venv-es9/bin/python ] || python3 -m venv .venv-es9
[ -x .venv-es8/bin/python ] || python3 -m venv .venv-es8
.venv-es9/bin/pip install -q 'elasticsearch==9.5.1' pyyaml 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true
.venv-es8/bin/pip install -q 'elasticsearch8==8.19.3' 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true
# sslyze checks every listener against Mozilla's "intermediate" TLS configuration
# (tests/tls/test_mozilla_intermediate.py); it pins an older cryptography than ours, so it gets
# its own virtualenv and runs as a subprocess.
[ -x .venv-sslyze/bin/python ] || python3 -m venv .venv-sslyze
.venv-sslyze/bin/pip install -q 'sslyze==6.3.1' 2>&1 | grep -v -E '^WARNING: (Location|The index)' || true

echo "== lint"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/lint-imports
echo "== types"
.venv/bin/mypy

echo "== starting PostgreSQL on 127.0.0.1:${PG_PORT}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_DIR="$(mktemp -d /tmp/citadel-pg.XXXXXX)"
chown postgres:postgres "$PG_DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
  "-p ${PG_PORT} -k ${PG_DIR} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; }
trap cleanup EXIT

WORKERS="${CITADEL_TEST_WORKERS:-auto}"
echo "== tests on SQLCipher"
CITADEL_TEST_DATABASE=sqlite .venv/bin/pytest -n "$WORKERS" -q "$@"
echo "== database tests on PostgreSQL"
CITADEL_TEST_DATABASE=postgresql \
CITADEL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:${PG_PORT}/postgres" \
  .venv/bin/pytest -n "$WORKERS" -q -m db "$@"
