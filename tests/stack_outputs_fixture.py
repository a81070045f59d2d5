"""A deployed stack as the tools see it, without AWS: the stack's outputs as
`pulumi stack output --json --show-secrets` prints them, taken from a mock-engine run of the
program, answered by the fake `pulumi` (tests/fakes/pulumi) on PATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

FAKES = Path(__file__).resolve().parent / "fakes"


def fake_pulumi_env(tmp_path: Path, outputs: dict, secrets: set[str] | list[str]) -> dict:
    """An environment whose `pulumi` is the fake, answering with these outputs; its calls are
    recorded in tmp_path/pulumi-calls."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "pulumi"
    if not link.exists():
        link.symlink_to(FAKES / "pulumi")
    fixture = tmp_path / "stack-outputs.json"
    fixture.write_text(json.dumps({"outputs": outputs, "secrets": sorted(secrets)}))
    # A user's shell: not inside `make test` (a make started from it would print "Entering
    # directory" into what it prints, as sub-makes do).
    user = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**user, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_PULUMI_OUTPUTS": str(fixture), "PULUMI_CALLS": str(tmp_path / "pulumi-calls"),
            "FAKE_LOGGED_IN": "yes"}
