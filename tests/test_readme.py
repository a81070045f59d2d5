"""Every command in the README is code: this test reads the fenced blocks of README.md and of the
contributor documents (docs/*.md) and runs them.

- Every fenced block names its language: `sh` (commands), `console` (a transcript: its `$ ` lines
  are commands), `yaml` (settings), `text`.
- Every `sh` and `console` block parses (`bash -n`); every `make` command in them, and every
  inline `make …` in the prose, names a target and variables the Makefile has; every script
  path a command names exists.
- The `sh` blocks run, in the README's order, as a user following it would, in a fresh clone with
  their `Pulumi.dev.yaml` (step 1), against fixtures: the fake `pulumi` (tests/fakes/pulumi)
  answering the outputs of a mock-engine run of the program, and the real AWS CLI against moto.
  A block that cannot run here has a marker just before it, `<!-- doc-test: not run (why) -->`,
  and is still parsed; `<!-- doc-test: run with the answer "…" on stdin -->` feeds an answer;
  `<!-- doc-test: run in an old clone … -->` runs in a clone of a repository that still
  tracked Pulumi.dev.yaml, whose upstream then stopped tracking it.
- The `sh` blocks of docs/*.md (a contributor's commands) run each in a fresh clone of its own,
  with the fake `pulumi` of a stack never deployed.
- `yaml` blocks with `solarmonitor:` settings are valid settings: merged into the example, the
  program's own validation accepts them.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.config import read_settings
from components.influx_node import BACKUP_TAG
from conftest import DEV_CONFIG, ROOT
from fresh_clone import fresh_clone
from moto_server import MotoServer
from stack_outputs_fixture import fake_pulumi_env
from tools.stack_file import configured_strings

README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"sh", "console", "yaml", "text"}
MARKER = re.compile(r"^\s*<!-- doc-test: (.+?) -->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
NOT_RUN = re.compile(r"^not run \(.+\)$")
ANSWER = re.compile(r'^run with the answer "([^"]+)" on stdin\b')
OLD_CLONE = re.compile(r"^run in an old clone\b")
MAKE_VARIABLES = {"STACK", "CONFIG", "OUT", "NODE", "CMD", "ARGS", "YES", "SNAPSHOT", "PYTHON"}
HOME = "8.8.8.8/32"  # what step 1 has the user put in Pulumi.dev.yaml


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    text: str
    marker: str | None
    source: str = "README.md"

    def __str__(self):
        return f"{self.source}:{self.line} ({self.language})"


def blocks(markdown: str, source: str = "README.md") -> list[Block]:
    found, lines, index = [], markdown.splitlines(), 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.groups()
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line
                         for line in lines[index + 1:end])
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(before)
        found.append(Block(index + 1, language, body + "\n", marker.group(1) if marker else None,
                           source))
        index = end + 1
    return found


README_BLOCKS = blocks(README.read_text())
SHELL = [b for b in README_BLOCKS if b.language in ("sh", "console")]
DOC_BLOCKS = [b for doc in DOCUMENTS[1:] for b in blocks(doc.read_text(), str(doc.relative_to(ROOT)))]
ALL_BLOCKS = README_BLOCKS + DOC_BLOCKS
ALL_SHELL = [b for b in ALL_BLOCKS if b.language in ("sh", "console")]


def commands(block: Block) -> list[str]:
    """The block's command lines: continuations joined, comments and a transcript's output
    dropped."""
    text = block.text.replace("\\\n", " ")
    if block.language == "console":
        return [line[2:] for line in text.splitlines() if line.startswith("$ ")]
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a line (split at pipes, ;, &&, and $(...)), as words."""
    words = shlex.split(re.sub(r"\$\(|\)|`", " ; ", line), comments=True)
    commands, current = [], []
    for word in words:
        if word in ("|", ";", "&&", "||", "do", "done", "then", "fi"):
            commands.append(current)
            current = []
        else:
            current.append(word)
    return [c for c in commands + [current] if c]


def makefile_targets() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(),
                                            re.MULTILINE)}


def test_every_fenced_block_says_its_language():
    assert README_BLOCKS and DOC_BLOCKS
    assert all(b.language in LANGUAGES for b in ALL_BLOCKS), [
        str(b) for b in ALL_BLOCKS if b.language not in LANGUAGES]


def test_every_marker_is_one_the_doc_test_knows():
    for block in ALL_BLOCKS:
        if block.marker is not None:
            assert block.language == "sh", block
            assert (NOT_RUN.match(block.marker) or ANSWER.match(block.marker)
                    or OLD_CLONE.match(block.marker)), (str(block), block.marker)


def test_no_block_the_test_runs_reaches_beyond_the_clone():
    """The runnable blocks run here, as root: anything that would touch this machine, a Pi or a
    host must be marked not run."""
    for block in ALL_SHELL:
        if block.language == "sh" and (block.marker is None or ANSWER.match(block.marker)):
            words = {w for line in commands(block) for c in simple_commands(line) for w in c[:1]}
            assert not words & {"sudo", "ssh", "scp", "rm", "systemctl", "curl"}, (str(block), words)


