"""The files under `files/`: read as they are, or rendered with Jinja2, and hashed for triggers.

One mechanism for every node file: a file that takes values is a Jinja2 template (`{{ name }}`,
`{% for %}`); a missing value is an error (StrictUndefined), never a blank. The `quoted` filter
writes a value as a JSON string or array, which is also a valid TOML and YAML literal, so a value
with quotes or backslashes cannot break the file it lands in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2
import pulumi

FILES = Path(__file__).resolve().parent.parent / "files"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(FILES)), undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
_ENVIRONMENT.filters["quoted"] = lambda value: json.dumps(value, ensure_ascii=True)


def source(relative: str) -> str:
    """The text of `files/<relative>`, as it is (scripts and static files)."""
    return (FILES / relative).read_text()


def render(relative: str, **values: Any) -> str:
    """`files/<relative>` rendered with `values`."""
    return _ENVIRONMENT.get_template(relative).render(**values)


def render_output(relative: str, **values: pulumi.Input[Any]) -> pulumi.Output[str]:
    """`render` for values that are Outputs; the result is secret when any value is."""
    return pulumi.Output.all(**values).apply(lambda resolved: render(relative, **resolved))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
