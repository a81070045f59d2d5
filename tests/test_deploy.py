"""`make deploy` in a fresh clone, with a fake `pulumi` on PATH that records its arguments: the
stack it deploys is always the one whose file was named, and nothing reaches Pulumi before the
settings are checked."""

import re
import stat
import subprocess

import pytest

from fresh_clone import fresh_clone
from tools.stack_file import Stack, StackError, check_for_deploy, resolve

FAKE_PULUMI = """#!/usr/bin/env bash
echo "$*" >> "$PULUMI_CALLS"
if [ "$1" = whoami ] && [ "${FAKE_LOGGED_IN:-no}" = no ]; then exit 255; fi
exit 0
"""
GOOD_STACK = "config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs:\n    - 8.8.8.8/32\n"


@pytest.fixture
def clone(tmp_path):
    return fresh_clone(tmp_path / "clone")


def deploy(tmp_path, clone, *make_args, with_pulumi=True, credentials=True, logged_in=False):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if with_pulumi:
        fake = bin_dir / "pulumi"
        fake.write_text(FAKE_PULUMI)
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "PULUMI_CALLS": str(calls),
           "FAKE_LOGGED_IN": "yes" if logged_in else "no", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}
    if credentials:
        env.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example")
    done = subprocess.run(["make", "-s", "deploy", *make_args], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=60)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return done, lines


def test_logs_in_locally_selects_or_creates_and_runs_up(tmp_path, clone):
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone)
    assert done.returncode == 0, done.stderr
    assert calls == ["whoami", "login --local", "stack select --create dev", "up --stack dev"]


@pytest.mark.parametrize("make_args", [["STACK=home"], ["CONFIG=Pulumi.home.yaml"],
                                       ["STACK=home", "CONFIG=Pulumi.home.yaml"]])
def test_deploys_the_stack_named_by_its_name_or_its_file(tmp_path, clone, make_args):
    (clone / "Pulumi.home.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, *make_args, logged_in=True)
    assert done.returncode == 0, done.stderr
    assert calls[-2:] == ["stack select --create home", "up --stack home"]


@pytest.mark.parametrize("make_args, says", [
    (["STACK=dev", "CONFIG=Pulumi.home.yaml"], "give one of them"),
    (["CONFIG=elsewhere/Pulumi.home.yaml"], "move the file there"),
])
def test_never_deploys_another_stack_than_the_file_named(tmp_path, clone, make_args, says):
    (clone / "Pulumi.home.yaml").write_text(GOOD_STACK)
    (clone / "elsewhere").mkdir()
    (clone / "elsewhere" / "Pulumi.home.yaml").write_text(GOOD_STACK)
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, *make_args, logged_in=True)
    assert done.returncode != 0 and says in done.stderr and calls == []
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("stack, config, says", [
    ("", "home.yaml", "Pulumi.<stack>.yaml"), ("example", "", "example"),
    ("../dev", "", "stack name"), ("", "Pulumi.example.yaml", "example"),
])
def test_other_names_are_refused_before_anything_runs(tmp_path, stack, config, says):
    with pytest.raises(StackError, match=re.escape(says)):
        check_for_deploy(resolve(stack, config))


def test_keeps_an_existing_backend(tmp_path, clone):
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, logged_in=True)
    assert done.returncode == 0
    assert "login --local" not in calls and calls[-1] == "up --stack dev"


def test_missing_cli_is_explained(tmp_path, clone):
    done, calls = deploy(tmp_path, clone, with_pulumi=False)
    assert done.returncode != 0 and "Pulumi CLI" in done.stderr and calls == []


def test_missing_credentials_are_explained(tmp_path, clone):
    done, calls = deploy(tmp_path, clone, credentials=False)
    assert done.returncode != 0 and "AWS credentials" in done.stderr and calls == []


def test_first_use_copies_the_example_and_refuses_its_placeholder(tmp_path, clone):
    assert not (clone / "Pulumi.dev.yaml").exists()
    done, calls = deploy(tmp_path, clone)
    assert done.returncode != 0 and calls == []
    assert "created Pulumi.dev.yaml from Pulumi.example.yaml" in done.stderr
    assert "placeholder 1.2.3.4/32" in done.stderr and "checkip.amazonaws.com" in done.stderr
    assert (clone / "Pulumi.dev.yaml").read_text() == (clone / "Pulumi.example.yaml").read_text()


def test_the_placeholder_is_refused_through_make(tmp_path, clone):
    (clone / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs: [\"1.2.3.4/32\"]\n")
    done, calls = deploy(tmp_path, clone)
    assert done.returncode != 0 and "placeholder 1.2.3.4/32" in done.stderr and calls == []


@pytest.mark.parametrize("home", [
    "\n    - 1.2.3.4/32", " 1.2.3.4/32", " [1.2.3.4/32]", ' "1.2.3.4/32"', " '1.2.3.4'",
    " [\"1.2.3.4/32\", \"2a01:4f8:1:2::/64\"]", "\n  - 2a01:4f8:1:2::/64\n  - '1.2.3.4'",
])
def test_the_placeholder_is_refused_in_any_yaml_form(tmp_path, home):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(f"config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs:{home}\n")
    with pytest.raises(StackError, match="placeholder 1.2.3.4/32"):
        check_for_deploy(Stack("dev", path))


def test_invalid_settings_are_refused_before_pulumi_runs(tmp_path, clone):
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK.replace("eu-central-1", "eu-central-3"))
    done, calls = deploy(tmp_path, clone)
    assert done.returncode != 0 and calls == []
    assert "aws:region" in done.stderr and "eu-central-3" in done.stderr


def test_a_missing_region_is_refused_as_the_program_would(tmp_path, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  solarmonitor:homeCidrs: [8.8.8.8/32]\n")
    with pytest.raises(StackError, match="aws:region: not set"):
        check_for_deploy(Stack("dev", path))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # __main__.py reads it too
    check_for_deploy(Stack("dev", path))
