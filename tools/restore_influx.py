"""Put InfluxDB's data back as it was on the day of one of its daily snapshots, ending with InfluxDB
serving the restored data:

    make restore SNAPSHOT=snap-0123456789abcdef0 [STACK=dev | CONFIG=Pulumi.dev.yaml]

1. A new volume from the snapshot, in the data volume's zone, with the data volume's size and
   tags (so the daily snapshots go on).
2. The instance InfluxDB runs on (the one the volume is attached to, in either layout) stopped
   and the old volume detached; the old volume stays, untouched.
3. Pulumi forgets the old volume and everything that depends on it, in one edit of the state
   (`pulumi state delete --target-dependents --force`: the attachment, the instance's running
   state, the provisioning steps; --force because the volume is protected), then adopts the new
   one, protected as the old was (`pulumi import`).
4. `pulumi up`: attaches the restored volume, starts the instance again (a detached volume's
   instance stays stopped until the stack's InstanceState starts it), mounts the volume (never
   formatting one that has a file system) and sets InfluxDB up on it; every step that depends on
   InfluxDB runs again. Org, bucket and tokens are the snapshot's, which are the stack's.

A step that fails never leaves the node stopped without a way on: until Pulumi's state is edited,
the old volume is attached again and the node started (as it was; the restored volume is left
unattached); after that, the error names the command that finishes the restore.

Exit codes: 0 restored; 1 a step failed (it says which, and what is done); 2 wrong snapshot or
stack.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.stack_file import (  # noqa: E402
    EXAMPLE_NAME, StackError, add_stack_arguments, stack_from)

VOLUME = ("aws:ebs/volume:Volume", "influx-data")
# The instance InfluxDB runs on is the one its volume is attached to: the influx node's, or the
# compact node's.
ATTACHMENT = ("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
BACKUP_TAG = "solarmonitor:backup"  # components/influx_node.py: what DLM selects volumes by
SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")  # EC2's ids: 8 hex digits, 17 since 2016


class RestoreError(Exception):
    """The one line to show; `code` is the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def pulumi(*args: str, capture: bool = False) -> str:
    try:
        done = subprocess.run(["pulumi", *args], text=True, check=False,
                              stdout=subprocess.PIPE if capture else None)
    except FileNotFoundError:
        raise RestoreError("the Pulumi CLI is not on PATH (the one make deploy uses)") from None
    if done.returncode != 0:
        raise RestoreError(f"`pulumi {' '.join(args)}` failed (exit {done.returncode})")
    return done.stdout or ""


def find(resources: list[dict], type_: str, name: str) -> dict:
    found = [r for r in resources if r["type"] == type_ and r["urn"].endswith(f"::{name}")]
    if len(found) != 1:
        raise RestoreError(f"the stack holds {len(found)} {type_} named {name}; expected one "
                           "(is this a solarmonitor stack?)", code=2)
    return found[0]


def check_snapshot(ec2, snapshot_id: str, volume: dict) -> dict:
    """The snapshot, if it is one of this stack's data volume's."""
    try:
        (snapshot,) = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    except ClientError as error:
        raise RestoreError(f"snapshot {snapshot_id}: {error}", code=2) from None
    tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
    backup = (volume["outputs"].get("tags") or {}).get(BACKUP_TAG)
    if snapshot["VolumeId"] != volume["id"] and (backup is None or tags.get(BACKUP_TAG) != backup):
        raise RestoreError(f"snapshot {snapshot_id} is not one of this stack's InfluxDB data "
                           f"volume (made from {snapshot['VolumeId']}, {BACKUP_TAG}="
                           f"{tags.get(BACKUP_TAG)!r}; expected {volume['id']} or {backup!r})",
                           code=2)
    return snapshot


def attached_as(ec2, volume_id: str, node: str) -> str:
    """The device the stack's data volume is attached to the influx node as."""
    (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    devices = [a["Device"] for a in volume["Attachments"] if a["InstanceId"] == node]
    if not devices:
        raise RestoreError(f"the data volume {volume_id} is not attached to the influx node {node}"
                           "; run make deploy first, so the stack is as Pulumi holds it", code=2)
    return devices[0]


def put_back(ec2, node: str, volume_id: str, device: str) -> str:
    """The node as it was before the restore: its old volume attached, running. Says what it did,
    or what to type where it could not."""
    try:
        (volume,) = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
        if not volume["Attachments"]:
            ec2.attach_volume(VolumeId=volume_id, InstanceId=node, Device=device)
            ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id])
        ec2.start_instances(InstanceIds=[node])
        ec2.get_waiter("instance_running").wait(InstanceIds=[node])
    except (BotoCoreError, ClientError) as error:
        return (f"putting the node back failed too ({error}): attach {volume_id} to {node} as "
                f"{device} if it is not, and start {node} (`aws ec2 attach-volume --volume-id "
                f"{volume_id} --instance-id {node} --device {device}`, `aws ec2 start-instances "
                f"--instance-ids {node}`); Pulumi's state is unchanged.")
    return f"put back: {node} runs on its old volume {volume_id} again, as Pulumi's state has it."


