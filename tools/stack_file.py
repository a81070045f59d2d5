"""Which stack a `make` target works on, and the file that holds its settings.

One way for every target: `make <target> STACK=<name>` (default `dev`) reads
`Pulumi.<name>.yaml`; `CONFIG=<file>` names the file instead, and the stack is the `<name>` in
`Pulumi.<name>.yaml`. Pulumi reads stack `<name>`'s settings only from `Pulumi.<name>.yaml` in the
project directory, so every target that talks to Pulumi (deploy, destroy, check, simulate, ssh,
logs) takes only that file; `make plan`, offline, takes any file.

The settings are the user's: git does not track `Pulumi.<name>.yaml` (so `git pull` never
conflicts with them, and Pulumi writes its encryption salt there). The first `make plan` or
`make deploy` copies the tracked example, `Pulumi.example.yaml`, to it.

    python3 tools/stack_file.py deploy   # STACK/CONFIG from the environment, as make passes them

checks that stack's file as `make deploy` needs it (settings valid, not the example's placeholder
address) and prints the stack name; anything wrong is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from components.config import ConfigError, parse_home_cidrs, read_settings  # noqa: E402

EXAMPLE_NAME = "example"
EXAMPLE = PROJECT_DIR / f"Pulumi.{EXAMPLE_NAME}.yaml"
DEFAULT_STACK = "dev"
DEFAULT_REGION = "eu-central-1"
# Pulumi allows more in a stack name; without dots `Pulumi.<name>.yaml` names exactly one stack.
_STACK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_STACK_FILE = re.compile(r"^Pulumi\.([A-Za-z0-9_-]{1,100})\.yaml$")


class StackError(Exception):
    """The stack or its file cannot be used; str() is the one line to show."""


@dataclass(frozen=True)
class Stack:
    name: str
    config_file: Path

    @property
    def shown(self) -> str:
        """The file as the user would name it: relative to where they are, when inside."""
        try:
            return str(self.config_file.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(self.config_file)


def resolve(stack: str | None = None, config: str | os.PathLike | None = None,
            any_file: bool = False, project_dir: Path = PROJECT_DIR) -> Stack:
    """The stack named by STACK and/or CONFIG (empty = not given); `any_file` for `make plan`,
    which reads any file and names the stack after it ("plan" when the name says none)."""
    stack = stack or None
    if stack is not None and not _STACK_NAME.match(stack):
        raise StackError(f"STACK={stack!r}: a stack name is letters, digits, '-' and '_'")
    if not config:
        name = stack or DEFAULT_STACK
        return Stack(name, project_dir / f"Pulumi.{name}.yaml")
    path = Path(config)
    named = _STACK_FILE.match(path.name)
    if any_file:
        return Stack(stack or (named.group(1) if named else "plan"), path)
    if not named:
        raise StackError(f"CONFIG={config}: Pulumi reads a stack's settings only from "
                         "Pulumi.<stack>.yaml; name the file so, or use STACK=<stack>")
    if (project_dir / path).resolve() != (project_dir / path.name).resolve():
        raise StackError(f"CONFIG={config}: Pulumi reads stack {named.group(1)}'s settings only "
                         f"from {path.name} in {project_dir}; move the file there")
    if stack is not None and stack != named.group(1):
        raise StackError(f"CONFIG={config} is stack {named.group(1)}'s file but STACK={stack}: "
                         "give one of them")
    return Stack(named.group(1), project_dir / path.name)


def ensure_config_file(stack: Stack) -> bool:
    """Copy the example to a missing `Pulumi.<stack>.yaml` in the project (first use); say so.
    True when it was copied."""
    if stack.config_file.exists() or not _STACK_FILE.match(stack.config_file.name):
        return False
    example = stack.config_file.parent / EXAMPLE.name
    if not example.exists():
        return False
    shutil.copyfile(example, stack.config_file)
    print(f"note: created {stack.shown} from {example.name} (your settings; git "
          "does not track it). Put your home's public address in solarmonitor:homeCidrs.",
          file=sys.stderr)
    return True


def load_config(path: Path) -> dict[str, Any]:
    """The `config:` map of a stack file; YAML errors name the file, line and column."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise StackError(f"config file {path} not found") from None
    except OSError as error:
        raise StackError(f"cannot read {path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        hint = ("; YAML indents with spaces, never tabs" if "\t" in line else
                "; an IPv6 prefix needs its length and quotes, e.g. \"2a01:4f8:1:2::/64\""
                if "::" in line and "mapping values" in str(error.problem) else "")
        raise StackError(f"{where}: not valid YAML: {error.problem}{hint}") from None
    except yaml.YAMLError as error:
        raise StackError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackError(f"{path}: expected a top-level 'config:' map of stack settings")
    return config


