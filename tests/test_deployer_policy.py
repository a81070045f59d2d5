"""`make deployer-policy`: the deploying user's least IAM policy, from what the program creates.

Every `aws:` type the program creates (default and every optional part on) and every data source
it reads has its actions in tools/deployer_actions.py; parliament (AWS's action and resource
tables) finds nothing in the policy, RESOURCE_STAR included: no action IAM can bound by resource
is granted on "*". What a stolen key could do is bounded by those resources, which only AWS can
evaluate: moto's IAM checks actions but matches every request against Resource "*"
(moto/iam/access_control.py: "once the Resource element in IAM policies is supported").
`make deployer-policy` itself runs in the README's doc test (tests/test_readme.py)."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from tools import mock_engine
from tools.deployer_actions import ACTIONS, DATA_SOURCES
from tools.deployer_policy import created_types, policy


@pytest.fixture(scope="module")
def document(dev_run, full_run):
    return policy([dev_run, full_run], "eu-central-1")


def test_every_type_the_program_creates_has_its_actions(dev_run, full_run):
    # make deployer-policy runs the program once, alerts on: it then makes every type.
    assert created_types([dev_run]) <= created_types([full_run])
    types = created_types([dev_run, full_run])
    assert "aws:sns/topic:Topic" in types and "aws:ec2/instance:Instance" in types
    assert types <= set(ACTIONS), sorted(types - set(ACTIONS))


def test_every_data_source_the_program_reads_has_its_actions(monkeypatch):
    from conftest import FULL_OVERRIDES, dev_config
    read = set()
    answer = mock_engine.RecordingMocks.call

    def recording(self, args):
        read.add(args.token)
        return answer(self, args)
    monkeypatch.setattr(mock_engine.RecordingMocks, "call", recording)
    mock_engine.run_program(dev_config(**FULL_OVERRIDES))
    assert read and read <= set(DATA_SOURCES), sorted(read - set(DATA_SOURCES))


def test_every_entry_names_its_sources_and_lists_actions_of_one_form():
    for type_, entry in ACTIONS.items():
        assert entry.sources and entry.create and entry.actions, type_
        for action in entry.actions:
            service, _, name = action.partition(":")
            assert service.islower() and name[:1].isupper(), (type_, action)


def test_parliament_accepts_the_policy(document):
    findings = analyze_policy_string(json.dumps(document), include_community_auditors=False).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_the_policy_holds_every_action_of_every_created_type(document, dev_run, full_run):
    granted = set()
    for statement in document["Statement"]:
        granted |= set([statement["Action"]] if isinstance(statement["Action"], str)
                       else statement["Action"])
    for type_ in created_types([dev_run, full_run]):
        assert set(ACTIONS[type_].actions) <= granted, type_
    assert "lambda:InvokeFunction" in granted  # the seeding invocation (pike says InvokeAsync)


def test_roles_are_passed_only_to_their_services_and_only_the_dlm_policy_attached(
        document, full_run):
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    passing = by_sid["PassRoles"]
    # Exactly the services the program's roles trust (their assume-role policies' principals).
    trusted = {statement["Principal"]["Service"]
               for role in full_run.find("aws:iam/role:Role")
               for statement in json.loads(role.raw_inputs["assumeRolePolicy"])["Statement"]}
    assert "scheduler.amazonaws.com" in trusted
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == trusted
    assert all(":role/" in arn and arn.endswith("-*") for arn in passing["Resource"])
    attaching = by_sid["AttachManaged"]
    assert attaching["Condition"]["ArnEquals"]["iam:PolicyARN"] == [
        "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"]
    for statement in document["Statement"]:
        if statement["Resource"] != "*":
            assert all(arn.startswith("arn:aws:iam::*:") or ":eu-central-1:" in arn
                       for arn in statement["Resource"]), statement["Sid"]


def test_it_fits_one_managed_policy_in_the_longest_named_region(dev_run, full_run):
    """IAM takes 6,144 characters in a managed policy, whitespace not counted (AWS IAM quotas)."""
    import boto3
    longest = max(boto3.Session().get_available_regions("ec2"), key=len)
    compact = json.dumps(policy([dev_run, full_run], longest), separators=(",", ":"))
    assert len(compact) <= 6144, len(compact)


def test_make_deploys_own_calls_are_granted_and_bound_where_iam_can(document):
    """tools/lambda_concurrency.py: the account's figures (IAM binds them to no resource) and the
    stack's own function (bound to the stack's functions)."""
    from tools.deployer_actions import DEPLOY_ACTIONS
    by_action = {}
    for statement in document["Statement"]:
        for action in [statement["Action"]] if isinstance(statement["Action"], str) \
                else statement["Action"]:
            by_action[action] = statement["Resource"]
    assert set(DEPLOY_ACTIONS) <= set(by_action)
    assert by_action["lambda:GetAccountSettings"] == "*"
    assert by_action["lambda:GetFunction"] == ["arn:aws:lambda:eu-central-1:*:function:ipguard-*"]
