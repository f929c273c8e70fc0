# The two commands of the README: `make serve` and `make test`. Everything else is setup.
#
# Python packages come from uv.lock, exactly (`uv sync --locked`: it refuses a lock that no
# longer matches pyproject.toml, and removes whatever the lock does not list). uv itself is
# installed by pip into .tools/ at the version pinned here, so a fresh machine needs only
# Python 3.11+ and PyPI. `make upgrade` refreshes the lock; `make test-latest` runs the Python
# suite against the newest versions pyproject.toml allows, in .venv-latest, ignoring the lock.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed
LATEST := .venv-latest
LOWEST := .venv-lowest
# uv must not fetch a Python of its own (only PyPI is reachable), nor put the venv elsewhere.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: serve test test-stock-engine test-latest test-lowest lock upgrade lint services browser bench

serve: $(STAMP) web/node_modules/.installed
	$(VENV)/bin/campfire serve

test: $(STAMP) web/node_modules/.installed bench/node_modules/.installed services browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m compileall -q -x node_modules app jobs migrations tests bench chaos
	$(VENV)/bin/pytest
	$(MAKE) test-stock-engine
	node --test web/test/

# The real-time tests again on python-socketio's stock path (docs/internals.md): a library
# upgrade that breaks the fast path can be switched off only if this path works.
test-stock-engine: $(STAMP) services
	CAMPFIRE_ENGINE_FAST_PATH=0 $(VENV)/bin/pytest -q tests/test_realtime_*.py

$(UV):
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'
	touch $@

# --compile-bytecode: this machine class sets PYTHONDONTWRITEBYTECODE, so without .pyc files
# every process (each test's server, each CLI call) compiled its libraries from source again:
# `import app.main` took 3.7 s instead of 1.3.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --extra test --compile-bytecode --python $(PYTHON)
	touch $@

lock: $(UV)
	$(UV) lock

upgrade: $(UV)
	$(UV) lock --upgrade
	$(MAKE) $(STAMP)

# The newest releases the ranges allow, resolved now, not from the lock: a breaking release
# shows up here as a failing test before `make upgrade` would bring it in.
# PATH first: bench/run and chaos/run, which some tests start, then use this environment too.
test-latest: $(UV) services browser
	test -x $(LATEST)/bin/python || $(UV) venv --python $(PYTHON) $(LATEST)
	$(UV) pip install --python $(LATEST)/bin/python --compile-bytecode --upgrade --resolution highest -e '.[test]'
	$(UV) pip list --python $(LATEST)/bin/python --format freeze \
		| grep -iE '^(python-engineio|python-socketio|aiohttp|sqlalchemy|redis|arq)=='
	PATH="$(abspath $(LATEST))/bin:$$PATH" $(LATEST)/bin/pytest

# The oldest releases pyproject.toml's lower bounds allow (for our direct dependencies), in
# .venv-lowest: the bounds are claims, and this checks them.
test-lowest: $(UV) services browser
	test -x $(LOWEST)/bin/python || $(UV) venv --python $(PYTHON) $(LOWEST)
	$(UV) pip install --python $(LOWEST)/bin/python --compile-bytecode --resolution lowest-direct -e '.[test]'
	PATH="$(abspath $(LOWEST))/bin:$$PATH" $(LOWEST)/bin/pytest

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

bench/node_modules/.installed: bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	touch $@

services:
	bash scripts/services.sh

browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) bench/node_modules/.installed
	bench/run
