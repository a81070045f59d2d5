"""Every module imports on its own, in a fresh interpreter: no import cycles, no hidden order."""

import subprocess
import sys

import pytest

from conftest import ROOT

MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for folder in ("components", "tools") for path in (ROOT / folder).glob("*.py")
    if path.name != "__init__.py")


def test_every_module_is_listed():
    assert "components.bill" in MODULES and "tools.mock_engine" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
