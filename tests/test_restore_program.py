"""Restoring InfluxDB's data from a snapshot (`make restore SNAPSHOT=snap-…`, the README's one
command; tools/restore_influx.py), run as a user runs it: its AWS steps against moto's EC2, its
Pulumi steps recorded by the fake `pulumi` (tests/fakes/pulumi) serving the stack's state from the
program's recorded run, and then the program run again on the restored volume and compared with
the run before, as `pulumi up` would apply it. `make restore` itself in a fresh clone: it names
the stack as every target does, and refuses a wrong snapshot id before anything."""

import json
import shlex
import subprocess

import boto3
import pytest
from moto import mock_aws

from conftest import LAYOUTS, ROOT, dev_config, host_instance, waits_for
from fresh_clone import fresh_clone
from stack_outputs_fixture import fake_pulumi_env
from tools import restore_influx
from tools.mock_engine import run_program

REGION = "eu-central-1"
BACKUP = {"solarmonitor:backup": "solarmonitor-dev"}

def dependents(run, urn: str) -> set[str]:
    """What `pulumi state delete --target-dependents` removes with `urn`: every resource that
    depends on it, directly or through others, and its children (pulumi/pulumi
    pkg/resource/edit/operations.go, DeleteResource: graph.DependingOn(res, nil, true))."""
    found, todo = set(), [urn]
    while todo:
        current = todo.pop()
        for r in run.resources:
            if r.urn not in found and (current in r.dependencies or r.parent == current):
                found.add(r.urn)
                todo.append(r.urn)
    return found


@pytest.fixture
def aws_world():
    """The influx instance with its data volume at /dev/sdf and a daily snapshot of it, in moto."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     Placement={"AvailabilityZone": f"{REGION}b"})[
            "Instances"][0]["InstanceId"]
        tags = [{"Key": "Name", "Value": "solarmonitor-influx-data"},
                *({"Key": k, "Value": v} for k, v in BACKUP.items())]
        volume = ec2.create_volume(AvailabilityZone=f"{REGION}b", Size=10, VolumeType="gp3",
                                   Encrypted=True, TagSpecifications=[
                                       {"ResourceType": "volume", "Tags": tags}])["VolumeId"]
        ec2.attach_volume(Device="/dev/sdf", InstanceId=instance, VolumeId=volume)
        # DLM copies the volume's tags to its snapshots (copy_tags).
        snapshot = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": tags}])["SnapshotId"]
        yield ec2, instance, volume, snapshot


def stack_state(run, instance: str, volume: str) -> dict:
    """`pulumi stack export` of the deployed stack: the recorded run, with AWS's ids."""
    resources = []
    influx_host = host_instance(run, "influx").name
    for r in run.resources:
        entry = {"urn": r.urn, "type": r.type, "id": r.id, "outputs": dict(r.outputs),
                 "dependencies": r.dependencies, "protect": r.protect}
        if r.parent:
            entry["parent"] = r.parent
        if r.name == "influx-data":
            entry["id"] = volume
            entry["outputs"].update(arn=f"arn:aws:ec2:{REGION}:123456789012:volume/{volume}",
                                    availabilityZone=f"{REGION}b", size=10,
                                    tags={"Name": "solarmonitor-influx-data", **BACKUP})
        if r.name == influx_host:
            entry["id"] = instance
        if r.name == "influx-data-attachment":
            entry["outputs"]["instanceId"] = instance
        resources.append(entry)
    return {"version": 3, "deployment": {"resources": resources}}


def restore(tmp_path, monkeypatch, dev_run, aws_world, snapshot=None, fail=None):
    ec2, instance, volume, made = aws_world
    env = fake_pulumi_env(tmp_path, {}, [])  # tests/fakes/pulumi, the one stand-in of the CLI
    (tmp_path / "state.json").write_text(json.dumps(stack_state(dev_run, instance, volume)))
    monkeypatch.setenv("PATH", f"{tmp_path / 'fake-bin'}:/usr/bin:/bin")
    monkeypatch.setenv("PULUMI_CALLS", env["PULUMI_CALLS"])
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "state.json"))
    if fail:
        monkeypatch.setenv("PULUMI_FAIL", fail)
    code = restore_influx.main([snapshot or made, "--stack", "dev"])
    calls = (tmp_path / "pulumi-calls").read_text().splitlines()
    return code, calls


