.PHONY: run test check bench

# Start Citadel on its embedded defaults: control plane, allocator and gateway, all over TLS,
# SQLCipher, local key file. Nodes run in bubblewrap sandboxes on gocryptfs volumes (installed
# here if missing); deployment names under *.localhost resolve to loopback through
# libnss-myhostname (scripts/localhost-names.sh), so clients connect by Cloud ID.
run:
	@command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null)
	@command -v gocryptfs >/dev/null && command -v fusermount3 >/dev/null || (apt-get update -qq && apt-get install -y -qq gocryptfs fuse3 >/dev/null)
	@bash scripts/localhost-names.sh
	@[ -x .venv/bin/citadel ] || (python3 -m venv .venv && .venv/bin/pip install -q -e .)
	.venv/bin/citadel up

# Install everything the tests need; run them on SQLCipher, the database tests on PostgreSQL too.
test:
	bash scripts/test.sh

# The inner loop, in about a minute: lint, import contracts, types, the unit tests (the
# virtualenv `make test` made).
check:
	bash scripts/check.sh

bench:
	bash benchmarks/run.sh
