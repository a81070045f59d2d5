"""An old Python stops `make` with one line before it builds .venv: macOS's /usr/bin/python3 is
3.9 and Ubuntu 22.04's 3.10, where pip would otherwise end in "No matching distribution found
for pulumi==…" (pulumi 3.272 and boto3 1.44 need 3.10; the program is tested on 3.11).

No old Python can be installed here (Debian 12 has 3.11 only): the stand-in is this Python
running the project's check with `sys.version_info` set to macOS's 3.9.6, so the check's own
code decides."""

from __future__ import annotations

import os
import subprocess
import sys

from fresh_clone import fresh_clone

OLD_PYTHON = f"""#!/bin/sh
exec {sys.executable} -c 'import runpy, sys
sys.version_info = (3, 9, 6, "final", 0)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' "$@"
"""


def test_make_with_a_python_older_than_3_11_says_so_in_one_line(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    (clone / ".venv").unlink()  # a first run: no venv yet
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(OLD_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(["make", "plan"], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "Python 3.11 or newer" in errors[0] and "python3 is 3.9" in errors[0], errors[0]
    assert "PYTHON=python3.12" in errors[0]  # what to do
    assert not (clone / ".venv").exists()  # nothing half-built for the next run to trust
