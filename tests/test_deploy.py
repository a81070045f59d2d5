"""`make deploy`'s script, run with a fake `pulumi` on PATH that records its arguments."""

import stat
import subprocess


from conftest import ROOT

FAKE_PULUMI = """#!/usr/bin/env bash
echo "$*" >> "$PULUMI_CALLS"
if [ "$1" = whoami ] && [ "${FAKE_LOGGED_IN:-no}" = no ]; then exit 255; fi
exit 0
"""


def deploy(tmp_path, with_pulumi=True, credentials=True, logged_in=False, stack_file=None):
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
    if stack_file:
        env["STACK"] = "ci"
        (ROOT / "Pulumi.ci.yaml").write_text(stack_file)
    try:
        done = subprocess.run([str(ROOT / "tools" / "deploy.sh")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        if stack_file:
            (ROOT / "Pulumi.ci.yaml").unlink()
    lines = calls.read_text().splitlines() if calls.exists() else []
    return done, lines


GOOD_STACK = "config:\n  solarmonitor:homeCidrs:\n    - 8.8.8.8/32\n"


def test_logs_in_locally_selects_or_creates_and_runs_up(tmp_path):
    done, calls = deploy(tmp_path, stack_file=GOOD_STACK)
    assert done.returncode == 0, done.stderr
    assert calls == ["whoami", "login --local", "stack select --create ci", "up --stack ci"]


def test_keeps_an_existing_backend(tmp_path):
    done, calls = deploy(tmp_path, logged_in=True, stack_file=GOOD_STACK)
    assert done.returncode == 0
    assert "login --local" not in calls and calls[-1] == "up --stack ci"


def test_missing_cli_is_explained(tmp_path):
    done, calls = deploy(tmp_path, with_pulumi=False)
    assert done.returncode != 0 and "Pulumi CLI" in done.stderr and calls == []


def test_missing_credentials_are_explained(tmp_path):
    done, calls = deploy(tmp_path, credentials=False)
    assert done.returncode != 0 and "AWS credentials" in done.stderr and calls == []


def test_placeholder_home_address_is_refused(tmp_path):
    done, calls = deploy(tmp_path)  # Pulumi.dev.yaml still holds the placeholder
    assert done.returncode != 0 and "placeholder" in done.stderr and calls == []
