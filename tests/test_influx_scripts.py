"""The influx node's scripts, run here: the data volume's format decision with the real blkid,
mkfs.ext4 and cmp on image files; the token and setup steps against a stand-in `influx` CLI
(tests/fakes/influx, our own emulation of the CLI's JSON output: no InfluxDB runs here)."""

import hashlib
import json
import os
import subprocess
import sys
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
    # GET /api/v2/setup: allowed until the first `influx setup`.
    "curl": 'if [ -e "$FAKE_INFLUX_STATE" ]; then echo \'{"allowed": false}\'; '
            'else echo \'{"allowed": true}\'; fi',
}


class InfluxNode:
    """The influx node's data volume and setup file in a temporary directory."""

    def __init__(self, tmp_path: Path, volume_id="vol-0123456789abcdef0"):
        self.data, self.volume_id = tmp_path / "data", volume_id
        self.data.mkdir()
        (self.data / ".solarmonitor-volume").write_text(volume_id + "\n")
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        fake = (ROOT / "tests" / "fakes" / "influx").read_text()
        # This interpreter, not a `python3` found on PATH (pyenv's shim costs 0.2 s a call).
        (self.bin / "influx").write_text(fake.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
        (self.bin / "influx").chmod(0o755)
        for name, body in STAND_INS.items():
            (self.bin / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
            (self.bin / name).chmod(0o755)
        self.state = tmp_path / "influx-state.json"
        self.env_file = tmp_path / "influx-setup.env"
        self.configure(org="solar", bucket="hoymiles")

    def configure(self, org: str, bucket: str) -> None:
        self.env_file.write_text(
            "INFLUX_ADMIN_PASSWORD=admin-password\nINFLUX_OPERATOR_TOKEN=operator-token\n"
            f"INFLUX_ORG={org}\nINFLUX_BUCKET={bucket}\nINFLUX_RETENTION=0\n")

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}",
               "FAKE_INFLUX_STATE": str(self.state), "SOLARMONITOR_INFLUX_DATA": str(self.data),
               "SOLARMONITOR_SETUP_ENV": str(self.env_file)}
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
    bucket = state["buckets"][0]["id"]
    by_token = {a["token"]: a for a in state["auths"]}
    assert by_token[tokens["telegraf"]]["permissions"] == [
        f"write:orgs/{state['orgs'][0]['id']}/buckets/{bucket}"]
    assert by_token[tokens["grafana"]]["permissions"] == [
        f"read:orgs/{state['orgs'][0]['id']}/buckets/{bucket}"]


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
    state = node.influx_state()
    assert [o["name"] for o in state["orgs"]] == ["home"]
    assert [b["name"] for b in state["buckets"]] == ["pv"]
    assert node.tokens() == first


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