def without_secrets(value: Any) -> Any:
    """Config values as the program sees their shape; an encrypted (`secure:`) value, which only
    Pulumi can decrypt, stands in as a string (for checks and descriptions, never a plan)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return "[secret]"
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def configured_strings(config: dict[str, Any]) -> dict[str, str]:
    """The config as the Pulumi CLI hands it to the program: strings, structures as JSON."""
    return {key: (json.dumps(value) if isinstance(value, (dict, list))
                  else "true" if value is True else "false" if value is False else str(value))
            for key, value in without_secrets(config).items() if value is not None}


def placeholder_cidrs(config: dict[str, Any], example: Path = EXAMPLE) -> list[str]:
    """The example's placeholder addresses that `config`'s homeCidrs still holds, in any YAML
    form (a list, one string, a flow list, quoted): both are read as the program reads them."""
    key = "solarmonitor:homeCidrs"
    try:
        placeholder = parse_home_cidrs(load_config(example).get(key))
        home = parse_home_cidrs(config.get(key))
    except (ConfigError, StackError):
        return []  # an invalid address is the settings check's to report
    return [cidr for cidr in (home.ipv4, home.ipv6)
            if cidr is not None and cidr in (placeholder.ipv4, placeholder.ipv6)]


def region_of(config: dict[str, Any]) -> str | None:
    """The region the program reads (`__main__.py`): `aws:region`, else AWS_REGION, else
    AWS_DEFAULT_REGION."""
    return (str(config["aws:region"]) if config.get("aws:region") else None) or \
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def check_for_deploy(stack: Stack) -> None:
    """What `make deploy` refuses before Pulumi starts: a missing or invalid file, invalid
    settings, the example's placeholder address."""
    if stack.name == EXAMPLE_NAME:
        raise StackError(f"{EXAMPLE.name} is the example everyone shares: deploy your own copy "
                         f"(make deploy STACK={DEFAULT_STACK} copies it to "
                         f"Pulumi.{DEFAULT_STACK}.yaml)")
    ensure_config_file(stack)
    config = load_config(stack.config_file)
    region = region_of(config)
    if not region:
        raise StackError(f"aws:region: not set in {stack.config_file.name} (nor AWS_REGION); "
                         "add `aws:region: eu-central-1` (or your region) under config:")
    try:
        read_settings(configured_strings(config), region=region)
    except ConfigError as error:
        raise StackError(f"{stack.config_file.name}: {error}") from None
    placeholders = placeholder_cidrs(config)
    if placeholders:
        raise StackError(
            f"{stack.config_file.name}: solarmonitor:homeCidrs still holds the example's "
            f"placeholder {', '.join(placeholders)}; put your home's public address there "
            "(IPv4: curl -4 https://checkip.amazonaws.com, then x.x.x.x/32)")


def from_environment(any_file: bool = False) -> Stack:
    """The stack `make` names: STACK and CONFIG as it passes them."""
    return resolve(os.environ.get("STACK"), os.environ.get("CONFIG"), any_file=any_file)


def add_stack_arguments(parser) -> None:
    """--stack and --config, as `make` passes STACK and CONFIG (empty = not given)."""
    parser.add_argument("--stack", default="", help=f"stack name (default {DEFAULT_STACK})")
    parser.add_argument("--config", default="",
                        help="the stack's settings file (default Pulumi.<stack>.yaml)")


def stack_from(options, any_file: bool = False) -> Stack:
    return resolve(options.stack, options.config, any_file=any_file)


def main(argv: list[str]) -> int:
    if argv != ["deploy"]:
        print("usage: stack_file.py deploy", file=sys.stderr)
        return 2
    try:
        stack = from_environment()
        check_for_deploy(stack)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(stack.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
