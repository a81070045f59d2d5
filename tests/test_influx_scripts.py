"""The influx node's scripts, run here: the data volume's format decision with the real blkid,
mkfs.ext4 and cmp on image files; the token and setup steps against a stand-in `influx` CLI
(tests/fakes/influx, our own emulation of the CLI's JSON output: no InfluxDB runs here) and a
stand-in curl for InfluxDB's setup API (tests/fakes/curl), with the real jq."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import ROOT

MOUNT = ROOT / "files" / "influx" / "mount-data.sh"


def format_if_blank(device: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f'. "{MOUNT}"; format_if_blank "$1"', "format", str(device)],
        env={**os.environ, "SOLARMONITOR_SOURCE_ONLY": "1", "PATH": "/usr/sbin:/sbin:" + os.environ["PATH"]},
        capture_output=True, text=True, timeout=120)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blkid_type(path: Path) -> str:
    return subprocess.run(["blkid", "-p", "-s", "TYPE", "-o", "value", str(path)],
                          capture_output=True, text=True, env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"}).stdout.strip()


def test_a_new_volume_reading_zeros_is_formatted(tmp_path):
    volume = tmp_path / "new.img"
    volume.write_bytes(b"")
    os.truncate(volume, 16 * 2**20)
    done = format_if_blank(volume)
    assert done.returncode == 0, done.stderr
    assert blkid_type(volume) == "ext4"


def test_a_volume_with_a_file_system_is_left_alone(tmp_path):
    volume = tmp_path / "data.img"
    volume.write_bytes(b"")
    os.truncate(volume, 16 * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-L", "influxdata", str(volume)], check=True,
                   env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    before = digest(volume)
    assert format_if_blank(volume).returncode == 0
    assert digest(volume) == before


def test_data_without_a_signature_is_never_formatted(tmp_path):
    volume = tmp_path / "odd.img"
    volume.write_bytes(os.urandom(2 * 2**20))  # blkid finds nothing, but it is not blank
    before = digest(volume)
    assert format_if_blank(volume).returncode == 0
    assert digest(volume) == before


@pytest.mark.parametrize("device", ["/nonexistent/volume", "/tmp"])
def test_a_device_that_cannot_be_read_is_refused(device):
    # blkid -p says 2 ("nothing found") for these too: the zero check must catch them.
    done = format_if_blank(Path(device))
    assert done.returncode != 0 and "not formatting" in done.stderr


# --- setup and tokens against the stand-in CLI -------------------------------------------------

STAND_INS = {
    "mountpoint": "exit 0",
    "update-ca-certificates": "exit 0",
    "chown": "exit 0",
    "systemctl": "exit 0",
    # The real jq, its arguments recorded with the stand-ins' (every process a script starts
    # from PATH is recorded: what a user of the node could read in the process list).
    "jq": f'echo "jq $*" >> "$FAKE_INFLUX_STATE.processes"; exec {shutil.which("jq")} "$@"',
}


class InfluxNode:
    """The influx node's data volume and setup file in a temporary directory."""

    def __init__(self, tmp_path: Path, volume_id="vol-0123456789abcdef0"):
        self.data, self.volume_id = tmp_path / "data", volume_id
        self.data.mkdir()
        (self.data / ".solarmonitor-volume").write_text(volume_id + "\n")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for fake_name in ("influx", "curl"):
            fake = (ROOT / "tests" / "fakes" / fake_name).read_text()
            # This interpreter, not a `python3` found on PATH (pyenv's shim costs 0.2 s a call).
            (self.bin / fake_name).write_text(
                fake.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
            (self.bin / fake_name).chmod(0o755)
        for name, body in STAND_INS.items():
            (self.bin / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
            (self.bin / name).chmod(0o755)
        self.state = tmp_path / "influx-state.json"
        self.env_file = tmp_path / "influx-setup.env"
        self.configure(org="solar", bucket="hoymiles")

    def configure(self, org: str, bucket: str) -> None:
        self.env_file.write_text(
            "INFLUX_ADMIN_PASSWORD=admin-password\nINFLUX_OPERATOR_TOKEN=operator-token\n"
            f"INFLUX_ORG={org}\nINFLUX_BUCKET={bucket}\nINFLUX_RETENTION=30d\n"
            f"INFLUX_HISTORY_BUCKET={bucket}_history\nINFLUX_HISTORY_RETENTION=0\n")

    def run(self, script: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}",
               "FAKE_INFLUX_STATE": str(self.state), "SOLARMONITOR_INFLUX_DATA": str(self.data),
               "SOLARMONITOR_SETUP_ENV": str(self.env_file),
               "SOLARMONITOR_INFLUX_ENV": str(ROOT / "files" / "influx" / "influx-env.sh"), **extra_env}
        return subprocess.run(["bash", str(ROOT / "files" / "influx" / script), *args], env=env,
                              capture_output=True, text=True, timeout=60)

    def setup(self) -> subprocess.CompletedProcess:
        return self.run("setup.sh", self.volume_id)

    def tokens(self) -> dict:
        done = self.run("tokens.sh")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def influx_state(self) -> dict:
        return json.loads(self.state.read_text())


@pytest.fixture
def node(tmp_path):
    node = InfluxNode(tmp_path)
    done = node.setup()
    assert done.returncode == 0, done.stderr
    return node


def test_the_token_step_hands_out_the_same_tokens_every_time(node):
    first = node.tokens()
    assert set(first) == {"telegraf", "grafana"} and first["telegraf"] != first["grafana"]
    assert node.tokens() == first
    assert len([a for a in node.influx_state()["auths"]
                if a["description"].startswith("solarmonitor-")]) == 2


def test_the_tokens_have_the_scopes_they_need(node):
    tokens = node.tokens()
    state = node.influx_state()
    raw, history = (state["buckets"][0]["id"], state["buckets"][1]["id"])
    org = state["orgs"][0]["id"]
    by_token = {a["token"]: a for a in state["auths"]}
    assert by_token[tokens["telegraf"]]["permissions"] == [f"write:orgs/{org}/buckets/{raw}"]
    assert by_token[tokens["grafana"]]["permissions"] == [
        f"read:orgs/{org}/buckets/{raw}", f"read:orgs/{org}/buckets/{history}"]


def test_a_token_that_went_away_is_replaced_and_only_that_one(node):
    first = node.tokens()
    state = node.influx_state()
    state["auths"] = [a for a in state["auths"] if a.get("token") != first["telegraf"]]
    node.state.write_text(json.dumps(state))
    second = node.tokens()
    assert second["grafana"] == first["grafana"] and second["telegraf"] != first["telegraf"]


def test_renaming_org_and_bucket_in_the_config_renames_them_and_keeps_the_tokens(node):
    first = node.tokens()
    node.configure(org="home", bucket="pv")
    done = node.setup()
    assert done.returncode == 0, done.stderr
    assert "org solar renamed to home" in done.stdout and "bucket hoymiles renamed to pv" in done.stdout
    assert "bucket hoymiles_history renamed to pv_history" in done.stdout
    state = node.influx_state()
    assert [o["name"] for o in state["orgs"]] == ["home"]
    assert [b["name"] for b in state["buckets"]] == ["pv", "pv_history"]
    assert node.tokens() == first


def test_setup_sends_the_admin_password_and_the_operator_token_to_influxdb(node):
    state = node.influx_state()
    assert state["admin"] == {"name": "admin", "password": "admin-password"}
    assert [a["token"] for a in state["auths"] if a["permissions"] == ["*"]] == ["operator-token"]
    assert [o["name"] for o in state["orgs"]] == ["solar"]


def test_no_secret_is_ever_in_a_process_arguments(node):
    """Setup, and a token step that makes both tokens and one again: no process the scripts start
    (the influx CLI, curl, jq; stand-ins and the real jq record their arguments) is given the
    admin password, the operator token or a token it makes: every user of the node could read
    those in the process list (/proc/<pid>/cmdline)."""
    made = node.tokens()
    state = node.influx_state()
    state["auths"] = [a for a in state["auths"] if a.get("token") != made["telegraf"]]
    node.state.write_text(json.dumps(state))
    made_again = node.tokens()
    secrets = {"admin-password", "operator-token", *made.values(), *made_again.values()}
    arguments = "\n".join(Path(f"{node.state}{suffix}").read_text()
                           for suffix in (".calls", ".processes"))
    assert "curl" in arguments and "jq" in arguments and "auth create" in arguments
    assert [s for s in secrets if s in arguments] == []


def test_setup_refuses_a_data_volume_other_than_its_own(node):
    (node.data / ".solarmonitor-volume").write_text("vol-someotherone\n")
    done = node.setup()
    assert done.returncode != 0 and "does not hold data volume" in done.stderr


def test_an_org_it_did_not_set_up_is_refused_with_a_clear_message(tmp_path):
    node = InfluxNode(tmp_path)
    assert node.setup().returncode == 0
    (node.data / ".solarmonitor-ids").unlink()  # as if set up by a version that kept no ids
    node.configure(org="elsewhere", bucket="hoymiles")
    done = node.setup()
    assert done.returncode != 0
    assert "no org named elsewhere (it has: solar)" in done.stderr


# --- tasks and the one-time backfill ------------------------------------------------------------

@pytest.fixture
def task_node(node, dev_run):
    """A set-up node with the task and backfill files the program writes."""
    from conftest import service_files
    for path, text in service_files(dev_run)["influx"].items():
        for kind in ("tasks", "backfill"):
            if path.startswith(f"/etc/solarmonitor/influx-{kind}/"):
                (node.data.parent / kind).mkdir(exist_ok=True)
                (node.data.parent / kind / Path(path).name).write_text(text)
    return node


def run_tasks(node, raw_retention: str = "30d", **env) -> subprocess.CompletedProcess:
    return node.run("tasks.sh", raw_retention, SOLARMONITOR_TASKS=str(node.data.parent / "tasks"),
                    SOLARMONITOR_BACKFILL=str(node.data.parent / "backfill"), **env)


def raw_bucket(node) -> dict:
    return node.influx_state()["buckets"][0]


def set_earliest(node, when: datetime) -> None:
    state = node.influx_state()
    state["earliest"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    node.state.write_text(json.dumps(state))


def backfill_windows(node) -> list[tuple[str, str]]:
    return [tuple(re.findall(r'time\(v: "([^"]+)"\)', q)) for q in node.influx_state()["queries"]
            if "option task" not in q and 'time(v: "' in q]


def test_tasks_are_created_once_then_updated_in_place(task_node):
    first = run_tasks(task_node)
    assert first.returncode == 0, first.stderr
    second = run_tasks(task_node)
    assert second.returncode == 0, second.stderr
    assert "task solarmonitor-downsample updated" in second.stdout
    tasks = task_node.influx_state()["tasks"]
    assert sorted(t["name"] for t in tasks) == ["solarmonitor-daily-energy", "solarmonitor-downsample"]
    files = {p.read_text() for p in (task_node.data.parent / "tasks").iterdir()}
    assert {t["flux"] for t in tasks} == files


def test_a_new_database_has_nothing_to_backfill_and_gets_its_raw_retention(task_node):
    done = run_tasks(task_node)
    assert done.returncode == 0, done.stderr
    assert backfill_windows(task_node) == [] and "from 0 week(s)" in done.stdout
    assert raw_bucket(task_node)["retention"] == "30d"


@pytest.mark.parametrize("retention, shard_group_days", [("4d", 1), ("73h", 1), ("1w", 1),
                                                         ("30d", 1), ("26w", 7)])
def test_every_raw_retention_the_config_allows_is_set_on_the_bucket_set_up_to_keep_all(
        task_node, retention, shard_group_days):
    """The raw bucket is set up kept forever, so in 7-day shard groups; InfluxDB refuses a shorter
    retention unless a shard group duration comes with it (tests/fakes/influx says where)."""
    done = run_tasks(task_node, retention)
    assert done.returncode == 0, done.stderr
    assert raw_bucket(task_node)["retention"] == retention
    assert raw_bucket(task_node)["shardGroupSeconds"] == shard_group_days * 86400


def test_the_history_retention_can_be_shortened_below_a_week_later(node):
    assert node.setup().returncode == 0  # INFLUX_HISTORY_RETENTION=0: kept forever
    node.env_file.write_text(node.env_file.read_text().replace(
        "INFLUX_HISTORY_RETENTION=0", "INFLUX_HISTORY_RETENTION=5d"))
    done = node.setup()
    assert done.returncode == 0, done.stderr
    history = next(b for b in node.influx_state()["buckets"] if b["name"].endswith("_history"))
    assert history["retention"] == "5d" and history["shardGroupSeconds"] == 86400


def test_raw_data_older_than_the_tasks_is_copied_week_by_week_before_its_retention_shortens(task_node):
    earliest = datetime.now(timezone.utc) - timedelta(days=20, minutes=7)
    set_earliest(task_node, earliest)
    done = run_tasks(task_node)
    assert done.returncode == 0, done.stderr
    windows = backfill_windows(task_node)
    assert len(windows) == 3 * 2  # three weeks, each through both backfill files
    starts = [datetime.fromisoformat(w[0]) for w in windows[::2]]
    stops = [datetime.fromisoformat(w[1]) for w in windows[::2]]
    assert starts[0] <= earliest and starts[0].timestamp() % 300 == 0
    assert all(start == stop for start, stop in zip(starts[1:], stops))  # no gap, no overlap
    assert stops[-1] > datetime.now(timezone.utc)
    calls = (task_node.state.parent / (task_node.state.name + ".calls")).read_text().splitlines()
    last_query = max(i for i, c in enumerate(calls) if c.startswith("query"))
    assert calls[last_query + 1].startswith("bucket update") and "--retention 30d" in calls[last_query + 1]
    # Done once: a later run copies nothing again, however long ago the copy ended.
    ids = task_node.data / ".solarmonitor-ids"
    ids.write_text(json.dumps({**json.loads(ids.read_text()), "backfilled_until": "2020-01-01T00:00:00Z"}))
    assert run_tasks(task_node).returncode == 0 and len(backfill_windows(task_node)) == 6


def test_a_failed_backfill_keeps_the_raw_data_and_resumes_where_it_stopped(task_node):
    set_earliest(task_node, datetime.now(timezone.utc) - timedelta(days=20))
    failed = run_tasks(task_node, FAKE_INFLUX_FAIL_QUERY="5")  # the oldest-point query is the 1st
    assert failed.returncode != 0
    assert "retention" not in raw_bucket(task_node)  # the raw bucket still keeps everything
    done = run_tasks(task_node)
    assert done.returncode == 0, done.stderr
    windows = backfill_windows(task_node)
    assert len(windows) == 2 + 2 * 2 + 1  # week 1, then week 2 failed half-way, redone with week 3
    assert windows[3][0] == windows[2][0] and raw_bucket(task_node)["retention"] == "30d"


def test_when_the_oldest_point_cannot_be_read_the_raw_retention_is_left_alone(task_node):
    set_earliest(task_node, datetime.now(timezone.utc) - timedelta(days=20))
    failed = run_tasks(task_node, FAKE_INFLUX_FAIL_QUERY="1")
    assert failed.returncode != 0 and "retention" not in raw_bucket(task_node)
