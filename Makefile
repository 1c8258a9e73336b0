.PHONY: run test bench

# Start Citadel on its embedded defaults (HTTPS, SQLCipher, local key file).
run:
	@[ -x .venv/bin/citadel ] || (python3 -m venv .venv && .venv/bin/pip install -q -e .)
	.venv/bin/citadel up

# Install everything the tests need and run them on SQLCipher and PostgreSQL.
test:
	bash scripts/test.sh

bench:
	bash benchmarks/run.sh
