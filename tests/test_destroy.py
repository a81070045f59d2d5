"""`make destroy` in a fresh clone, with the fake `pulumi`: it says first what it keeps (from the
program: the protected data volume and what it depends on, the snapshots) and how to remove that
too, asks for the stack's name, and runs `pulumi destroy --exclude-protected` for that stack only.
The removal commands it prints are ones the Pulumi CLI takes (the fake CLI's flag tables); the
README shows the same commands, and its doc test (tests/test_readme.py) runs them, the AWS CLI's
for real against moto, and `make destroy` with the typed answer."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from components.influx_node import BACKUP_TAG
from fresh_clone import fresh_clone
from stack_outputs_fixture import fake_pulumi_env
from tools.destroy import kept, removal_commands

HOME = "8.8.8.8/32"


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    clone = fresh_clone(tmp_path_factory.mktemp("destroy"))
    example = (clone / "Pulumi.example.yaml").read_text()
    for stack in ("dev", "home"):
        (clone / f"Pulumi.{stack}.yaml").write_text(example.replace("1.2.3.4/32", HOME))
    return clone


def destroy(clone, tmp_path, *make_args, answer: str | None = None):
    env = fake_pulumi_env(tmp_path, {}, [])
    done = subprocess.run(["make", "-s", "destroy", *make_args], cwd=clone, env=env,
                          input=answer, capture_output=True, text=True, timeout=120)
    calls = (tmp_path / "pulumi-calls").read_text().splitlines() \
        if (tmp_path / "pulumi-calls").exists() else []
    return done, calls


def test_it_says_what_it_keeps_and_destroys_nothing_on_another_answer(clone, tmp_path):
    done, calls = destroy(clone, tmp_path, answer="yes\n")
    assert done.returncode != 0 and calls == []
    out = done.stdout
    assert "influx-data: InfluxDB's data volume, 10 GB gp3, protected in Pulumi" in out
    assert "network-vpc (Vpc)" in out and "network-private (Subnet)" in out
    assert f"tag {BACKUP_TAG}=solarmonitor-dev" in out
    assert "pulumi state unprotect --stack dev --all --yes" in out
    assert "aws ec2 delete-snapshot --region eu-central-1" in out
    assert out.index("influx-data") < out.index("Type the stack's name (dev)")
    assert "Not destroyed" in out


def test_scripts_answer_with_yes_and_name_the_stack_as_every_target(clone, tmp_path):
    done, calls = destroy(clone, tmp_path, "YES=1", "CONFIG=Pulumi.home.yaml")
    assert done.returncode == 0, done.stderr
    assert calls == ["destroy --stack home --exclude-protected --yes"]
    assert "Stack home is down" in done.stdout
    assert "Type the stack's name" not in done.stdout
    assert "tag solarmonitor:backup=solarmonitor-home" in done.stdout


def test_the_example_and_a_missing_file_are_refused(clone, tmp_path):
    for args, says in ((["STACK=example", "YES=1"], "the example"),
                       (["STACK=nothere", "YES=1"], "cp Pulumi.example.yaml Pulumi.nothere.yaml")):
        done, calls = destroy(clone, tmp_path, *args)
        assert done.returncode != 0 and calls == [] and "Traceback" not in done.stderr
        assert says in done.stderr


def test_a_secret_setting_does_not_stop_it(clone, tmp_path):
    """A `secure:` value only Pulumi can decrypt (pulumi config set --secret) stands in as a
    string for the offline description; the destroy itself is Pulumi's."""
    text = (clone / "Pulumi.home.yaml").read_text().replace(
        "  solarmonitor:topicPrefix: solar\n",
        "  solarmonitor:topicPrefix: solar\n  aws:profile:\n    secure: v1:c2VjcmV0\n")
    (clone / "Pulumi.secret.yaml").write_text(text)
    done, calls = destroy(clone, tmp_path, "YES=1", "STACK=secret")
    assert done.returncode == 0, done.stderr
    assert calls == ["destroy --stack secret --exclude-protected --yes"]


def test_what_is_kept_is_what_pulumi_keeps(full_run):
    """pulumi destroy --exclude-protected keeps each protected resource and its transitive
    dependencies (getProtectedExcludes); the only protected one is the data volume."""
    what = kept(full_run)
    assert [v.name for v in what.volumes] == ["influx-data"]
    # The volume's subnet, its VPC, and the internet gateway the subnets wait for (so an Elastic
    # IP is associated only after it: components/network.py).
    assert [r.name for r in what.needed] == ["network-igw", "network-private", "network-vpc"]
    assert what.backup_tags == ["solarmonitor-dev"]
    aws = [r for r in full_run.resources if r.type.startswith("aws:")]
    assert what.deleted == len(aws) - 4


def test_the_pulumi_removal_commands_are_ones_the_cli_takes(tmp_path):
    env = fake_pulumi_env(tmp_path, {}, [])
    for command in removal_commands("dev", "eu-central-1", ["solarmonitor-dev"]):
        if command.startswith("pulumi "):
            done = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True,
                                  timeout=30)
            assert done.returncode == 0, (command, done.stderr)
