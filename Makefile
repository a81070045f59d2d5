# solarmonitor: `make deploy` to run it, `make test` to check it, `make plan` to see it offline;
# after a deploy, `make check` proves the path works and `make simulate` plays an OpenDTU;
# `make ssh`/`make logs NODE=<node>` reach a node; `make restore SNAPSHOT=snap-…` brings InfluxDB's
# data back from a daily snapshot; `make destroy` stops paying.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# One way to name the stack for every target: STACK=<name> (default dev) works on stack <name>
# with the settings in Pulumi.<name>.yaml; CONFIG=Pulumi.<name>.yaml says the same by its file
# (make plan takes any file). tools/stack_file.py resolves both.
STACK ?=
CONFIG ?=
STACK_ARGS = --stack "$(STACK)" --config "$(CONFIG)"
OUT ?= build/plan
NODE ?=
CMD ?=
SNAPSHOT ?=
# The Python that builds .venv: 3.11 or newer (tools/python_version.py says so in one line).
PYTHON ?= python3

ARGS ?=
TEST_JS := tests/js
# A value for bash exactly as typed (no make or shell expansion): CMD='df -h $$HOME' stays so.
quote = '$(subst ','\'',$(1))'

.PHONY: deploy destroy restore plan test test-roots check simulate ssh logs opendtu-settings deployer-policy \
	clean

# pulumi up for the stack on the local file backend (no Pulumi Cloud account needed).
deploy: $(VENV)/.runtime
	STACK="$(STACK)" CONFIG="$(CONFIG)" tools/deploy.sh

# Tears the stack down after saying what it keeps (the data volume, its snapshots) and asking;
# YES=1 answers for scripts.
destroy: $(VENV)/.dev
	$(PY) tools/destroy.py $(STACK_ARGS) $(if $(YES),--yes)

# InfluxDB's data back as it was in one of the data volume's daily snapshots (SNAPSHOT=snap-…),
# then pulumi up: see tools/restore_influx.py.
restore: $(VENV)/.runtime
	$(PY) tools/restore_influx.py $(STACK_ARGS) -- $(call quote,$(value SNAPSHOT))

# Everything the program would create, the files each node writes and the monthly cost; offline.
plan: $(VENV)/.dev
	$(PY) tools/plan.py $(STACK_ARGS) --out "$(OUT)"

# Reads the deployed stack's outputs (pulumi stack output, or ARGS="--outputs FILE").
check: $(VENV)/.runtime
	$(PY) tools/check.py $(STACK_ARGS) $(ARGS)

# An OpenDTU without hardware: ARGS="--inverters 2 --inputs 4 --interval 5 --once".
simulate: $(VENV)/.runtime
	$(PY) tools/simulate.py $(STACK_ARGS) $(ARGS)

# A shell on a node (NODE=mqtt, telegraf, influx, grafana; compact, or none, in the compact
# layout, where a service's name also reaches it), host key pinned, through the broker where the
# program goes through it; ARGS are ssh's options, CMD a command to run there.
ssh: $(VENV)/.runtime
	$(PY) tools/node_ssh.py ssh $(STACK_ARGS) --node "$(NODE)" \
		--ssh-options $(call quote,$(value ARGS)) --command $(call quote,$(value CMD))

# The journal of a node's services, or of the service NODE names (the last 100 lines); ARGS are
# journalctl's, e.g. ARGS=-f follows it, ARGS="--since today" shows today's.
logs: $(VENV)/.runtime
	$(PY) tools/node_ssh.py logs $(STACK_ARGS) --node "$(NODE)" \
		--journal-options $(call quote,$(value ARGS))

# What to type into OpenDTU's MQTT settings page, field by field (the openDtuSettings output).
opendtu-settings: $(VENV)/.runtime
	@$(PY) tools/opendtu_page.py $(STACK_ARGS) $(ARGS)

# The least IAM policy the deploying user needs, as JSON, from the resource types the program
# creates.
deployer-policy: $(VENV)/.dev
	@$(PY) tools/deployer_policy.py $(STACK_ARGS)

# Four workers on two cores: many tests wait on real brokers and subprocesses. Debian's packages
# first (npm is one), then the venv and the npm packages side by side (pip keeps one core busy,
# npm mostly waits on the registry).
test:
	tools/ensure-system-packages.sh
	$(MAKE) --no-print-directory -j3 $(VENV)/.dev $(TEST_JS)/node_modules/.package-lock.json \
		test-roots
	$(PY) -m pytest -q -n 4 --dist worksteal

# The Debian roots the Pi installer's tests start from (tests/debian_root.py keeps them between
# runs), made while pip and npm install: on a first run, debootstrap's downloads then wait beside
# theirs instead of inside the tests' slowest two.
test-roots:
	python3 tests/debian_root.py bookworm trixie

# Test tools from npm (pinned in package-lock.json): Flux's parser and type checker, Grafana's
# dashboard schema and the TypeScript compiler that checks the dashboard against it.
$(TEST_JS)/node_modules/.package-lock.json: $(TEST_JS)/package.json $(TEST_JS)/package-lock.json
	npm ci --prefix $(TEST_JS) --no-audit --no-fund --loglevel=error

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || { $(PYTHON) tools/python_version.py $(PYTHON) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	test -x $(PY) || { $(PYTHON) tools/python_version.py $(PYTHON) && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

clean:
	rm -rf build .pytest_cache .hypothesis
