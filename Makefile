# solarmonitor: `make deploy` to run it, `make test` to check it, `make plan` to see it offline;
# after a deploy, `make check` proves the path works and `make simulate` plays an OpenDTU.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= Pulumi.dev.yaml
OUT ?= build/plan

ARGS ?=
FLUX_COMPILER := tests/flux-compiler

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

test: $(VENV)/.dev
	tools/ensure-system-packages.sh
	$(MAKE) --no-print-directory $(FLUX_COMPILER)/node_modules/.package-lock.json
	$(PY) -m pytest -q -n auto

# Flux's parser and type checker for the tests (npm; pinned in its package-lock.json).
$(FLUX_COMPILER)/node_modules/.package-lock.json: $(FLUX_COMPILER)/package.json $(FLUX_COMPILER)/package-lock.json
	npm ci --prefix $(FLUX_COMPILER) --no-audit --no-fund --loglevel=error

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
