"""`make deploy` in a fresh clone, with the fake `pulumi` (tests/fakes/pulumi) on PATH recording
its arguments and a stand-in for Lambda's account API (tests/lambda_account.py) at the endpoint
botocore takes from AWS_ENDPOINT_URL_LAMBDA: the stack it deploys is always the one whose file
was named, nothing reaches Pulumi before the settings are checked, and the Pi's function keeps
its reserved concurrency wherever the account's quota allows it."""

import json
import re
import socket
import subprocess

import pytest

from components.ip_guard import CONCURRENCY
from conftest import ROOT
from fresh_clone import fresh_clone
from lambda_account import LambdaAccount, checked
from tools import lambda_concurrency
from tools.deployer_actions import DEPLOY_ACTIONS
from tools.lambda_concurrency import AccountConcurrency
from tools.stack_file import Stack, StackError, check_for_deploy, resolve

GOOD_STACK = "config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs:\n    - 8.8.8.8/32\n"
KEY = "solarmonitor:ipGuardReserveConcurrency"
UP = ["up", "--stack", "dev"]
UP_WITHOUT_RESERVATION = [*UP, "--config", f"{KEY}=false"]


@pytest.fixture
def clone(tmp_path):
    return fresh_clone(tmp_path / "clone")


def deploy(tmp_path, clone, *make_args, with_pulumi=True, credentials=True, logged_in=False,
           account=None, outputs=None):
    """`make deploy`, its Lambda calls answered by `account` (a quota of 1000 when left out);
    `outputs`: the stack's outputs, as after an earlier deploy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if with_pulumi and not (bin_dir / "pulumi").exists():
        (bin_dir / "pulumi").symlink_to(ROOT / "tests" / "fakes" / "pulumi")
    calls = tmp_path / "calls"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "PULUMI_CALLS": str(calls),
           "PULUMI_ARGV": str(tmp_path / "argv"),
           "FAKE_LOGGED_IN": "yes" if logged_in else "no", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}
    if credentials:
        env.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example")
    if outputs is not None:
        fixture = tmp_path / "outputs.json"
        fixture.write_text(json.dumps({"outputs": outputs, "secrets": []}))
        env["FAKE_PULUMI_OUTPUTS"] = str(fixture)
    standing_in = account or LambdaAccount()
    env["AWS_ENDPOINT_URL_LAMBDA"] = standing_in.url
    try:
        done = subprocess.run(["make", "-s", "deploy", *make_args], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        if account is None:
            standing_in.close()
    lines = calls.read_text().splitlines() if calls.exists() else []
    return done, lines


def up_argv(tmp_path) -> list[str]:
    """The exact arguments of the one `pulumi up` the deploy ran."""
    argv = [json.loads(line) for line in (tmp_path / "argv").read_text().splitlines()]
    ups = [call for call in argv if call[0] == "up"]
    assert len(ups) == 1, argv
    return ups[0]


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


# --- the Pi's function's reserved concurrency and the account's Lambda quota ------------------

@pytest.fixture
def account():
    accounts = []

    def make(**figures):
        accounts.append(LambdaAccount(**figures))
        return accounts[-1]
    yield make
    for each in accounts:
        each.close()


def test_a_quota_that_spares_the_reservation_keeps_it_quietly(tmp_path, clone, account):
    aws = account(quota=1000, unreserved=1000)
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, account=aws)
    assert done.returncode == 0, done.stderr
    assert up_argv(tmp_path) == UP and aws.asked == ["GetAccountSettings"]
    assert "ipGuardReserveConcurrency" not in done.stderr + done.stdout


def test_a_new_accounts_quota_of_10_deploys_without_it_and_says_why(tmp_path, clone, account):
    aws = account(quota=10, unreserved=10)
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, account=aws)
    assert done.returncode == 0, done.stderr
    assert up_argv(tmp_path) == UP_WITHOUT_RESERVATION
    # No function of this stack could hold a reservation in such an account: nothing else asked.
    assert aws.asked == ["GetAccountSettings"] and not any("stack output" in c for c in calls)
    notes = [line for line in done.stderr.splitlines() if line.startswith("note: ")]
    said = " ".join(notes)
    assert len(notes) == 3 and "reserved by other functions" not in said, notes
    assert "may run 10 Lambda executions at a time in eu-central-1" in notes[0]
    assert "AWS itself then caps its calls at 10 at a time" in notes[1]
    assert f"{KEY}=false, which pulumi up --config saves in Pulumi.dev.yaml" in notes[1]
    assert '"Concurrent executions" to 101 or more (Service Quotas > AWS Lambda)' in notes[2]
    assert f"{KEY}: true in Pulumi.dev.yaml" in notes[2]


FUNCTION = "ipguard-function-1a2b3c4"


def test_a_later_deploy_counts_the_reservation_its_function_already_holds(tmp_path, clone,
                                                                           account):
    # Other functions leave 100 unreserved; this stack's function holds 1 already, which AWS
    # counts out of the unreserved figure: it may keep it.
    aws = account(quota=1000, unreserved=100, reservations={FUNCTION: 1})
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, account=aws, logged_in=True,
                         outputs={"ipGuardFunctionName": FUNCTION})
    assert done.returncode == 0, done.stderr
    assert up_argv(tmp_path) == UP and "ipGuardReserveConcurrency" not in done.stderr
    assert calls.index("stack output ipGuardFunctionName --stack dev") < calls.index(
        "up --stack dev")
    assert aws.asked == ["GetAccountSettings", "GetFunction"]
    # Every call the deploy makes is in the deploying user's policy.
    assert {f"lambda:{operation}" for operation in aws.asked} <= set(DEPLOY_ACTIONS)


def test_a_setting_in_the_file_is_kept_and_aws_not_asked(tmp_path, clone, account):
    aws = account(quota=10, unreserved=10)
    # As `pulumi up --config` saves it: a string.
    (clone / "Pulumi.dev.yaml").write_text(f'{GOOD_STACK}  {KEY}: "false"\n')
    done, calls = deploy(tmp_path, clone, account=aws)
    assert done.returncode == 0, done.stderr
    assert up_argv(tmp_path) == UP and aws.asked == []
    assert "ipGuardReserveConcurrency" not in done.stderr


def test_a_refused_question_warns_and_deploys_with_the_setting_as_it_is(tmp_path, clone,
                                                                        account):
    aws = account(denied=True)
    (clone / "Pulumi.dev.yaml").write_text(GOOD_STACK)
    done, calls = deploy(tmp_path, clone, account=aws)
    assert done.returncode == 0, done.stderr
    assert up_argv(tmp_path) == UP
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and "AccessDeniedException" in warnings[0], warnings
    assert "lambda:GetAccountSettings" in warnings[0] and "as it is (true" in warnings[0]
    assert "ipGuardReserveConcurrency in the README" in warnings[1]


# The same decision without make around it (each make run costs seconds).

@pytest.fixture
def decide(tmp_path, monkeypatch):
    """tools/lambda_concurrency.py's decision for stack dev, in deploy.sh's surroundings (AWS
    keys, the fake pulumi) with `setting` added to its file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").symlink_to(ROOT / "tests" / "fakes" / "pulumi")
    for name, value in {"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "example", "AWS_CONFIG_FILE": "/dev/null",
                        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "FAKE_LOGGED_IN": "yes",
                        "PULUMI_CALLS": str(tmp_path / "calls")}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "FAKE_PULUMI_OUTPUTS"):
        monkeypatch.delenv(name, raising=False)

    def decision(setting="", lambda_url=None, outputs=None):
        path = tmp_path / "Pulumi.dev.yaml"
        path.write_text(GOOD_STACK + setting)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambda_url)
        if outputs is not None:
            fixture = tmp_path / "outputs.json"
            fixture.write_text(json.dumps({"outputs": outputs, "secrets": []}))
            monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", str(fixture))
        return lambda_concurrency.decide(Stack("dev", path))
    return decision


