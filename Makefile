.PHONY: run test bench

# Start Citadel on its embedded defaults: control plane, allocator and gateway, all over TLS,
# SQLCipher, local key file. Nodes run in bubblewrap sandboxes on gocryptfs volumes (installed
# here if missing).
run:
	@command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null)
	@command -v gocryptfs >/dev/null && command -v fusermount3 >/dev/null || (apt-get update -qq && apt-get install -y -qq gocryptfs fuse3 >/dev/null)
	@[ -x .venv/bin/citadel ] || (python3 -m venv .venv && .venv/bin/pip install -q -e .)
	.venv/bin/citadel up

# Install everything the tests need and run them on SQLCipher and PostgreSQL.
test:
	bash scripts/test.sh

bench:
	bash benchmarks/run.sh
