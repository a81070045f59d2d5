"""Shared test helpers: the example stack's config and a fresh run of the real program."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.mock_engine import ProgramRun, run_program  # noqa: E402

# The tracked example (Pulumi.dev.yaml is the user's own copy, not in git).
DEV_CONFIG = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes minutes (real installs in fresh Debian roots); "
                                       "`make test` runs it, `pytest -m 'not slow'` skips it")


def pytest_collection_modifyitems(config, items):
    """Each slow test first in another xdist worker's share, so they start at once, side by side,
    while the other workers share the rest. pytest-xdist's worksteal scheduler hands the workers
    contiguous shares of the collection, in order, `len(pending) // workers_left` each, and takes
    from the end of a share to give to an idle worker (xdist/scheduler/worksteal.py,
    `check_schedule`)."""
    slow = [item for item in items if item.get_closest_marker("slow")]
    if not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    ordered, left = [], len(items)
    for worker in range(workers):
        share = left // (workers - worker)
        left -= share
        head = [slow.pop(0)] if slow and share else []
        ordered += head + rest[:share - len(head)]
        del rest[:share - len(head)]
    items[:] = ordered + slow + rest


def dev_config(**overrides) -> dict:
    """Pulumi.example.yaml's config with `solarmonitor:<key>` overrides (None removes a key)."""
    config = copy.deepcopy(DEV_CONFIG)
    for key, value in overrides.items():
        full = key if ":" in key else f"solarmonitor:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return config


@pytest.fixture(scope="session")
def dev_run() -> ProgramRun:
    """The example stack, run once for the read-only assertions of many tests."""
    return run_program(dev_config())


# Every optional part on: alerts, and one Solix battery (the emulator's default address).
FULL_OVERRIDES = dict(alertEmail="owner@example.org", solixDevices=["AA:12:DE:AD:BE:EF=Solarbank2"],
                      batteryAlertPercent=15)


@pytest.fixture(scope="session")
def full_run() -> ProgramRun:
    """The example stack with every optional part on, run once (read-only assertions)."""
    return run_program(dev_config(**FULL_OVERRIDES))


@pytest.fixture
def run():
    """Run the program afresh with overrides of the example stack's config."""
    return lambda **overrides: run_program(dev_config(**overrides))


@pytest.fixture(scope="session")
def mbedtls_client(tmp_path_factory):
    """The OpenDTU-like mbedTLS 2.28 client, compiled once per test session."""
    from broker import build_mbedtls_client
    return build_mbedtls_client(tmp_path_factory.mktemp("mbedtls"))


def waits_for(run: ProgramRun, resource, other) -> bool:
    """Whether `resource` waits for `other`, directly or through what it waits for."""
    by_urn = {r.urn: r for r in run.resources}
    seen, todo = set(), list(resource.dependencies)
    while todo:
        urn = todo.pop()
        if urn == other.urn:
            return True
        if urn not in seen and urn in by_urn:
            seen.add(urn)
            todo.extend(by_urn[urn].dependencies)
    return False