def restore(snapshot_id: str, stack: str) -> str:
    """Restore; returns the old volume's id (to delete once the restored data shows)."""
    state = json.loads(pulumi("stack", "export", "--stack", stack, capture=True))
    # A stack with nothing deployed has no "resources" at all (apitype.DeploymentV3, omitempty).
    resources = state["deployment"].get("resources", [])
    volume, attachment = find(resources, *VOLUME), find(resources, *ATTACHMENT)
    instance = {"id": attachment["outputs"]["instanceId"]}
    region = volume["outputs"]["arn"].split(":")[3]
    ec2 = boto3.client("ec2", region_name=region)
    check_snapshot(ec2, snapshot_id, volume)
    old, node = volume["id"], instance["id"]
    device = attached_as(ec2, old, node)

    tags = [{"Key": k, "Value": v} for k, v in (volume["outputs"].get("tags") or {}).items()]
    restored = ec2.create_volume(
        SnapshotId=snapshot_id, AvailabilityZone=volume["outputs"]["availabilityZone"],
        Size=volume["outputs"]["size"], VolumeType="gp3", Encrypted=True,
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}] if tags else [])["VolumeId"]
    print(f"1/4 restored volume {restored} from {snapshot_id}")
    ec2.get_waiter("volume_available").wait(VolumeIds=[restored])

    try:
        ec2.stop_instances(InstanceIds=[node])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[node])
        ec2.detach_volume(VolumeId=old, InstanceId=node)
        ec2.get_waiter("volume_available").wait(VolumeIds=[old])
        print(f"2/4 stopped {node} and detached the old volume {old} (kept)")
        # One edit of the state: it happens whole or not at all (pulumi/pulumi
        # pkg/cmd/pulumi/state/state_delete.go: --force lets a protected resource go).
        pulumi("state", "delete", volume["urn"], "--target-dependents", "--force",
               "--stack", stack, "--yes")
    except (RestoreError, BotoCoreError, ClientError) as error:
        raise RestoreError(f"{error}; {put_back(ec2, node, old, device)} The "
                           f"restored volume {restored} is left unattached: delete it, or run "
                           "this again") from None

    # --parent takes "<name>=<urn>"; the name only matters for generated code, which is off.
    adopt = ["import", VOLUME[0], VOLUME[1], restored, "--parent",
             f"influx={volume['parent']}", "--protect", "--generate-code=false", "--stack",
             stack, "--yes"]
    up = ["up", "--stack", stack]
    try:
        pulumi(*adopt)
    except RestoreError as error:
        raise RestoreError(f"{error}; Pulumi has forgotten the old volume {old} (kept) and not yet "
                           f"adopted the restored {restored}, and {node} is stopped: finish with "
                           f"`pulumi {shlex.join(adopt)}`, then `pulumi {shlex.join(up)}`") from None
    print(f"3/4 Pulumi now holds {restored} as {VOLUME[1]}")

    try:
        pulumi(*up)
    except RestoreError as error:
        raise RestoreError(f"{error}; the stack holds the restored volume {restored} now, and "
                           f"{node} stays stopped until `pulumi {shlex.join(up)}` goes through: "
                           "run it again") from None
    print("4/4 InfluxDB runs on the restored data")
    return old


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", help="the snapshot's id, snap-... (EC2 > Snapshots, "
                                         f"tag {BACKUP_TAG})")
    add_stack_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = arguments().parse_args(argv)
    try:
        stack = stack_from(options)
        if stack.name == EXAMPLE_NAME:
            raise StackError("Pulumi.example.yaml is the example, not a deployed stack")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not SNAPSHOT_ID.match(options.snapshot):
        print(f"error: SNAPSHOT={options.snapshot!r}: expected a snapshot's id, snap- and hex "
              f"digits: make restore SNAPSHOT=snap-… (EC2 > Snapshots, tag {BACKUP_TAG}="
              f"solarmonitor-{stack.name})", file=sys.stderr)
        return 2
    try:
        old = restore(options.snapshot, stack.name)
    except RestoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS refused a step: {error} (the steps done are listed above)",
              file=sys.stderr)
        return 1
    print(f"When the dashboard shows the restored data, delete the old volume {old} "
          "(EC2 > Volumes).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
