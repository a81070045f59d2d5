"""Templates under `files/`: read, rendered with `string.Template` ($name), hashed for triggers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from string import Template
from typing import Any

import pulumi

FILES = Path(__file__).resolve().parent.parent / "files"


def source(relative: str) -> str:
    """The text of `files/<relative>`."""
    return (FILES / relative).read_text()


def render(relative: str, **values: Any) -> str:
    """`files/<relative>` with every $name replaced; a missing value is an error, not a blank."""
    return Template(source(relative)).substitute({k: str(v) for k, v in values.items()})


def render_output(relative: str, **values: pulumi.Input[Any]) -> pulumi.Output[str]:
    """`render` for values that are Outputs; the result is secret when any value is."""
    return pulumi.Output.all(**values).apply(lambda resolved: render(relative, **resolved))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
