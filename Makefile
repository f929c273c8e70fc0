# The two commands of the README: `make serve` and `make test`. Everything else is setup.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: serve test test-python test-js lint services browser bench

serve: $(STAMP) web/node_modules/.installed
	$(VENV)/bin/campfire serve

test: $(STAMP) web/node_modules/.installed bench/node_modules/.installed services browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest
	node --test web/test/

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

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
