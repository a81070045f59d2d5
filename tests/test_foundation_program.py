"""The real program under the recording mock engine: network and IpGuard resources."""

import configparser
import json

import pulumi
import pytest

from components.ip_guard import LAMBDA_RUNTIME
from components.network import ipv6_subnet


def policy(resource) -> dict:
    return json.loads(resource.raw_inputs["policy"])


def test_vpc_is_dual_stack_with_subnets_and_routes(dev_run):
    vpc = dev_run.one("aws:ec2/vpc:Vpc", "network-vpc")
    assert vpc.inputs["assignGeneratedIpv6CidrBlock"] is True
    subnets = dev_run.find("aws:ec2/subnet:Subnet")
    assert {s.name for s in subnets} == {"network-public", "network-private", "network-ipv6"}
    for subnet in subnets:
        assert subnet.inputs["assignIpv6AddressOnCreation"] is True
        assert subnet.inputs["ipv6CidrBlock"].endswith("/64")
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    public_rt = dev_run.one("aws:ec2/routeTable:RouteTable", "network-public-rt")
    destinations = {r.get("cidrBlock") or r.get("ipv6CidrBlock") for r in public_rt.inputs["routes"]}
    assert destinations == {"0.0.0.0/0", "::/0"}
    out6 = dev_run.one("aws:ec2/route:Route", "network-private-ipv6-out")
    assert out6.inputs["destinationIpv6CidrBlock"] == "::/0" and out6.inputs["egressOnlyGatewayId"]
    assert len(dev_run.find("aws:ec2/routeTableAssociation:RouteTableAssociation")) == 3


def test_default_security_group_is_emptied(dev_run):
    default = dev_run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "network-default-sg")
    assert default.inputs["ingress"] == [] and default.inputs["egress"] == []


def test_ipv6_subnets_are_carved_from_the_vpc_block():
    assert ipv6_subnet("2001:db8:42:4200::/56", 0) == "2001:db8:42:4200::/64"
    assert ipv6_subnet("2001:db8:42:4200::/56", 1) == "2001:db8:42:4201::/64"
    with pytest.raises(ValueError):
        ipv6_subnet("2001:db8::/48", 1)


def test_home_group_rules_are_owned_by_the_lambda_only(dev_run):
    group = dev_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home")
    assert "ingress" not in group.inputs
    assert not [r for r in dev_run.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if r.raw_inputs.get("securityGroupId") == group.id]


def test_lambda_runtime_architecture_environment_and_logs(dev_run):
    function = dev_run.one("aws:lambda/function:Function", "ipguard-function")
    assert function.inputs["runtime"] == LAMBDA_RUNTIME
    assert tuple(map(int, LAMBDA_RUNTIME.removeprefix("python").split("."))) >= (3, 12)
    assert function.inputs["architectures"] == ["arm64"]
    assert function.inputs["handler"] == "ip_guard.handler"
    variables = function.raw_inputs["environment"]["variables"]
    group = dev_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home")
    assert variables == {"SECURITY_GROUP_ID": group.id, "PORTS": "22,8883,3000"}
    assert function.raw_inputs["code"]["archive"] == ["home_address.py", "ip_guard.py"]
    logs = dev_run.one("aws:cloudwatch/logGroup:LogGroup", "ipguard-logs")
    assert 1 <= logs.inputs["retentionInDays"] <= 365
    assert function.raw_inputs["loggingConfig"]["logGroup"] == logs.outputs["name"]


