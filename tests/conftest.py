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


# The layouts (solarmonitor:layout): the example's per-service nodes, or all on one instance.
LAYOUTS = {"separate": {}, "compact": {"layout": "compact", "nodes": None}}
# Every optional part on: alerts, and one Solix battery (the emulator's default address).
FULL_OVERRIDES = dict(alertEmail="owner@example.org", solixDevices=["AA:12:DE:AD:BE:EF=Solarbank2"],
                      batteryAlertPercent=15)
_RUNS: dict[tuple[str, bool], ProgramRun] = {}


def shared_run(layout: str, full: bool = False) -> ProgramRun:
    """The example stack in `layout` (with every optional part on: `full`), run once per test
    process for the read-only assertions of many tests."""
    if (layout, full) not in _RUNS:
        _RUNS[layout, full] = run_program(dev_config(**LAYOUTS[layout],
                                                     **(FULL_OVERRIDES if full else {})))
    return _RUNS[layout, full]


@pytest.fixture(scope="session", params=list(LAYOUTS))
def layout(request) -> str:
    """Each layout in turn: every test of a node runs in both."""
    return request.param


@pytest.fixture(scope="session")
def dev_run(layout) -> ProgramRun:
    """The example stack in each layout."""
    return shared_run(layout)


@pytest.fixture(scope="session")
def full_run(layout) -> ProgramRun:
    """The example stack with every optional part on, in each layout."""
    return shared_run(layout, full=True)


@pytest.fixture(scope="session")
def separate_run() -> ProgramRun:
    """The example stack in the separate layout only: for what only that layout has (the NAT,
    the jump host, the flows between nodes)."""
    return shared_run("separate")


@pytest.fixture
def run():
    """Run the program afresh with overrides of the example stack's config (separate layout)."""
    return lambda **overrides: run_program(dev_config(**overrides))


@pytest.fixture
def layout_run(layout):
    """Run the program afresh in each layout with overrides of the example stack's config."""
    return lambda **overrides: run_program(dev_config(**{**LAYOUTS[layout], **overrides}))


def nodes_setting(layout: str, service: str, **spec) -> dict:
    """solarmonitor:nodes giving `service`'s node these settings, in `layout` (in the compact
    layout, the one node's: only instanceType and volumeGb exist there)."""
    return {"compact" if layout == "compact" else service: spec}


def layout_nodes(layout: str, **spec) -> dict:
    """solarmonitor:nodes giving every node of `layout` these settings."""
    return ({"compact": spec} if layout == "compact"
            else {node: spec for node in ("mqtt", "telegraf", "influx", "grafana")})


def node_of(run: ProgramRun, service: str) -> str:
    """The node a service (mqtt, telegraf, influx, grafana) runs on, from the sshNodes output."""
    return next(node for node, entry in run.outputs["sshNodes"].items()
                if service in entry["serves"])


def host_instance(run: ProgramRun, service: str):
    """The instance a service runs on."""
    return run.one("aws:ec2/instance:Instance", f"{node_of(run, service)}-host-instance")


def host_eip(run: ProgramRun, service: str):
    """The Elastic IP of the host a service runs on."""
    return run.one("aws:ec2/eip:Eip", f"{node_of(run, service)}-host-eip")


def service_files(run: ProgramRun) -> dict[str, dict[str, str]]:
    """The files each node writes (tools/plan.py, rendered_files), by node and by each service on
    it: in the compact layout every service's are the one node's."""
    from tools.plan import rendered_files
    files = rendered_files(run)
    return {**files, **{service: files[node] for node, entry in run.outputs["sshNodes"].items()
                        for service in entry["serves"]}}


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
