"""`make destroy`: tear the stack down, after saying what it keeps and how to remove that too,
and after the owner typed the stack's name (or `YES=1`, for scripts).

InfluxDB's data volume is protected (components/influx_node.py) and Pulumi deletes no protected
resource, so this runs `pulumi destroy --exclude-protected`: everything else goes, the volume and
what it depends on stay (pulumi/pulumi pkg/cmd/pulumi/operations/destroy.go,
getProtectedExcludes: "Parents of protected resources will be transitively protected", and so
are its dependencies). The daily snapshots stay too: "If you delete a policy, the snapshots or
AMIs created by that policy are not automatically deleted" (AWS EBS User Guide, "Delete Amazon
Data Lifecycle Manager policies"). What is kept is read from the program itself, run offline
under the mock engine with the stack's settings, so it stays true when the program changes.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from components import prices  # noqa: E402
from components.config import ConfigError, read_settings  # noqa: E402
from components.influx_node import BACKUP_TAG  # noqa: E402
from tools.mock_engine import ProgramRun, Recorded, run_program  # noqa: E402
from tools.stack_file import (  # noqa: E402
    EXAMPLE, EXAMPLE_NAME, Stack, StackError, add_stack_arguments, configured_strings,
    load_config, region_of, stack_from, without_secrets)


@dataclass(frozen=True)
class Kept:
    """What `pulumi destroy --exclude-protected` leaves, from the program."""
    volumes: list[Recorded]
    """The protected data volumes."""
    needed: list[Recorded]
    """What they depend on (kept with them): the VPC, the subnet, the internet gateway."""
    backup_tags: list[str]
    """Values of BACKUP_TAG on the volumes: their snapshots carry them (DLM copies tags)."""
    deleted: int
    """How many AWS resources go."""


def kept(run: ProgramRun) -> Kept:
    by_urn = {r.urn: r for r in run.resources}
    protected = [r for r in run.resources if r.protect]
    seen: set[str] = set()
    todo = [urn for r in protected for urn in (*r.dependencies, r.parent) if urn]
    while todo:
        urn = todo.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        todo += [*by_urn[urn].dependencies, *([by_urn[urn].parent] if by_urn[urn].parent else [])]
    needed = [by_urn[urn] for urn in seen if by_urn[urn].custom and not by_urn[urn].protect]
    volumes = [r for r in protected if r.type == "aws:ebs/volume:Volume"]
    tags = sorted({v.raw_inputs.get("tags", {}).get(BACKUP_TAG) for v in volumes} - {None})
    keeps = {r.urn for r in (*protected, *needed)}
    deleted = sum(r.type.startswith("aws:") and r.urn not in keeps for r in run.resources)
    return Kept(volumes, sorted(needed, key=lambda r: r.name), tags, deleted)


def removal_commands(stack: str, region: str, backup_tags: list[str]) -> list[str]:
    """The commands that delete what `make destroy` keeps; the data is gone for good after."""
    commands = [f"pulumi state unprotect --stack {stack} --all --yes",
                f"pulumi destroy --stack {stack} --yes"]
    for tag in backup_tags:
        query = (f"aws ec2 describe-snapshots --region {region} --owner-ids self --filters "
                 f"Name=tag:{BACKUP_TAG},Values={tag} --query 'Snapshots[].SnapshotId' "
                 "--output text")
        commands.append(f"for id in $({query}); do aws ec2 delete-snapshot --region {region} "
                        '--snapshot-id "$id"; done')
    commands.append(f"pulumi stack rm {stack} --yes")
    return commands


def describe(stack: Stack, region: str, what: Kept, backup_days: int) -> list[str]:
    gp3, snapshot = prices.gp3_gb_month(region), prices.snapshot_gb_month(region)
    lines = [f"make destroy: stack {stack.name} in {region} ({stack.shown})", "",
             f"Deletes {what.deleted} AWS resources: the instances, their Elastic IPs, the "
             "Lambda, the security groups, IAM users and roles, and all else it made, except:"]
    for volume in what.volumes:
        size = volume.raw_inputs.get("size", 0)
        lines.append(f"  - {volume.name}: InfluxDB's data volume, {size} GB gp3, protected in "
                     f"Pulumi (about {size * gp3:.2f} USD a month)")
    if what.needed:
        lines.append("  - what it needs: " + ", ".join(f"{r.name} ({r.type.split(':')[-1]})"
                                                       for r in what.needed) + " (free)")
    for tag in what.backup_tags:
        top = sum(v.raw_inputs.get("size", 0) for v in what.volumes) * snapshot
        lines.append(f"  - its daily snapshots (the last {backup_days}, tag {BACKUP_TAG}={tag}): "
                     f"AWS keeps them when their policy goes (at most {top:.2f} USD a month)")
    lines += [f"  - this stack's state and {stack.shown}, on this machine", "",
              "On the Raspberry Pi, stop the agent, whose Lambda is gone: sudo systemctl disable "
              "--now solarmonitor-ip-agent.timer solarmonitor-solix-bridge.service"]
    return lines


def removal_text(stack: str, region: str, what: Kept) -> list[str]:
    return ["To delete what is kept too, afterwards (the data is then gone for good):",
            *(f"  {command}" for command in removal_commands(stack, region, what.backup_tags))]


def confirmed(stack: str) -> bool:
    print(f"\nType the stack's name ({stack}) to destroy it: ", end="", flush=True)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        print(answer.rstrip("\n"))  # what a script answered, on the prompt's line
    return answer.strip() == stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options)
        if stack.name == EXAMPLE_NAME:
            raise StackError("Pulumi.example.yaml is the example, not a stack to destroy")
        if not stack.config_file.exists():
            raise StackError(f"{stack.shown} not found: make destroy reads the stack's region "
                             f"and settings from it. If it is gone, cp {EXAMPLE.name} "
                             f"{stack.config_file.name} and set aws:region to the stack's")
        config = load_config(stack.config_file)
        region = region_of(config)
        if not region:
            raise StackError(f"aws:region: not set in {stack.shown} (nor AWS_REGION)")
        run = run_program(without_secrets({**config, "aws:region": region}), stack=stack.name)
        settings = read_settings(configured_strings(config), region=region)
    except (StackError, ConfigError, pulumi.RunError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    what = kept(run)
    print("\n".join(describe(stack, region, what, settings.backup_days)))
    print("\n".join(["", *removal_text(stack.name, region, what)]))
    if shutil.which("pulumi") is None:
        print("\nerror: make destroy needs the Pulumi CLI, which is not on PATH", file=sys.stderr)
        return 127
    if not options.yes and not confirmed(stack.name):
        print("Not destroyed: the answer was not the stack's name.")
        return 1
    command = ["pulumi", "destroy", "--stack", stack.name, "--exclude-protected", "--yes"]
    print(f"\n$ {shlex.join(command)}", flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        print(f"\npulumi destroy failed (exit code {done.returncode}); run make destroy again "
              "once the cause above is fixed: it deletes what is left.", file=sys.stderr)
        return done.returncode
    print("\n".join(["", f"Stack {stack.name} is down; it no longer costs anything but what is "
                         "kept.", *removal_text(stack.name, region, what)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