def test_lambda_role_may_change_only_the_home_group(dev_run):
    role = dev_run.one("aws:iam/role:Role", "ipguard-role")
    trust = json.loads(role.raw_inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    group = dev_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home")
    logs = dev_run.one("aws:cloudwatch/logGroup:LogGroup", "ipguard-logs")
    statements = policy(dev_run.one("aws:iam/rolePolicy:RolePolicy", "ipguard-role-policy"))
    for statement in statements["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        writes = [a for a in actions if not a.startswith("ec2:Describe")]
        if writes:
            assert statement["Resource"] in (group.outputs["arn"], logs.outputs["arn"] + ":*")
            assert "*" not in statement["Resource"].replace(":*", "")
    ec2_writes = [s for s in statements["Statement"] if "ec2:AuthorizeSecurityGroupIngress" in s["Action"]]
    assert ec2_writes[0]["Resource"] == group.outputs["arn"]
    assert set(ec2_writes[0]["Action"]) == {"ec2:AuthorizeSecurityGroupIngress",
                                            "ec2:RevokeSecurityGroupIngress"}


def test_pi_user_may_invoke_that_one_function_only(dev_run):
    function = dev_run.one("aws:lambda/function:Function", "ipguard-function")
    statements = policy(dev_run.one("aws:iam/userPolicy:UserPolicy", "ipguard-pi-policy"))["Statement"]
    assert statements == [{"Sid": "InvokeIpGuard", "Effect": "Allow",
                           "Action": "lambda:InvokeFunction", "Resource": function.outputs["arn"]}]
    key = dev_run.one("aws:iam/accessKey:AccessKey", "ipguard-pi-key")
    assert key.raw_inputs["user"] == dev_run.one("aws:iam/user:User", "ipguard-pi").outputs["name"]


def test_the_pis_function_runs_once_at_a_time_and_keeps_no_async_backlog(dev_run, run):
    """What a stolen Pi key can flood: one execution at a time. The deploy's seeder is another
    function, so neither a flood nor the agent can throttle `pulumi up`'s seed."""
    function = dev_run.one("aws:lambda/function:Function", "ipguard-function")
    assert function.inputs["reservedConcurrentExecutions"] == 1
    seeder = dev_run.one("aws:lambda/function:Function", "ipguard-seeder")
    assert "reservedConcurrentExecutions" not in seeder.inputs
    limits = dev_run.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
                         "ipguard-async-limits")
    assert limits.raw_inputs["functionName"] == function.outputs["name"]
    assert (limits.inputs["maximumEventAgeInSeconds"], limits.inputs["maximumRetryAttempts"]) == (
        60, 0)
    uncapped = run(ipGuardReserveConcurrency=False).one("aws:lambda/function:Function",
                                                         "ipguard-function")
    assert "reservedConcurrentExecutions" not in uncapped.inputs


def test_invocation_seeds_the_group_with_home_cidrs(run):
    result = run(homeCidrs=["8.8.8.8", "2a01:4f8:1:2::/64"])
    invocation = result.one("aws:lambda/invocation:Invocation", "ipguard-seed")
    assert json.loads(invocation.raw_inputs["input"]) == {
        "ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:2::/64"}
    seeder = result.one("aws:lambda/function:Function", "ipguard-seeder")
    assert invocation.raw_inputs["functionName"] == seeder.outputs["name"]
    # The deploy's entry point raises when the group was not set; the Pi's keeps answering.
    assert seeder.raw_inputs["handler"] == "ip_guard.seed_handler"
    function = result.one("aws:lambda/function:Function", "ipguard-function")
    assert seeder.raw_inputs["environment"] == function.raw_inputs["environment"]
    assert seeder.raw_inputs["code"] == function.raw_inputs["code"]


def test_a_change_of_guarded_ports_seeds_again(run):
    before = run().one("aws:lambda/invocation:Invocation", "ipguard-seed")
    after = run(mqttPlaintext=True).one("aws:lambda/invocation:Invocation", "ipguard-seed")
    assert before.raw_inputs["input"] == after.raw_inputs["input"]
    assert before.raw_inputs["triggers"]["ports"] == "22,8883,3000"
    assert after.raw_inputs["triggers"]["ports"] == "22,8883,3000,1883"


def test_outputs_and_their_secrecy(dev_run):
    for name in ("securityGroupId", "ipGuardFunctionName", "piAccessKeyId", "piSecretAccessKey",
                 "piAgentConfig", "monthlyCostUsd"):
        assert name in dev_run.outputs
    assert {"piSecretAccessKey", "piAgentConfig"} <= dev_run.secret_outputs
    assert not {"securityGroupId", "ipGuardFunctionName", "piAccessKeyId"} & dev_run.secret_outputs
    assert dev_run.masked_outputs()["piSecretAccessKey"] == "[secret]"


def test_pi_agent_config_is_the_agents_ini(dev_run):
    ini = configparser.ConfigParser()
    ini.read_string(dev_run.outputs["piAgentConfig"])
    assert ini["aws"]["function_name"] == dev_run.outputs["ipGuardFunctionName"]
    assert ini["aws"]["access_key_id"] == dev_run.outputs["piAccessKeyId"]
    assert ini["aws"]["secret_access_key"] == dev_run.outputs["piSecretAccessKey"]
    assert ini["aws"]["region"] == "eu-central-1"
    assert ini["detect"]["fritzbox_url"] == "http://fritz.box:49000"
    assert ini["state"]["path"]


def test_invalid_config_stops_before_any_resource(run):
    from tools import mock_engine
    engine_records = []
    original = mock_engine.RecordingMonitor.RegisterResource

    def recording(self, request):
        engine_records.append(request.type)
        return original(self, request)

    mock_engine.RecordingMonitor.RegisterResource = recording
    try:
        with pytest.raises(pulumi.RunError, match="solarmonitor:homeCidrs"):
            run(homeCidrs=["0.0.0.0/0"])
    finally:
        mock_engine.RecordingMonitor.RegisterResource = original
    assert [t for t in engine_records if t != "pulumi:pulumi:Stack"] == []
