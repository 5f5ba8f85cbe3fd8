# The habits: `make demo`, `make test`, `make lint`, `make bench`. Each runs `make setup` first,
# which is idempotent and fast once done.
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest

.PHONY: setup system venv demo test unit integration security chaos lint format bench bench-quick \
        bench-peer install-extension wheel clean

setup: system venv

system:
	@scripts/setup-system.sh

venv: system
	@scripts/setup-venv.sh

demo: setup
	$(BIN)/motion-pg demo

test: setup install-extension
	$(PYTEST) tests examples

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration -m "not chaos"

security: setup install-extension
	$(PYTEST) tests/security

chaos: setup
	$(PYTEST) tests/integration -m chaos

lint: setup
	$(BIN)/ruff check motion_pg tests examples bench
	$(BIN)/ruff format --check motion_pg tests examples bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format motion_pg tests examples bench
	$(BIN)/ruff check --fix motion_pg tests examples bench

bench: setup bench-peer
	$(BIN)/python -m bench

bench-quick: setup bench-peer
	$(BIN)/python -m bench --quick

# the bench's peer, Motion (motion-python in .venv-motion) with Debian's redis-server: the P rows
bench-peer:
	@scripts/setup-bench-peer.sh

# the wheel users install (it carries sql/, extension/ and the example: hatch_build.py), in dist/
wheel: setup
	$(BIN)/python -m pip wheel --no-deps --no-build-isolation -w dist .

install-extension: setup
	@scripts/install-extension.sh

clean:
	rm -rf $(VENV) .venv-motion dist .motion bench-results .pytest_cache .mypy_cache .ruff_cache
