"""The deployed stack's outputs, for `make check` and `make simulate`: from a JSON file
(`--outputs`, e.g. saved with `pulumi stack output --json --show-secrets > outputs.json`), or
from the Pulumi CLI for the stack `make` names (STACK, default dev) on the backend `make deploy`
used."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


class OutputsError(Exception):
    """The outputs could not be read; the message says what to do."""


def load_outputs(path: Path | None = None, stack: str = "dev") -> dict:
    if path is not None:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise OutputsError(f"cannot read stack outputs from {path}: {error}") from None
    if shutil.which("pulumi") is None:
        raise OutputsError("the Pulumi CLI is not on PATH: install it, or pass --outputs FILE "
                           "with the saved `pulumi stack output --json --show-secrets`")
    done = subprocess.run(["pulumi", "stack", "output", "--json", "--show-secrets",
                           "--stack", stack], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise OutputsError(f"pulumi stack output --stack {stack} failed: "
                           f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout)


def opendtu_settings(outputs: dict) -> dict:
    """The openDtuSettings output as {field label: value}."""
    try:
        return {entry["field"]: entry["value"] for entry in outputs["openDtuSettings"]}
    except (KeyError, TypeError):
        raise OutputsError("the outputs have no openDtuSettings: deploy first (make deploy), "
                           "and read them with --show-secrets") from None
