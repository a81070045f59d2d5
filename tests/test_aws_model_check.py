"""AWS's own rules on every AWS input (tools/aws_model_check.py): each rule family broken once on a
small resource, the engine and `make plan` stopping on a violation, and the whole program in its
default and full-options configurations passing."""

import json

import pulumi_aws as aws
import pytest

from conftest import shared_run
from tools import aws_model_check, plan
from tools.aws_model_check import MAPS, AwsModelError, check_resource, check_resources
from tools.mock_engine import run

ROLE_ARN = "arn:aws:iam::123456789012:role/backup"
DLM_POLICY = {
    "description": "daily snapshots", "executionRoleArn": ROLE_ARN, "state": "ENABLED",
    "policyDetails": {"resourceTypes": ["VOLUME"], "targetTags": {"backup": "yes"},
                      "schedules": [{"name": "daily", "copyTags": True,
                                     "createRule": {"interval": 24, "intervalUnit": "HOURS",
                                                    "times": "03:00"},
                                     "retainRule": {"count": 7}}]}}
EGRESS = {"securityGroupId": "sg-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0",
          "description": "packages and time"}


def rules(type_: str, inputs: dict, name: str = "thing") -> list[str]:
    return [v.rule for v in check_resource(name, type_, inputs)]


def test_valid_inputs_pass():
    assert rules("aws:dlm/lifecyclePolicy:LifecyclePolicy", DLM_POLICY) == []
    assert rules("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", EGRESS) == []


def test_pattern_the_dlm_description_of_the_issue():
    broken = {**DLM_POLICY, "description": "solarmonitor: daily snapshots of InfluxDB's data"}
    found = rules("aws:dlm/lifecyclePolicy:LifecyclePolicy", broken)
    assert any("CreateLifecyclePolicy Description: the model's pattern [0-9A-Za-z _-]+" in r
               for r in found), found
    assert any("internal/service/dlm/lifecycle_policy.go" in r for r in found), found


def test_pattern_applies_to_the_whole_value():
    # IAM's [\w+=,.@-]+ matches inside "backup role" too; AWS refuses the whole value.
    found = rules("aws:iam/role:Role", {"name": "backup role", "assumeRolePolicy": "{}"})
    assert found == ["iam CreateRole RoleName: the model's pattern [\\w+=,.@-]+"]


def test_length():
    found = rules("aws:lambda/function:Function", {
        "runtime": "python3.13", "role": ROLE_ARN, "handler": "a.b", "code": {"archive": []},
        "description": "x" * 257})
    assert found == ["lambda CreateFunction Description: at most 256 characters"]


def test_enum():
    found = rules("aws:ebs/volume:Volume", {"availabilityZone": "eu-central-1b", "size": 10,
                                           "type": "gp9", "encrypted": True})
    assert len(found) == 1 and found[0].startswith(
        "ec2 CreateVolume VolumeType: one of the model's enum standard, io1, io2, gp2"), found


def test_value_range():
    broken = json.loads(json.dumps(DLM_POLICY))
    broken["policyDetails"]["schedules"][0]["retainRule"]["count"] = 1001
    assert rules("aws:dlm/lifecyclePolicy:LifecyclePolicy", broken) == [
        "dlm CreateLifecyclePolicy PolicyDetails.Schedules[].RetainRule.Count: at most 1000"]


def test_required():
    found = rules("aws:sns/topicSubscription:TopicSubscription",
                  {"topic": "arn:aws:sns:eu-central-1:123456789012:alerts", "endpoint": "a@b.org"})
    assert found == ["sns Subscribe Protocol: required by the model, and no input fills it"]


