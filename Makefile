# solarmonitor: `make deploy` to run it, `make test` to check it, `make plan` to see it offline;
# after a deploy, `make check` proves the path works and `make simulate` plays an OpenDTU.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= Pulumi.dev.yaml
OUT ?= build/plan

ARGS ?=
TEST_JS := tests/js

.PHONY: deploy plan test check simulate clean

# pulumi up for stack "dev" on the local file backend (no Pulumi Cloud account needed).
deploy: $(VENV)/.runtime
	tools/deploy.sh

# Everything the program would create, the files each node writes and the monthly cost; offline.
plan: $(VENV)/.dev
	$(PY) tools/plan.py --config "$(CONFIG)" --out "$(OUT)"

# Reads the deployed stack's outputs (pulumi stack output, or ARGS="--outputs FILE").
check: $(VENV)/.runtime
	$(PY) tools/check.py --config "$(CONFIG)" $(ARGS)

# An OpenDTU without hardware: ARGS="--inverters 2 --inputs 4 --interval 5 --once".
simulate: $(VENV)/.runtime
	$(PY) tools/simulate.py --config "$(CONFIG)" $(ARGS)

# Four workers on two cores: many tests wait on real brokers and subprocesses.
test: $(VENV)/.dev
	tools/ensure-system-packages.sh
	$(MAKE) --no-print-directory $(TEST_JS)/node_modules/.package-lock.json
	$(PY) -m pytest -q -n 4 --dist worksteal

# Test tools from npm (pinned in package-lock.json): Flux's parser and type checker, Grafana's
# dashboard schema and the TypeScript compiler that checks the dashboard against it.
$(TEST_JS)/node_modules/.package-lock.json: $(TEST_JS)/package.json $(TEST_JS)/package-lock.json
	npm ci --prefix $(TEST_JS) --no-audit --no-fund --loglevel=error

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

clean:
	rm -rf build .pytest_cache .hypothesis