@pytest.mark.parametrize("outputs, reservations", [
    (None, {}),  # never deployed
    ({"ipGuardFunctionName": FUNCTION}, {FUNCTION: None}),  # deployed without one
    ({"ipGuardFunctionName": FUNCTION}, {}),  # its function deleted by hand
])
def test_without_a_reservation_held_100_unreserved_are_too_few(decide, account, capsys,
                                                                outputs, reservations):
    aws = account(quota=1000, unreserved=100, reservations=reservations)
    assert decide(lambda_url=aws.url, outputs=outputs) == f"{KEY}=false"
    assert aws.asked == ["GetAccountSettings"] + (["GetFunction"] if outputs else [])
    said = capsys.readouterr().err
    assert "900 of them reserved by other functions" in said
    assert "caps its calls at 100 at a time" in said
    assert '"Concurrent executions" to 1001 or more' in said


@pytest.mark.parametrize("setting", ["true", "false"])
def test_a_yaml_boolean_in_the_file_is_kept_too(decide, account, setting):
    aws = account(quota=10, unreserved=10)
    assert decide(f"  {KEY}: {setting}\n", lambda_url=aws.url) is None and aws.asked == []


def test_an_unreachable_lambda_api_warns_and_leaves_the_setting(decide, capsys):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    assert decide(lambda_url=closed) is None
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and "Could not connect" in warnings[0], warnings


def test_an_answer_without_the_figures_warns_and_leaves_the_setting(decide, account, capsys):
    aws = account(quota=None, unreserved=None)  # every member is optional in the model
    assert decide(lambda_url=aws.url) is None
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and "without the concurrency figures" in warnings[0], warnings


@pytest.mark.parametrize("quota, unreserved, held, fits", [
    (1000, 1000, 0, True), (1000, 101, 0, True), (1000, 100, 0, False), (1000, 100, 1, True),
    (101, 101, 0, True), (100, 100, 0, False), (50, 50, 0, False), (10, 10, 0, False),
    (10, 9, 1, False),
])
def test_awss_rule_leaves_100_unreserved_so_a_quota_below_101_reserves_nothing(
        quota, unreserved, held, fits):
    assert AccountConcurrency(quota, unreserved).fits(held) is fits


def test_the_deploy_check_reserves_what_the_program_reserves():
    assert lambda_concurrency.RESERVED == CONCURRENCY


@pytest.mark.parametrize("operation, answer", [
    ("GetAccountSettings", {"AccountLimit": {"UnreservedConcurrentExecutions": -1}}),
    ("GetAccountSettings", {"AccountLimit": {"ConcurrentExecutions": "10"}}),
    ("GetFunction", {"Concurrency": {"ReservedConcurrentExecutions": -1}}),
    ("GetFunction", {"ReservedConcurrentExecutions": 1}),
])
def test_the_stand_in_serves_only_what_lambdas_model_allows(operation, answer):
    with pytest.raises(ValueError, match=f"not a {operation} answer"):
        checked(operation, answer)
