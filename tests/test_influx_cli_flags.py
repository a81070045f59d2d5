"""Every `influx` command the influx node's scripts run, with only flags the real CLI defines.
The CLI (urfave/cli) stops with "flag provided but not defined" on any other, and the stand-in
the script tests use (tests/fakes/influx, ours) accepts them all, so this is the check that a
script would not fail on its first run. The flags are the influx CLI's own, read in
influxdata/influx-cli at 8cdf4016 (2026-04-22):
  - shared sets, cmd/influx/global.go: coreFlags (host, skip-verify, active-config,
    trace-debug-id, extra-http-header, http-debug; configs-path), printFlags (json,
    hide-headers), commonTokenFlag (token), getOrgFlags (org-id, org);
  - each command's own: cmd/influx/ping.go, setup.go, org.go, bucket.go, auth.go, task.go
    (`list` is the find command's name), query.go."""

import re

import pytest

from conftest import ROOT

CORE = {"host", "skip-verify", "active-config", "trace-debug-id", "extra-http-header",
        "http-debug", "configs-path"}
PRINT = {"json", "hide-headers"}
TOKEN = {"token"}
ORG = {"org-id", "org"}
COMMON = CORE | PRINT | TOKEN
FLAGS = {
    "ping": CORE,
    "setup": CORE | PRINT | {"username", "password", "token", "org", "bucket", "retention",
                             "force", "name"},
    "org list": COMMON | {"name", "id"},
    "org update": COMMON | {"id", "name", "description"},
    "bucket list": COMMON | ORG | {"id", "name", "limit", "offset", "page-size"},
    "bucket create": COMMON | ORG | {"name", "description", "retention", "shard-group-duration",
                                     "schema-type"},
    "bucket update": COMMON | {"name", "id", "description", "retention", "shard-group-duration"},
    "auth list": COMMON | ORG | {"id", "user", "user-id"},
    "auth create": COMMON | ORG | {"user", "description", "write-bucket", "read-bucket",
                                   "operator", "all-access"},
    "auth delete": COMMON | {"id"},
    "task list": COMMON | ORG | {"id", "user-id", "script-id", "limit"},
    "task create": COMMON | ORG | {"name", "every", "cron", "file", "script-id",
                                   "script-params"},
    "task update": COMMON | {"id", "status", "file", "script-id", "script-params"},
    "query": CORE | TOKEN | ORG | {"file", "raw", "profilers"},
}
SCRIPTS = sorted((ROOT / "files" / "influx").glob("*.sh"))


def logical_lines(script: str) -> str:
    """The script without comment lines, continuation lines joined."""
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    return re.sub(r"\\\n\s*", " ", code)


def flags_in(arguments: str) -> set[str]:
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', arguments)
    return set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", unquoted))


def invocations(script: str) -> list[tuple[str, set[str]]]:
    """(command, flags) of every `influx …` call in a shell script, each running to the end of
    its pipeline stage, quoted arguments skipped. A call that passes on "$@" from a shell
    function is counted with the flags of each call of that function."""
    text = logical_lines(script)
    calls = []
    for match in re.finditer(r"(?<![\w/-])influx ((?:[a-z]+)(?: [a-z]+)?)([^\n|;)]*)", text):
        words, rest = match.group(1), match.group(2)
        command = words if words in FLAGS else words.split()[0]
        calls.append((command, flags_in(rest)))
        function = [f for f in re.finditer(r"^(\w+)\(\) \{\n(.*?)^\}", text, re.S | re.M)
                    if f.start(2) <= match.start() < f.end(2)]
        if function and '"$@"' in rest:
            for call in re.finditer(rf"^\s*{function[0].group(1)} (.*)$", text, re.M):
                calls.append((command, flags_in(call.group(1))))
    return calls


def used_commands() -> list[tuple[str, str, set[str]]]:
    return [(script.name, command, flags) for script in SCRIPTS
            for command, flags in invocations(script.read_text())]


def test_the_scripts_run_the_commands_this_test_knows():
    commands = {command for _, command, _ in used_commands()}
    assert commands <= set(FLAGS), commands - set(FLAGS)
    # No `influx setup`: setup.sh calls InfluxDB's setup API, the password on stdin.
    assert {"auth create", "task update", "query", "bucket update"} <= commands
    assert "setup" not in commands


@pytest.mark.parametrize("script, command, flags", used_commands(),
                         ids=lambda value: value if isinstance(value, str) else None)
def test_every_flag_is_one_the_cli_defines(script, command, flags):
    assert flags <= FLAGS[command], f"{script}: influx {command} --{', --'.join(flags - FLAGS[command])}"


def test_the_reader_finds_the_flags_of_a_call_across_lines_and_through_a_function():
    script = ('x="$(influx bucket list --org-id "$o" \\\n  --name "--not-a-flag" --json | jq .)"\n'
              'make() {\n  # influx auth create --in-a-comment\n'
              '  influx auth create --org-id "$o" "$@" --json\n}\n'
              'make --write-bucket "$b"\nmake --read-bucket "$b" \\\n  --read-bucket "$h"\n')
    assert invocations(script) == [("bucket list", {"org-id", "name", "json"}),
                                   ("auth create", {"org-id", "json"}),
                                   ("auth create", {"write-bucket"}),
                                   ("auth create", {"read-bucket"})]