@pytest.mark.parametrize("block", ALL_SHELL, ids=str)
def test_every_shell_block_parses(block):
    script = "\n".join(commands(block))
    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (str(block), done.stderr)


def make_commands() -> list[tuple[str, list[str]]]:
    """(where, words) of every `make …` in a shell block or inline in the prose."""
    found = [(str(block), words) for block in ALL_SHELL for line in commands(block)
             for words in simple_commands(line) if words[0] == "make"]
    for document in DOCUMENTS:
        prose = re.sub(r"```.*?```", "", document.read_text(), flags=re.DOTALL)
        found += [(f"{document.name} (inline)", shlex.split(span)) for span in
                  re.findall(r"`(make [^`]+)`", prose)]
    return found


def test_every_make_command_names_a_target_and_variables_the_makefile_has():
    targets, found = makefile_targets(), make_commands()
    assert {words[1] for _, words in found} >= {"plan", "deploy", "destroy", "ssh", "logs",
                                                "deployer-policy", "opendtu-settings", "check",
                                                "restore", "simulate", "test"}
    for where, words in found:
        for word in words[1:]:
            if word.startswith(">") or word.startswith("<"):
                break  # a redirection: the rest is a file name
            if "=" in word:
                assert word.split("=")[0] in MAKE_VARIABLES, (where, words)
            else:
                assert word in targets, (where, words)


def test_every_script_a_command_names_exists():
    for block in ALL_SHELL:
        for line in commands(block):
            for words in simple_commands(line):
                for word in words:
                    if re.match(r"^(tools|pi|tests|files)/\S+$", word):
                        assert (ROOT / word).exists(), (str(block), word)


def test_settings_in_the_readme_are_valid_settings():
    settings = [b for b in ALL_BLOCKS if b.language == "yaml"]
    assert settings
    for block in settings:
        snippet = yaml.safe_load(block.text)
        config = {**DEV_CONFIG, "solarmonitor:homeCidrs": [HOME], **snippet}
        read_settings(configured_strings(config), region=config["aws:region"])


# What a block's output must show, by its first command.
EXPECTED = {
    "make opendtu-settings": lambda out, outputs: all(
        f"{entry['field']}:" in out for entry in outputs["openDtuSettings"])
    and outputs["mqttHost"] in out and "Enable Retain Flag: off" in out,
    "make plan": lambda out, outputs: "Time zone: Europe/Berlin" in out,
    "make destroy": lambda out, outputs: "influx-data" in out and "Stack dev is down" in out,
    "pulumi stack output grafanaUrl": lambda out, outputs: out.startswith(outputs["grafanaUrl"])
    and outputs["grafanaAdminPassword"] in out and "sha256 fingerprint=" in out.lower(),
}


def test_the_runnable_blocks_run_in_order_as_a_user_follows_them(tmp_path, separate_run):
    """The README's stack is the example's, of the separate layout (its blocks are the same
    commands in both)."""
    dev_run = separate_run
    clone = fresh_clone(tmp_path / "clone")
    (clone / "Pulumi.dev.yaml").write_text(
        (clone / "Pulumi.example.yaml").read_text().replace("1.2.3.4/32", HOME))
    env = fake_pulumi_env(tmp_path, dev_run.outputs, dev_run.secret_outputs)
    # The user's machine: a home of its own, and the AWS CLI set up (`aws configure`) for the
    # stack's region.
    env.update(HOME=str(tmp_path / "home"), AWS_DEFAULT_REGION=DEV_CONFIG["aws:region"])
    runnable = [b for b in SHELL if b.language == "sh" and (b.marker is None
                                                            or ANSWER.match(b.marker))]
    assert len(runnable) >= 5
    with MotoServer() as moto:
        # The stack's daily snapshots, as DLM leaves them (tagged with the volume's tags), and
        # another stack's, which must stay.
        ec2 = moto.client("ec2", DEV_CONFIG["aws:region"])
        volume = ec2.create_volume(AvailabilityZone=f"{DEV_CONFIG['aws:region']}a",
                                   Size=10)["VolumeId"]
        for stack in ("dev", "dev", "cabin"):
            ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{
                "ResourceType": "snapshot",
                "Tags": [{"Key": BACKUP_TAG, "Value": f"solarmonitor-{stack}"}]}])
        for block in runnable:
            answer = ANSWER.match(block.marker) if block.marker else None
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text],
                                  cwd=clone, env=moto.env(env), capture_output=True, text=True,
                                  input=f"{answer.group(1)}\n" if answer else "", timeout=300)
            assert done.returncode == 0, (str(block), done.stdout[-2000:], done.stderr[-2000:])
            assert "Traceback" not in done.stderr, (str(block), done.stderr)
            expect = EXPECTED.get(commands(block)[0].split("#")[0].strip())
            assert expect is None or expect(done.stdout, dev_run.outputs), (str(block), done.stdout)
        left = [tag["Value"] for snapshot in ec2.describe_snapshots(Filters=[
            {"Name": "tag-key", "Values": [BACKUP_TAG]}])["Snapshots"]
            for tag in snapshot["Tags"] if tag["Key"] == BACKUP_TAG]
        assert left == ["solarmonitor-cabin"]  # the README's cleanup deleted dev's, and only those
        iam = moto.client("iam", "us-east-1")
        moto_users = [u["UserName"] for u in iam.list_users()["Users"]]
        attached = iam.list_attached_user_policies(UserName="solarmonitor-deployer")
        assert [p["PolicyName"] for p in attached["AttachedPolicies"]] == ["solarmonitor-deploy"]
    policy = json.loads((clone / "deployer-policy.json").read_text())
    assert moto_users == ["solarmonitor-deployer"]
    assert policy["Version"] == "2012-10-17"
    calls = (tmp_path / "pulumi-calls").read_text().splitlines()
    assert "destroy --stack dev --exclude-protected --yes" in calls


