"""Grafana's apply step (files/grafana/apply.sh), run here with stand-ins for systemctl, curl
and the grafana CLI (ours): a grafana.db made under another secret_key (Grafana's built-in one,
before this stack set its own) is moved aside, kept, before Grafana starts with the stack's key;
a database made under the same key is left alone."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

APPLY = ROOT / "files" / "grafana" / "apply.sh"


class Node:
    def __init__(self, tmp_path: Path):
        self.data, self.etc, self.bin = tmp_path / "data", tmp_path / "etc", tmp_path / "bin"
        for directory in (self.data, self.etc, self.bin):
            directory.mkdir()
        self.calls = tmp_path / "calls"
        for name in ("systemctl", "curl", "grafana"):
            (self.bin / name).write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "{self.calls}"\n')
            (self.bin / name).chmod(0o755)
        (self.etc / "admin-password").write_text("admin")
        self.key("first-key")

    def key(self, value: str) -> None:
        (self.etc / "secret-key").write_text(value)

    def apply(self) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}",
               "SOLARMONITOR_GRAFANA_DATA": str(self.data),
               "SOLARMONITOR_GRAFANA_ETC": str(self.etc)}
        done = subprocess.run(["bash", str(APPLY), "grafana.example.org"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done

    def kept(self) -> list[str]:
        return sorted(p.name for p in self.data.glob("grafana.db.before-secret-key-*"))


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path)


def test_a_new_node_starts_with_the_stacks_key(node):
    node.apply()
    assert node.kept() == [] and (node.data / ".solarmonitor-secret-key.sha256").exists()
    assert "grafana cli --homepath /usr/share/grafana" in node.calls.read_text()


def test_a_database_from_before_the_key_is_moved_aside_once(node):
    (node.data / "grafana.db").write_text("made under the built-in key")
    done = node.apply()
    assert "moved to" in done.stdout
    (kept,) = node.kept()
    assert (node.data / kept).read_text() == "made under the built-in key"
    assert not (node.data / "grafana.db").exists()
    calls = node.calls.read_text().splitlines()
    assert calls.index("systemctl stop grafana-server") < calls.index("systemctl restart grafana-server")
    # Grafana makes a new database under the stack's key; the next run leaves it alone.
    (node.data / "grafana.db").write_text("made under the stack's key")
    node.apply()
    assert (node.data / "grafana.db").read_text() == "made under the stack's key"
    assert len(node.kept()) == 1


def test_a_changed_key_moves_the_database_aside_again(node):
    node.apply()
    (node.data / "grafana.db").write_text("under the first key")
    node.apply()
    assert node.kept() == []
    node.key("second-key")
    node.apply()
    assert len(node.kept()) == 1 and not (node.data / "grafana.db").exists()