def test_documented_characters_the_egress_description_of_the_issue():
    broken = {**EGRESS, "description": "packages, time, and the nodes' own connections"}
    (violation,) = check_resource("network-nodes-out-ipv4",
                                  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", broken)
    assert violation.input == "description"
    assert "IpPermissions[].IpRanges[].Description" in violation.rule
    assert "(not \"'\")" in violation.rule and "ec2 IpRange.Description" in violation.rule
    ipv6 = {**broken, "cidrIpv6": "::/0"}
    del ipv6["cidrIpv4"]
    assert "Ipv6Ranges[].Description" in rules(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", ipv6)[0]


def test_documented_values_across_members():
    found = rules("aws:cloudwatch/metricAlarm:MetricAlarm", {
        "namespace": "AWS/Lambda", "metricName": "Invocations", "statistic": "Sum",
        "period": 86400, "evaluationPeriods": 8, "threshold": 1,
        "comparisonOperator": "LessThanThreshold", "treatMissingData": "breaching"})
    assert len(found) == 1 and "at most 604800 s" in found[0], found


SCHEDULE = {"scheduleExpression": "at(2031-10-15T14:55:53)", "scheduleExpressionTimezone": "UTC",
            "flexibleTimeWindow": {"mode": "OFF"},
            "target": {"arn": "arn:aws:sns:eu-central-1:123456789012:alerts",
                       "roleArn": ROLE_ARN, "input": "a certificate ends"}}


@pytest.mark.parametrize("expression, good", [
    ("at(2031-10-15T14:55:53)", True), ("rate(5 minutes)", True), ("cron(0 3 * * ? *)", True),
    # What the model's text does not allow: a zone or fraction inside at() (the zone is its own
    # member), a space for the T, a day that does not exist, a unit it does not name.
    ("at(2031-10-15T14:55:53Z)", False), ("at(2031-10-15T14:55:53.000)", False),
    ("at(2031-10-15 14:55:53)", False), ("at(2031-02-30T14:55:53)", False),
    ("rate(2 weeks)", False), ("cron(0 3 * * ?)", False)])
def test_documented_format_the_schedulers_expressions(expression, good):
    found = rules("aws:scheduler/schedule:Schedule", {**SCHEDULE, "scheduleExpression": expression})
    assert (found == []) == good, found
    assert good or found[0].startswith("scheduler CreateSchedule ScheduleExpression: ")


def test_a_provider_validator_on_an_input_no_api_member_gets():
    found = rules("aws:ec2transitgateway/instanceState:InstanceState",
                  {"instanceId": "i-1", "state": "paused"})
    assert found == ["the provider's validator: one of running, stopped "
                     "(internal/service/ec2/ec2_instance_state.go, state: StringInSlice)"]


def test_the_provider_refuses_a_cidr_with_host_bits_and_a_payload_that_is_no_json():
    found = rules("aws:ec2/route:Route", {"routeTableId": "rtb-1", "gatewayId": "igw-1",
                                         "destinationCidrBlock": "10.42.0.1/16"})
    assert found == ["the provider's validator: an IPv4 CIDR whose host bits are zero "
                     "(internal/verify/validate.go, ValidIPv4CIDRNetworkAddress)"]
    found = rules("aws:lambda/invocation:Invocation", {"functionName": "f", "input": "{ipv4: 1}"})
    assert found and found[0].startswith("the provider's validator: valid JSON")


def test_an_autonamed_resource_is_checked_under_the_name_pulumi_gives_it():
    long_name = "a-role-whose-logical-name-alone-is-sixty-characters-long-xxxx"
    found = rules("aws:iam/role:Role", {"assumeRolePolicy": "{}"}, name=long_name)
    assert found == ["iam CreateRole RoleName: at most 64 characters"]


def test_a_type_without_a_map_fails_naming_it():
    (violation,) = check_resource("cache", "aws:elasticache/cluster:Cluster", {"engine": "redis"})
    assert violation.line() == ("cache (aws:elasticache/cluster:Cluster): tools/aws_model_check.py "
                                "has no map from this type's inputs to the AWS API; add one to MAPS")


def test_an_input_no_map_entry_places_fails_naming_it():
    found = check_resource("vol", "aws:ebs/volume:Volume", {
        "availabilityZone": "eu-central-1b", "size": 10, "iops": 3000})
    assert [(v.input, v.value) for v in found] == [("iops", 3000)]
    assert "no API member receives this input" in found[0].rule


def test_every_map_names_real_operations_and_members():
    # A typo in a map would place an input nowhere; each path must exist in botocore's model.
    for type_, api_map in MAPS.items():
        for call in api_map.calls:
            request = aws_model_check._Request(call)
            for api_path in [*call.members.values(), *call.filled, *call.constants]:
                assert request.shape_of(api_path), (type_, api_path)


def test_the_engine_stops_a_program_aws_would_refuse():
    def program():
        aws.sns.TopicSubscription("alerts-email", topic="arn:aws:sns:eu-central-1:1:t",
                                  protocol="e-mail", endpoint="owner@example.org")
    with pytest.raises(AwsModelError, match=r"^alerts-email \(aws:sns/topicSubscription:"
                                            r"TopicSubscription\): input protocol = 'e-mail'"):
        run(program)


def test_make_plan_refuses_it_with_one_line(tmp_path, monkeypatch, capsys):
    def broken_program(config, stack="dev"):
        return run(lambda: aws.ec2.SecurityGroup("nodes", description="the nodes' group",
                                                 vpc_id="vpc-1"))
    monkeypatch.setattr(plan, "run_program", broken_program)
    config = tmp_path / "Pulumi.test.yaml"
    config.write_text("config:\n  aws:region: eu-central-1\n")
    assert plan.main(["--config", str(config), "--out", str(tmp_path / "plan")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: nodes (aws:ec2/securityGroup:SecurityGroup)")
    assert "input description" in err[0] and "CreateSecurityGroup Description" in err[0]


@pytest.mark.parametrize("full", [False, True], ids=["default", "full"])
def test_the_whole_program_passes_every_rule(layout, full):
    # The engine already refuses any run with a violation (every program test is checked); this
    # says it for the default and the full-options stacks, and that every AWS type has a map.
    result = shared_run(layout, full)
    assert {r.type for r in result.resources if r.custom and r.type.startswith("aws:")} <= set(MAPS)
    assert check_resources(result.resources) == []