DOC_RUNNABLE = [b for b in DOC_BLOCKS if b.language == "sh" and b.marker is None]


@pytest.mark.parametrize("block", DOC_RUNNABLE, ids=str)
def test_the_contributor_documents_runnable_blocks_run(tmp_path, block):
    clone = fresh_clone(tmp_path / "clone")
    (clone / "Pulumi.dev.yaml").write_text(
        (clone / "Pulumi.example.yaml").read_text().replace("1.2.3.4/32", HOME))
    env = fake_pulumi_env(tmp_path, {}, [])
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=clone, env=env,
                          capture_output=True, text=True, input="", timeout=300)
    assert done.returncode == 0, (str(block), done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, (str(block), done.stderr)


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd),
                                           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                           "GIT_COMMITTER_NAME": "t",
                                           "GIT_COMMITTER_EMAIL": "t@t"}).stdout


def test_the_update_from_a_tracked_settings_file_keeps_the_users_settings(tmp_path):
    (block,) = [b for b in SHELL if b.marker and OLD_CLONE.match(b.marker)]
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    example = (ROOT / "Pulumi.example.yaml").read_text()
    git("init", "-q", "-b", "main", cwd=upstream)
    (upstream / "Pulumi.dev.yaml").write_text(example)  # the old layout: tracked
    git("add", "-A", cwd=upstream)
    git("commit", "-qm", "old", cwd=upstream)
    git("clone", "-q", str(upstream), str(tmp_path / "mine"), cwd=tmp_path)
    mine = tmp_path / "mine"
    (mine / "Pulumi.dev.yaml").write_text(example.replace("1.2.3.4/32", HOME))  # the user's
    git("rm", "-q", "Pulumi.dev.yaml", cwd=upstream)  # this version's layout
    (upstream / "Pulumi.example.yaml").write_text(example)
    shutil.copy(ROOT / ".gitignore", upstream / ".gitignore")
    git("add", "-A", cwd=upstream)
    git("commit", "-qm", "new", cwd=upstream)
    done = subprocess.run(["bash", "-e", "-c", block.text], cwd=mine, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(mine)})
    assert done.returncode == 0, done.stderr
    assert HOME in (mine / "Pulumi.dev.yaml").read_text()
    assert (mine / "Pulumi.example.yaml").exists()
    assert git("status", "--porcelain", cwd=mine) == ""  # ignored now: pulls never conflict
    assert Path(tmp_path / "my-settings.yaml").exists()


def test_the_teardown_commands_are_the_ones_make_destroy_prints():
    from tools.destroy import removal_commands
    expected = removal_commands("dev", DEV_CONFIG["aws:region"], ["solarmonitor-dev"])
    assert any(commands(block) == expected for block in SHELL)


def test_the_inline_field_commands_print_the_field_alone(tmp_path, separate_run):
    """`make opendtu-settings ARGS="--field Password"` (steps 6 and Troubleshooting) prints the
    password alone, to copy; the field's name as a user types it, in any case."""
    spans = {span for document in DOCUMENTS for span in
             re.findall(r'`make opendtu-settings ARGS="(--field [^"]+)"`', document.read_text())}
    assert spans
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(separate_run.outputs))
    page = {entry["field"]: entry["value"] for entry in separate_run.outputs["openDtuSettings"]}
    for args in sorted(spans) + ["--field password", "--field HOSTNAME"]:
        done = subprocess.run([str(ROOT / ".venv/bin/python"), "tools/opendtu_page.py",
                               "--outputs", str(outputs), *shlex.split(args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        field = next(name for name in page if name.lower() == args.split(" ", 1)[1].lower())
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout == f"{str(page[field]).rstrip()}\n", (args, done.stdout)
