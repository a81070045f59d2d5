"""Every IAM policy the program writes, read by parliament (PyPI, Duo Labs' IAM linter, with
AWS's table of actions and the resource formats each accepts). A misspelt action or an ARN of
the wrong shape grants nothing, and moto, which the Lambda's and the agent's tests run against,
authorizes nothing unless asked to (moto docs/docs/iam.rst, INITIAL_NO_AUTH_ACTION_COUNT), so no
other test would notice that the Lambda could not set the group, the Pi could not invoke it or
Grafana could not publish. The ARNs come from the mock engine in AWS's own formats
(tools/mock_engine.py `_arn`)."""

import json

import pytest
from parliament import analyze_policy_string

POLICY_TYPES = {"aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy",
                "aws:iam/policy:Policy"}


def findings(policy: str) -> list[tuple[str, object]]:
    return [(f.issue, f.detail) for f in analyze_policy_string(
        policy, include_community_auditors=False).findings]


def policies(run) -> dict[str, str]:
    return {r.name: r.raw_inputs["policy"] for r in run.resources if r.type in POLICY_TYPES}


def test_the_program_writes_the_policies_this_test_reads(full_run):
    assert set(policies(full_run)) == {"ipguard-role-policy", "ipguard-pi-policy",
                                       "alerts-grafana-publish", "alerts-expiry-publish"}


@pytest.mark.parametrize("name", ["ipguard-role-policy", "ipguard-pi-policy",
                                  "alerts-grafana-publish", "alerts-expiry-publish"])
def test_every_action_exists_and_every_resource_fits_it(full_run, name):
    policy = policies(full_run)[name]
    assert json.loads(policy)["Statement"]
    assert findings(policy) == []


def test_the_linter_names_a_misspelt_action_and_a_resource_of_the_wrong_shape():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:AuthorizeSecurityGroupIngres", "Resource": "*"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": "arn:aws:lambda:eu-central-1:123456789012:function/ipguard"}]})
    issues = {issue for issue, _ in findings(policy)}
    assert issues == {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"}
