"""What the Pi's AWS key can do, tried against moto with IAM enforced (moto docs/docs/iam.rst:
`set_initial_no_auth_action_count`): the user and its policy as the program writes them.

moto checks a Lambda call against the resource "*" (moto/core/responses.py `call_action`: the
Lambda responses have no `_determine_resource`), so it denies even the invoke that the policy
allows on the function's ARN, and cannot tell that ARN from another: that the policy names this
one function alone is asserted in test_foundation_program.py and linted in test_iam_policies.py.
What moto does decide faithfully is the action, and that is what this test tries."""

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

REGION = "eu-central-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ip_guard.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch):
    for name, value in (("AWS_DEFAULT_REGION", REGION), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_the_pi_key_can_neither_change_nor_read_anything(aws, dev_run):
    iam, lam, ec2 = boto3.client("iam"), boto3.client("lambda"), boto3.client("ec2")
    role = iam.create_role(RoleName="ipguard-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    functions = {name: lam.create_function(
        FunctionName=name, Runtime="python3.13", Role=role["Role"]["Arn"],
        Handler="ip_guard.handler", Code={"ZipFile": _zip()})["FunctionArn"]
        for name in ("ipguard-function", "ipguard-seeder")}
    lam.put_function_concurrency(FunctionName="ipguard-function", ReservedConcurrentExecutions=1)
    group = ec2.create_security_group(GroupName="home", Description="home")["GroupId"]

    # The Pi user's policy as the program renders it, naming moto's function instead.
    program_arn = dev_run.one("aws:lambda/function:Function", "ipguard-function").outputs["arn"]
    policy = dev_run.one("aws:iam/userPolicy:UserPolicy", "ipguard-pi-policy").raw_inputs["policy"]
    iam.create_user(UserName="pi")
    iam.put_user_policy(UserName="pi", PolicyName="pi",
                        PolicyDocument=policy.replace(program_arn, functions["ipguard-function"]))
    key = iam.create_access_key(UserName="pi")["AccessKey"]
    pi = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)

    attempts = {
        # Lift the flood cap, or change what the function does or may do.
        "lambda:DeleteFunctionConcurrency": lambda c: c.delete_function_concurrency(
            FunctionName="ipguard-function"),
        "lambda:PutFunctionConcurrency": lambda c: c.put_function_concurrency(
            FunctionName="ipguard-function", ReservedConcurrentExecutions=1000),
        "lambda:UpdateFunctionCode": lambda c: c.update_function_code(
            FunctionName="ipguard-function", ZipFile=_zip()),
        "lambda:UpdateFunctionConfiguration": lambda c: c.update_function_configuration(
            FunctionName="ipguard-function", Environment={"Variables": {"PORTS": "1-65535"}}),
        "lambda:AddPermission": lambda c: c.add_permission(
            FunctionName="ipguard-function", StatementId="x", Action="lambda:InvokeFunction",
            Principal="*"),
        "lambda:GetFunction": lambda c: c.get_function(FunctionName="ipguard-function"),
        "lambda:ListFunctions": lambda c: c.list_functions(),
        "ec2:AuthorizeSecurityGroupIngress": lambda c: c.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[{"IpProtocol": "-1",
                                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]),
        "ec2:DescribeSecurityGroups": lambda c: c.describe_security_groups(GroupIds=[group]),
        "iam:CreateAccessKey": lambda c: c.create_access_key(UserName="pi"),
        "iam:ListUserPolicies": lambda c: c.list_user_policies(UserName="pi"),
    }

    @set_initial_no_auth_action_count(0)
    def as_the_pi():
        refused = {}
        for action, attempt in attempts.items():
            try:
                attempt(pi.client(action.split(":")[0]))
            except ClientError as error:
                refused[action] = error.response["ResponseMetadata"]["HTTPStatusCode"]
        return refused

    refused = as_the_pi()
    assert set(refused) == set(attempts), sorted(set(attempts) - set(refused))
    assert set(refused.values()) == {403}, refused  # denied, not failed for another reason
    assert lam.get_function_concurrency(FunctionName="ipguard-function")[
        "ReservedConcurrentExecutions"] == 1
