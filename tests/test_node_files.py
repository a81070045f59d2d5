"""The scripts and templates under files/: shell hygiene, checked without a host."""

import shutil
import subprocess

import pytest

from conftest import ROOT

SCRIPTS = sorted((ROOT / "files").rglob("*.sh"))


def test_scripts_exist():
    assert len(SCRIPTS) >= 8


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_are_strict(script):
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines[:8]
    assert "set -x" not in script.read_text()  # would print secrets into the command log


@pytest.mark.parametrize("script", [s for s in SCRIPTS if "apt-get" in s.read_text()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_wait_for_cloud_init_before_apt(script):
    text = script.read_text()
    assert text.index("cloud-init status --wait") < text.index("apt-get")
    assert "DPkg::Lock::Timeout" in text


def test_shellcheck_passes_on_every_script():
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    done = subprocess.run([shellcheck, *map(str, SCRIPTS), str(ROOT / "pi" / "install.sh"),
                           *map(str, (ROOT / "tools").glob("*.sh")), str(ROOT / ".ci" / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
