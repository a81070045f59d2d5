"""make's first step before it builds .venv (`$(PYTHON) tools/python_version.py $(PYTHON)`):
Python 3.11 or newer, or one line that says so and what to do.

Runs on any Python 3 (no f-strings, no annotations), so an old one gets this line instead of
pip's "No matching distribution found for pulumi==…" (pulumi 3.272 and boto3 1.44 declare
Requires-Python >=3.10 in their wheels' METADATA; the program and its tests run on 3.11, Debian
12's). macOS's /usr/bin/python3 is 3.9, Ubuntu 22.04's 3.10."""

import sys

NEEDED = (3, 11)

if sys.version_info < NEEDED:
    sys.exit("error: solarmonitor needs Python %d.%d or newer, and %s is %d.%d: "
             "install a newer one (python.org, Homebrew, or your system's python3.11 or later) "
             "and name it, e.g. make <target> PYTHON=python3.12"
             % (NEEDED + (sys.argv[1] if len(sys.argv) > 1 else sys.executable,)
                + tuple(sys.version_info[:2])))
