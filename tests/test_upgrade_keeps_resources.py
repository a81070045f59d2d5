"""Upgrading a stack of the separate layout replaces nothing: every resource main held before the
layouts came (issue 24) is continued by the program as it is now, by URN or through an alias,
with the same inputs.

tests/fixtures/separate-layout-before-layouts.json holds that state: the URNs of the example
stack and of the one with every optional part (alerts, a battery), each with a SHA-256 of its
inputs as the engine sees them (secrets masked), or null where the inputs differ from one run to
the next (certificates, and the steps that write them: made afresh in every process). It was
recorded from main at cb2c45b with the engine's URNs (tools/mock_engine.py); since then only the
digests of the dashboard and of the daily-energy task were brought up to date (issue 21's review:
what a panel and the task compute changed, meant), and those of both tasks, the backfill's
daily-energy file and the step that loads them (issue 21's second review: the tasks read late
values again), and that step once more (tasks.sh sends a shard group duration with the raw
retention, which InfluxDB needs for a retention under a week). A change that means
to alter the separate layout records it again, and says in its note what changes and why:

    .venv/bin/python tests/test_upgrade_keeps_resources.py
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import FULL_OVERRIDES, dev_config, shared_run  # noqa: E402
from tools.mock_engine import ProgramRun, continued, run_program  # noqa: E402

STATE = ROOT / "tests" / "fixtures" / "separate-layout-before-layouts.json"
CONFIGS = {"default": {}, "full": FULL_OVERRIDES}


def digest(resource) -> str:
    return hashlib.sha256(json.dumps(resource.inputs, sort_keys=True).encode()).hexdigest()


def state_of(run: ProgramRun) -> dict[str, str]:
    return {r.urn: digest(r) for r in run.resources}


def record() -> dict:
    """The state of both configurations, from two processes: inputs that differ between them
    are made afresh by every run, and are recorded as null."""
    runs = [json.loads(subprocess.run([sys.executable, __file__, "--once"], check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    return {label: {urn: (sha if runs[1][label].get(urn) == sha else None)
                    for urn, sha in sorted(runs[0][label].items())} for label in CONFIGS}


@pytest.fixture(scope="module")
def before() -> dict:
    return json.loads(STATE.read_text())


@pytest.mark.parametrize("label", CONFIGS)
def test_upgrading_a_separate_stack_keeps_every_resource_as_it_is(before, label):
    """Of the separate layout by its nature: the state before the layouts is one of it."""
    now = shared_run("separate", full=label == "full")
    old = before[label]
    matched = continued(now, old)
    created = sorted(r.urn for r in now.resources if r.urn not in matched)
    deleted = sorted(set(old) - set(matched.values()))
    assert not created and not deleted, {"created": created, "deleted": deleted}
    changed = sorted(r.urn for r in now.resources
                     if old[matched[r.urn]] is not None and digest(r) != old[matched[r.urn]])
    assert not changed


if __name__ == "__main__":
    if sys.argv[1:] == ["--once"]:
        print(json.dumps({label: state_of(run_program(dev_config(**overrides)))
                          for label, overrides in CONFIGS.items()}))
    else:
        STATE.parent.mkdir(parents=True, exist_ok=True)
        STATE.write_text(json.dumps(record(), indent=1) + "\n")
        print(f"recorded {STATE.relative_to(ROOT)}")