def test_the_restore_ends_with_influxdb_on_the_restored_volume(tmp_path, monkeypatch, dev_run,
                                                               layout, aws_world, capsys):
    ec2, instance, old, snapshot = aws_world
    code, calls = restore(tmp_path, monkeypatch, dev_run, aws_world)
    assert code == 0, capsys.readouterr().err

    # AWS: a volume from the snapshot beside the instance, tagged like the old one (so DLM goes
    # on backing it up); the instance stopped and the old volume detached, kept.
    volumes = {v["VolumeId"]: v for v in ec2.describe_volumes()["Volumes"]}
    (new,) = [v for v in volumes.values() if v.get("SnapshotId") == snapshot]
    assert (new["AvailabilityZone"], new["Size"], new["VolumeType"], new["Encrypted"]) == (
        f"{REGION}b", 10, "gp3", True)
    assert BACKUP.items() <= {t["Key"]: t["Value"] for t in new["Tags"]}.items()
    assert volumes[old]["State"] == "available" and not volumes[old]["Attachments"]
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "stopped"

    # Pulumi: forget the old volume with what depends on it, adopt the new one, then up.
    volume = dev_run.one("aws:ebs/volume:Volume", "influx-data")
    component = dev_run.one("solarmonitor:index:InfluxNode", "influx")
    assert calls == [
        "stack export --stack dev",
        f"state delete {volume.urn} --target-dependents --force --stack dev --yes",
        f"import aws:ebs/volume:Volume influx-data {new['VolumeId']} --parent "
        f"influx={component.urn} --protect --generate-code=false --stack dev --yes",
        "up --stack dev"]
    assert volume.parent == component.urn  # the import lands on the program's own URN

    # What that `pulumi up` does: everything forgotten is created again, on the restored volume.
    forgotten = {dev_run.by_urn(urn).name for urn in dependents(dev_run, volume.urn)}
    assert {"influx-data-attachment", "influx-running"} <= forgotten
    assert not {r.name for r in dev_run.resources if r.protect} & forgotten
    instances = {i.name for i in dev_run.find("aws:ec2/instance:Instance")}
    assert not {*instances, "network-vpc"} & forgotten
    after = run_program(dev_config(**LAYOUTS[layout]), ids={"influx-data": new["VolumeId"]})
    attachment = after.one("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
    assert attachment.raw_inputs["volumeId"] == new["VolumeId"]
    # The instance the detach left stopped is started (InstanceState's Create) before any step
    # that needs SSH, and only after the restored volume is attached.
    running = after.one("aws:ec2transitgateway/instanceState:InstanceState", "influx-running")
    assert running.raw_inputs == {"instanceId": host_instance(after, "influx").id,
                                  "state": "running"}
    assert waits_for(after, running, attachment)
    steps = [s for s in after.find("command:remote:Command") if s.name.startswith("influx-")]
    assert steps and all(waits_for(after, step, running) for step in steps)
    assert all(s.name in forgotten for s in steps)  # so each runs again
    # Mounted and set up on the restored volume (mount-data.sh never formats a file system).
    for name in ("influx-mount-data", "influx-setup"):
        assert after.one("command:remote:Command", name).raw_inputs["create"].endswith(
            new["VolumeId"]), name


def test_a_snapshot_of_another_volume_is_refused_before_anything_changes(
        tmp_path, monkeypatch, dev_run, aws_world, capsys):
    ec2, instance, old, _ = aws_world
    stranger = ec2.create_volume(AvailabilityZone=f"{REGION}b", Size=10)["VolumeId"]
    foreign = ec2.create_snapshot(VolumeId=stranger)["SnapshotId"]
    volumes = ec2.describe_volumes()["Volumes"]
    code, calls = restore(tmp_path, monkeypatch, dev_run, aws_world, snapshot=foreign)
    assert code == 2 and calls == ["stack export --stack dev"]
    assert "is not one of this stack's InfluxDB data volume" in capsys.readouterr().err
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"
    assert ec2.describe_volumes()["Volumes"] == volumes


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    clone = fresh_clone(tmp_path_factory.mktemp("restore"))
    example = (clone / "Pulumi.example.yaml").read_text()
    (clone / "Pulumi.home.yaml").write_text(example.replace("1.2.3.4/32", "8.8.8.8/32"))
    return clone


def make_restore(clone, tmp_path, *make_args):
    """`make restore` as a user types it, with the fake `pulumi` of a stack with nothing
    deployed: the tool reads the state of the stack named, and stops there."""
    env = fake_pulumi_env(tmp_path, {}, [])
    done = subprocess.run(["make", "-s", "restore", *make_args], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=120)
    calls = (tmp_path / "pulumi-calls").read_text().splitlines() \
        if (tmp_path / "pulumi-calls").exists() else []
    assert "Traceback" not in done.stderr, done.stderr
    return done, calls


def test_make_restore_names_the_stack_as_every_target(clone, tmp_path):
    (line,) = [line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("make restore SNAPSHOT=snap-")]
    words = shlex.split(line.split("#")[0])
    for args, stack in ((words[2:], "dev"), ([*words[2:], "STACK=home"], "home"),
                        ([*words[2:], "CONFIG=Pulumi.home.yaml"], "home")):
        (tmp_path / "pulumi-calls").unlink(missing_ok=True)
        done, calls = make_restore(clone, tmp_path, *args)
        assert calls == [f"stack export --stack {stack}"], args
        assert done.returncode == 2 and "holds 0 aws:ebs/volume:Volume named influx-data" \
            in done.stderr, done.stderr


def test_make_restore_refuses_a_missing_or_wrong_snapshot_before_anything(clone, tmp_path):
    for args, says in (([], "SNAPSHOT=''"), (["SNAPSHOT=vol-0123456789abcdef0"], "snap-"),
                       (["SNAPSHOT=snap-0123; touch hacked"], "snap-"),
                       (["SNAPSHOT=snap-0123456789abcdef0", "STACK=example"], "the example"),
                       (["SNAPSHOT=snap-0123456789abcdef0", "CONFIG=home.yaml"],
                        "Pulumi.<stack>.yaml")):
        done, calls = make_restore(clone, tmp_path, *args)
        assert done.returncode == 2 and calls == [], (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
    assert not (clone / "hacked").exists()


def node_state(ec2, instance: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
        "State"]["Name"]


def test_a_failure_before_pulumi_forgets_the_volume_puts_the_node_back(
        tmp_path, monkeypatch, dev_run, aws_world, capsys):
    ec2, instance, old, snapshot = aws_world
    code, calls = restore(tmp_path, monkeypatch, dev_run, aws_world, fail="state delete")
    assert code == 1 and not any(call.startswith(("import", "up")) for call in calls)
    # As before the restore: the old volume on the data device, the node running; the restored
    # volume stays, unattached, and the message says so.
    (volume,) = ec2.describe_volumes(VolumeIds=[old])["Volumes"]
    assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [
        (instance, "/dev/sdf")]
    assert node_state(ec2, instance) == "running"
    (restored,) = [v for v in ec2.describe_volumes()["Volumes"] if v.get("SnapshotId") == snapshot]
    assert not restored["Attachments"]
    err = capsys.readouterr().err
    assert f"put back: {instance} runs on its old volume {old}" in err
    assert f"restored volume {restored['VolumeId']} is left unattached" in err


def finishing_commands(err: str) -> list[list[str]]:
    """The commands an error tells the user to run (after the failed one it names), as argv."""
    advice = err.partition("; ")[2]
    return [shlex.split(command)[1:] for command in advice.split("`")[1::2]
            if command.startswith("pulumi ")]


def test_a_failed_import_names_the_commands_that_finish_the_restore(
        tmp_path, monkeypatch, dev_run, aws_world, capsys):
    ec2, instance, old, snapshot = aws_world
    code, calls = restore(tmp_path, monkeypatch, dev_run, aws_world, fail="import")
    assert code == 1 and calls[-1].startswith("import ")
    err = capsys.readouterr().err
    assert f"forgotten the old volume {old}" in err and f"{instance} is stopped" in err
    # Exactly the import the tool tried, then the update.
    assert finishing_commands(err) == [calls[-1].split(" "), ["up", "--stack", "dev"]]


def test_a_failed_update_says_to_run_it_again(tmp_path, monkeypatch, dev_run, aws_world, capsys):
    ec2, instance, old, snapshot = aws_world
    code, calls = restore(tmp_path, monkeypatch, dev_run, aws_world, fail="up")
    assert code == 1 and calls[-1] == "up --stack dev"
    err = capsys.readouterr().err
    assert f"{instance} stays stopped until" in err
    assert finishing_commands(err) == [["up", "--stack", "dev"]]
