# solarmonitor: `make deploy` to run it, `make test` to check it, `make plan` to see it offline.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= Pulumi.dev.yaml
OUT ?= build/plan

.PHONY: deploy plan test clean

# pulumi up for stack "dev" on the local file backend (no Pulumi Cloud account needed).
deploy: $(VENV)/.runtime
	tools/deploy.sh

# Everything the program would create, the files each node writes and the monthly cost; offline.
plan: $(VENV)/.dev
	$(PY) tools/plan.py --config "$(CONFIG)" --out "$(OUT)"

test: $(VENV)/.dev
	tools/ensure-system-packages.sh
	$(PY) -m pytest -q -n auto

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
