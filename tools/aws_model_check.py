"""Every AWS input the program sets, checked against AWS's own rules before anything is created.

The mock engine records what the program asks the AWS provider for; the real provider turns
each resource's inputs into API calls, and AWS refuses a call whose members break its rules,
often after earlier calls have changed the account. Here each `aws:*` resource type has an
explicit map (MAPS) from its Pulumi inputs to the members of the API operations the provider
calls to create it, and the request so built is checked against:

- AWS's service model as botocore ships it (`botocore/data/<service>/<version>/service-2.json`,
  loaded with botocore's own Loader): required members, types, min/max length and value, enums
  and patterns;
- the rules the model states only in its documentation text (DOCUMENTED), and the provider's own
  validators where they are stricter (PROVIDER); each with the shape or provider file it is from.

A type the program creates without a map, or an input a map does not place, is refused too: the
next resource cannot slip past. Patterns are matched against the whole value, as AWS does: a
value that merely contains a match is refused (aws/aws-cli#790: a table name in quotes refused by
`[a-zA-Z0-9_.-]+`; the Terraform provider anchors the same patterns, e.g. `^[0-9A-Za-z _-]+$`
in internal/service/dlm/lifecycle_policy.go).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import regex
from botocore.loaders import Loader



def autoname(name: str) -> str:
    """The physical name Pulumi gives a resource the program leaves unnamed: the logical name, a
    dash and 7 random hex characters (pulumi.com/docs/iac/concepts/resources/names,
    "Autonaming"); here the 7 characters come from the name, so runs are repeatable."""
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"


class AwsModelError(ValueError):
    """A resource AWS would refuse; the message is the one line to show."""


@dataclass(frozen=True)
class Call:
    """One API call the provider makes for a resource, and which inputs it carries."""
    operation: str
    """"<botocore service>:<Operation>", e.g. "ec2:CreateSecurityGroup"."""
    members: Mapping[str, str]
    """Pulumi input path -> API member path. "a.b" goes into maps and structures, "a[]" over each
    element of a list (paired in order with the input's "[]"), "a[0]" into the first element. A
    scalar input placed on a list member becomes a one-element list; a map placed on a list of
    Key/Value (or Name/Value) structures becomes that list; a bool placed on an
    AttributeBooleanValue becomes {"Value": bool}."""
    filled: tuple[str, ...] = ()
    """Required API members the provider fills itself (ids of this or other resources)."""
    constants: Mapping[str, Any] = field(default_factory=dict)
    """Members the provider always sends with these values."""
    when: str | None = None
    """Only when this input is set (the provider picks the call's shape by it)."""
    each: str | None = None
    """Once per element of this list input; `members` are then relative to the element."""


@dataclass(frozen=True)
class ApiMap:
    calls: tuple[Call, ...]
    provider_only: Mapping[str, str] = field(default_factory=dict)
    """Inputs no API member receives, each with what the provider does with it instead."""
    autoname: str | None = None
    """The input Pulumi fills with "<logical name>-<7 characters>" when the program leaves it
    out."""


def _ec2_tags(resource_type: str, index: int = 0) -> tuple[dict, dict]:
    """The provider tags EC2 resources at creation (TagSpecifications with the resource type)."""
    return ({"tags": f"TagSpecifications[{index}].Tags"},
            {f"TagSpecifications[{index}].ResourceType": resource_type})


def _sg_rule(operation: str) -> tuple[Call, ...]:
    # internal/service/ec2/vpc_security_group_ingress_rule.go, expandIPPermission: the one source
    # (cidr_ipv4, cidr_ipv6, referenced group, prefix list) decides where the description goes.
    tags, constants = _ec2_tags("security-group-rule")
    common = {"securityGroupId": "GroupId", "ipProtocol": "IpPermissions[0].IpProtocol",
              "fromPort": "IpPermissions[0].FromPort", "toPort": "IpPermissions[0].ToPort", **tags}
    sources = {"cidrIpv4": ("IpRanges[0].CidrIp", "IpRanges[0].Description"),
               "cidrIpv6": ("Ipv6Ranges[0].CidrIpv6", "Ipv6Ranges[0].Description"),
               "referencedSecurityGroupId": ("UserIdGroupPairs[0].GroupId",
                                             "UserIdGroupPairs[0].Description"),
               "prefixListId": ("PrefixListIds[0].PrefixListId", "PrefixListIds[0].Description")}
    return tuple(Call(operation, {**common, source: f"IpPermissions[0].{target}",
                                  "description": f"IpPermissions[0].{description}"},
                      constants=constants, when=source)
                 for source, (target, description) in sources.items())


_TAGS_VPC, _RT_VPC = _ec2_tags("vpc")
_TAGS_SUBNET, _RT_SUBNET = _ec2_tags("subnet")
_TAGS_SG, _RT_SG = _ec2_tags("security-group")
_TAGS_IGW, _RT_IGW = _ec2_tags("internet-gateway")
_TAGS_EIGW, _RT_EIGW = _ec2_tags("egress-only-internet-gateway")
_TAGS_RTB, _RT_RTB = _ec2_tags("route-table")
_TAGS_KEY, _RT_KEY = _ec2_tags("key-pair")
_TAGS_VOL, _RT_VOL = _ec2_tags("volume")
_TAGS_EIP, _RT_EIP = _ec2_tags("elastic-ip")
_ROUTE_TARGETS = {"gatewayId": "GatewayId", "egressOnlyGatewayId": "EgressOnlyInternetGatewayId",
                  "networkInterfaceId": "NetworkInterfaceId", "natGatewayId": "NatGatewayId"}

# Pulumi type -> the calls that create it. Sources: each resource's create function in
# hashicorp/terraform-provider-aws (internal/service/<service>/<resource>.go), which pulumi-aws
# runs; autonaming from pulumi/pulumi-aws provider/resources.go (`name` everywhere, `keyName` for
# key pairs).
MAPS: dict[str, ApiMap] = {
    "aws:ec2/vpc:Vpc": ApiMap((
        Call("ec2:CreateVpc", {"cidrBlock": "CidrBlock",
                               "assignGeneratedIpv6CidrBlock": "AmazonProvidedIpv6CidrBlock",
                               **_TAGS_VPC}, constants=_RT_VPC),
        # ModifyVpcAttribute takes one attribute per call (its documentation).
        Call("ec2:ModifyVpcAttribute", {"enableDnsSupport": "EnableDnsSupport"}, ("VpcId",)),
        Call("ec2:ModifyVpcAttribute", {"enableDnsHostnames": "EnableDnsHostnames"}, ("VpcId",)),
    )),
    "aws:ec2/subnet:Subnet": ApiMap((
        Call("ec2:CreateSubnet", {"vpcId": "VpcId", "availabilityZone": "AvailabilityZone",
                                  "cidrBlock": "CidrBlock", "ipv6CidrBlock": "Ipv6CidrBlock",
                                  **_TAGS_SUBNET}, constants=_RT_SUBNET),
        Call("ec2:ModifySubnetAttribute", {"mapPublicIpOnLaunch": "MapPublicIpOnLaunch"},
             ("SubnetId",)),
        Call("ec2:ModifySubnetAttribute",
             {"assignIpv6AddressOnCreation": "AssignIpv6AddressOnCreation"}, ("SubnetId",)),
    )),
    # The default group is not created: the provider adopts it, tags it and revokes every rule
    # it has (internal/service/ec2/vpc_default_security_group.go).
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ApiMap(
        (Call("ec2:CreateTags", {"tags": "Tags"}, ("Resources",)),),
        provider_only={"vpcId": "selects the VPC whose default group is adopted "
                                "(DescribeSecurityGroups filter)",
                       "ingress": "declared empty: every existing rule is revoked",
                       "egress": "declared empty: every existing rule is revoked"}),
    "aws:ec2/internetGateway:InternetGateway": ApiMap((
        Call("ec2:CreateInternetGateway", dict(_TAGS_IGW), constants=_RT_IGW),
        Call("ec2:AttachInternetGateway", {"vpcId": "VpcId"}, ("InternetGatewayId",)),
    )),
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": ApiMap((
        Call("ec2:CreateEgressOnlyInternetGateway", {"vpcId": "VpcId", **_TAGS_EIGW},
             constants=_RT_EIGW),)),
    "aws:ec2/routeTable:RouteTable": ApiMap((
        Call("ec2:CreateRouteTable", {"vpcId": "VpcId", **_TAGS_RTB}, constants=_RT_RTB),
        Call("ec2:CreateRoute", {"cidrBlock": "DestinationCidrBlock",
                                 "ipv6CidrBlock": "DestinationIpv6CidrBlock", **_ROUTE_TARGETS},
             ("RouteTableId",), each="routes"),
    )),
    "aws:ec2/route:Route": ApiMap((
        Call("ec2:CreateRoute", {"routeTableId": "RouteTableId",
                                 "destinationCidrBlock": "DestinationCidrBlock",
                                 "destinationIpv6CidrBlock": "DestinationIpv6CidrBlock",
                                 **_ROUTE_TARGETS}),)),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ApiMap((
        Call("ec2:AssociateRouteTable", {"subnetId": "SubnetId", "routeTableId": "RouteTableId",
                                         "gatewayId": "GatewayId"}),)),
    "aws:ec2/securityGroup:SecurityGroup": ApiMap((
        Call("ec2:CreateSecurityGroup", {"name": "GroupName", "description": "Description",
                                         "vpcId": "VpcId", **_TAGS_SG}, constants=_RT_SG),),
        autoname="name"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ApiMap(
        _sg_rule("ec2:AuthorizeSecurityGroupIngress")),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ApiMap(
        _sg_rule("ec2:AuthorizeSecurityGroupEgress")),
    "aws:ec2/keyPair:KeyPair": ApiMap((
        Call("ec2:ImportKeyPair", {"keyName": "KeyName", "publicKey": "PublicKeyMaterial",
                                   **_TAGS_KEY}, constants=_RT_KEY),), autoname="keyName"),
    # internal/service/ec2/ec2_instance.go, buildInstanceOpts: with associate_public_ip_address
    # false (GetOk sees no value) the subnet, groups and address go at the top level.
    "aws:ec2/instance:Instance": ApiMap((
        Call("ec2:RunInstances", {
            "ami": "ImageId", "instanceType": "InstanceType", "subnetId": "SubnetId",
            "privateIp": "PrivateIpAddress", "vpcSecurityGroupIds": "SecurityGroupIds",
            "keyName": "KeyName", "ipv6Addresses[]": "Ipv6Addresses[].Ipv6Address",
            "ipv6AddressCount": "Ipv6AddressCount", "userData": "UserData",
            "iamInstanceProfile": "IamInstanceProfile.Name",
            "metadataOptions.httpEndpoint": "MetadataOptions.HttpEndpoint",
            "metadataOptions.httpTokens": "MetadataOptions.HttpTokens",
            "metadataOptions.httpPutResponseHopLimit": "MetadataOptions.HttpPutResponseHopLimit",
            "rootBlockDevice.volumeType": "BlockDeviceMappings[0].Ebs.VolumeType",
            "rootBlockDevice.volumeSize": "BlockDeviceMappings[0].Ebs.VolumeSize",
            "rootBlockDevice.encrypted": "BlockDeviceMappings[0].Ebs.Encrypted",
            "rootBlockDevice.deleteOnTermination": "BlockDeviceMappings[0].Ebs.DeleteOnTermination",
            "creditSpecification.cpuCredits": "CreditSpecification.CpuCredits",
            "tags": "TagSpecifications[0].Tags"},
            constants={"MinCount": 1, "MaxCount": 1,
                       # the image's root device, which the provider reads from the AMI
                       "BlockDeviceMappings[0].DeviceName": "/dev/sda1",
                       "TagSpecifications[0].ResourceType": "instance"}),
        # The root volume is tagged once the instance runs.
        Call("ec2:CreateTags", {"rootBlockDevice.tags": "Tags"}, ("Resources",)),
        Call("ec2:ModifyInstanceAttribute", {"sourceDestCheck": "SourceDestCheck"},
             ("InstanceId",)),
    ), provider_only={
        "associatePublicIpAddress": "false: subnet, groups and address go at the top level "
                                    "(true would move them into NetworkInterfaces[0])",
        "userDataReplaceOnChange": "replaces the instance when the user data changes"}),
    "aws:ec2transitgateway/instanceState:InstanceState": ApiMap(
        # internal/service/ec2/ec2_instance_state.go: StartInstances when it is stopped.
        (Call("ec2:StartInstances", {"instanceId": "InstanceIds"}),),
        provider_only={"state": "running: StartInstances if stopped, else nothing",
                       "force": "used only when stopping"}),
    "aws:ec2/eip:Eip": ApiMap((
        Call("ec2:AllocateAddress", {"domain": "Domain", **_TAGS_EIP}, constants=_RT_EIP),
        Call("ec2:AssociateAddress", {"instance": "InstanceId"}, ("AllocationId",)),
    )),
    "aws:ebs/volume:Volume": ApiMap((
        Call("ec2:CreateVolume", {"availabilityZone": "AvailabilityZone", "size": "Size",
                                  "type": "VolumeType", "encrypted": "Encrypted",
                                  "snapshotId": "SnapshotId", **_TAGS_VOL}, constants=_RT_VOL),)),
    "aws:ec2/volumeAttachment:VolumeAttachment": ApiMap(
        (Call("ec2:AttachVolume", {"deviceName": "Device", "volumeId": "VolumeId",
                                   "instanceId": "InstanceId"}),),
        provider_only={"stopInstanceBeforeDetaching": "on delete: StopInstances, then "
                                                      "DetachVolume (ebs_volume_attachment.go)"}),
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": ApiMap((
        Call("dlm:CreateLifecyclePolicy", {
            "description": "Description", "executionRoleArn": "ExecutionRoleArn",
            "state": "State", "tags": "Tags",
            "policyDetails.resourceTypes": "PolicyDetails.ResourceTypes",
            "policyDetails.targetTags": "PolicyDetails.TargetTags",
            "policyDetails.schedules[].name": "PolicyDetails.Schedules[].Name",
            "policyDetails.schedules[].copyTags": "PolicyDetails.Schedules[].CopyTags",
            "policyDetails.schedules[].createRule.interval":
                "PolicyDetails.Schedules[].CreateRule.Interval",
            "policyDetails.schedules[].createRule.intervalUnit":
                "PolicyDetails.Schedules[].CreateRule.IntervalUnit",
            "policyDetails.schedules[].createRule.times":
                "PolicyDetails.Schedules[].CreateRule.Times",
            "policyDetails.schedules[].retainRule.count":
                "PolicyDetails.Schedules[].RetainRule.Count"}),)),
    "aws:cloudwatch/logGroup:LogGroup": ApiMap((
        Call("logs:CreateLogGroup", {"name": "logGroupName", "tags": "tags"}),
        Call("logs:PutRetentionPolicy", {"retentionInDays": "retentionInDays"},
             ("logGroupName",)),
    ), autoname="name"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ApiMap((
        Call("cloudwatch:PutMetricAlarm", {
            "name": "AlarmName", "alarmDescription": "AlarmDescription",
            "namespace": "Namespace", "metricName": "MetricName", "dimensions": "Dimensions",
            "statistic": "Statistic", "period": "Period", "evaluationPeriods": "EvaluationPeriods",
            "datapointsToAlarm": "DatapointsToAlarm", "threshold": "Threshold",
            "comparisonOperator": "ComparisonOperator", "treatMissingData": "TreatMissingData",
            "actionsEnabled": "ActionsEnabled", "alarmActions": "AlarmActions",
            "okActions": "OKActions", "insufficientDataActions": "InsufficientDataActions",
            "warmUpConfiguration.warmUpPeriodDurationInMinutes":
                "WarmUpConfiguration.WarmUpPeriodDurationInMinutes",
            "warmUpConfiguration.onlyStartEvaluatingAfterWarmUpPeriodEnds":
                "WarmUpConfiguration.OnlyStartEvaluatingAfterWarmUpPeriodEnds",
            "tags": "Tags"}),), autoname="name"),
    "aws:iam/role:Role": ApiMap((
        Call("iam:CreateRole", {"name": "RoleName", "assumeRolePolicy": "AssumeRolePolicyDocument",
                                "path": "Path", "description": "Description", "tags": "Tags"}),),
        autoname="name"),
    "aws:iam/rolePolicy:RolePolicy": ApiMap((
        Call("iam:PutRolePolicy", {"role": "RoleName", "name": "PolicyName",
                                   "policy": "PolicyDocument"}),), autoname="name"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ApiMap((
        Call("iam:AttachRolePolicy", {"role": "RoleName", "policyArn": "PolicyArn"}),)),
    "aws:iam/user:User": ApiMap((
        Call("iam:CreateUser", {"name": "UserName", "path": "Path", "tags": "Tags"}),),
        autoname="name"),
    "aws:iam/userPolicy:UserPolicy": ApiMap((
        Call("iam:PutUserPolicy", {"user": "UserName", "name": "PolicyName",
                                   "policy": "PolicyDocument"}),), autoname="name"),
    "aws:iam/accessKey:AccessKey": ApiMap((Call("iam:CreateAccessKey", {"user": "UserName"}),)),
    "aws:iam/instanceProfile:InstanceProfile": ApiMap((
        Call("iam:CreateInstanceProfile", {"name": "InstanceProfileName", "path": "Path",
                                           "tags": "Tags"}),
        Call("iam:AddRoleToInstanceProfile", {"role": "RoleName"}, ("InstanceProfileName",)),
    ), autoname="name"),
    "aws:lambda/function:Function": ApiMap(
        (Call("lambda:CreateFunction", {
            "name": "FunctionName", "runtime": "Runtime", "role": "Role", "handler": "Handler",
            "timeout": "Timeout", "memorySize": "MemorySize", "description": "Description",
            "architectures": "Architectures", "environment.variables": "Environment.Variables",
            "loggingConfig.logFormat": "LoggingConfig.LogFormat",
            "loggingConfig.logGroup": "LoggingConfig.LogGroup", "tags": "Tags"},
            ("Code",)),
         # After CreateFunction, when a reservation is set (internal/service/lambda/function.go).
         Call("lambda:PutFunctionConcurrency",
              {"reservedConcurrentExecutions": "ReservedConcurrentExecutions"}, ("FunctionName",),
              when="reservedConcurrentExecutions")),
        provider_only={"code": "zipped by the provider into Code.ZipFile (a blob)"},
        autoname="name"),
    # internal/service/lambda/function_event_invoke_config.go
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": ApiMap((
        Call("lambda:PutFunctionEventInvokeConfig", {
            "functionName": "FunctionName", "qualifier": "Qualifier",
            "maximumEventAgeInSeconds": "MaximumEventAgeInSeconds",
            "maximumRetryAttempts": "MaximumRetryAttempts",
            "destinationConfig.onSuccess.destination": "DestinationConfig.OnSuccess.Destination",
            "destinationConfig.onFailure.destination": "DestinationConfig.OnFailure.Destination"}),
    )),
    "aws:lambda/invocation:Invocation": ApiMap(
        # internal/service/lambda/invocation.go, invoke: a synchronous call on $LATEST.
        (Call("lambda:Invoke", {"functionName": "FunctionName", "input": "Payload",
                                "qualifier": "Qualifier"},
              constants={"InvocationType": "RequestResponse", "Qualifier": "$LATEST"}),),
        provider_only={"triggers": "invokes again when they change; never sent"}),
    # internal/service/scheduler/schedule.go, resourceScheduleCreate: one CreateSchedule with the
    # inputs as they are (the certificate warnings, components/alerts.py).
    "aws:scheduler/schedule:Schedule": ApiMap((
        Call("scheduler:CreateSchedule", {
            "name": "Name", "groupName": "GroupName", "description": "Description",
            "scheduleExpression": "ScheduleExpression",
            "scheduleExpressionTimezone": "ScheduleExpressionTimezone",
            "flexibleTimeWindow.mode": "FlexibleTimeWindow.Mode",
            "flexibleTimeWindow.maximumWindowInMinutes": "FlexibleTimeWindow.MaximumWindowInMinutes",
            "actionAfterCompletion": "ActionAfterCompletion", "state": "State",
            "target.arn": "Target.Arn", "target.roleArn": "Target.RoleArn",
            "target.input": "Target.Input"}),), autoname="name"),
    "aws:sns/topic:Topic": ApiMap((
        Call("sns:CreateTopic", {"name": "Name", "displayName": "Attributes.DisplayName",
                                 "tags": "Tags"}),), autoname="name"),
    "aws:sns/topicSubscription:TopicSubscription": ApiMap((
        Call("sns:Subscribe", {"topic": "TopicArn", "protocol": "Protocol",
                               "endpoint": "Endpoint"}),)),
}


# --- rules the model states only in its documentation text, and the provider's own ---------------

_SG_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
_SG_TEXT_NO_AMP = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*")
_SG_CHARS = "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*"


def _chars(pattern: re.Pattern, allowed: str, limit: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if len(value) > limit:
            return f"at most {limit} characters"
        if not pattern.fullmatch(value):
            bad = "".join(sorted({c for c in value if not pattern.fullmatch(c)}))
            return f"only {allowed} (not {bad!r})"
        return None
    return check


def _one_of(*allowed) -> Callable[[Any], str | None]:
    return lambda value: None if value in allowed else f"one of {', '.join(map(str, allowed))}"


def _at_most(limit: int, unit: str = "characters", measure=len) -> Callable[[Any], str | None]:
    return lambda value: None if measure(value) <= limit else f"at most {limit} {unit}"


def _alarm_window(alarm: Mapping[str, Any]) -> str | None:
    period, periods = alarm.get("Period"), alarm.get("EvaluationPeriods")
    if period is None or periods is None:
        return None
    if period not in (10, 20, 30) and period % 60:
        return "Period 10, 20, 30 or a multiple of 60"
    limit = 86400 if period < 3600 else 604800
    if period * periods > limit:
        return (f"Period x EvaluationPeriods at most {limit} s "
                f"({'one day below hourly periods' if limit == 86400 else 'seven days'})")
    if alarm.get("DatapointsToAlarm", 0) > periods:
        return "DatapointsToAlarm at most EvaluationPeriods"
    return None


def _not_aws_prefixed(value: str) -> str | None:
    return "a tag key not starting with aws:" if value.lower().startswith("aws:") else None


def _not_sg_prefixed(value: str) -> str | None:
    return "a group name not starting with sg-" if value.startswith("sg-") else None


def _gp3_size(member: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(volume: Mapping[str, Any]) -> str | None:
        if volume.get("VolumeType") == "gp3" and not 1 <= volume.get(member, 1) <= 65536:
            return f"a gp3 {member} from 1 to 65,536 GiB"
        return None
    return check


def _environment_size(environment: Mapping[str, Any]) -> str | None:
    text = json.dumps(environment.get("Variables", {}), separators=(",", ":"))
    return None if len(text.encode()) <= 4096 else "environment variables of at most 4 KB"


def _non_whitespace(text: str) -> int:
    return len(re.sub(r"\s", "", text))


_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_RATE = re.compile(r"rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(\S+( \S+){5}\)")


def _schedule_expression(value: str) -> str | None:
    at = _AT.fullmatch(value)
    if at:
        try:
            datetime.datetime.fromisoformat(at.group(1))
        except ValueError:
            return "an at() time that exists"
        return None
    if _RATE.fullmatch(value) or _CRON.fullmatch(value):
        return None
    return ("at(yyyy-mm-ddThh:mm:ss), rate(value unit) with unit minute(s), hour(s) or day(s), "
            "or cron(six fields)")


@dataclass(frozen=True)
class Documented:
    where: str
    """"<service>:<structure shape>.<member>" (or "<service>:<structure shape>" for a rule
    across members): the rule applies wherever that member of that shape is sent."""
    check: Callable[[Any], str | None]
    """The value -> None, or what AWS expects."""
    source: str


DOCUMENTED: tuple[Documented, ...] = (
    # The description the issue is about: letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*.
    *(Documented(f"ec2:{shape}.Description", _chars(_SG_TEXT, _SG_CHARS, 255),
                 f"ec2 {shape}.Description: 'Allowed characters are ...'")
      for shape in ("IpRange", "Ipv6Range", "PrefixListId")),
    Documented("ec2:UserIdGroupPair.Description",
               _chars(_SG_TEXT_NO_AMP, _SG_CHARS.replace("&", ""), 255),
               "ec2 UserIdGroupPair.Description (its list has no '&')"),
    Documented("ec2:CreateSecurityGroupRequest.GroupName", _chars(_SG_TEXT, _SG_CHARS, 255),
               "ec2 CreateSecurityGroupRequest.GroupName: 'Valid characters: ...'"),
    Documented("ec2:CreateSecurityGroupRequest.GroupName", _not_sg_prefixed,
               "ec2 CreateSecurityGroupRequest.GroupName: 'Can't start with sg-'"),
    Documented("ec2:CreateSecurityGroupRequest.Description", _chars(_SG_TEXT, _SG_CHARS, 255),
               "ec2 CreateSecurityGroupRequest.Description: 'Valid characters: ...'"),
    Documented("ec2:Tag.Key", _at_most(127), "ec2 Tag.Key: 'a maximum of 127 Unicode characters'"),
    Documented("ec2:Tag.Key", _not_aws_prefixed, "ec2 Tag.Key: 'May not begin with aws:'"),
    Documented("ec2:Tag.Value", _at_most(256),
               "ec2 Tag.Value: 'a maximum of 256 Unicode characters'"),
    Documented("ec2:RunInstancesRequest.UserData",
               _at_most(16384, "bytes", lambda v: len(v.encode())),
               "ec2 LaunchSpecification.UserData: 'User data is limited to 16 KB'"),
    Documented("ec2:InstanceMetadataOptionsRequest.HttpPutResponseHopLimit",
               lambda v: None if 1 <= v <= 64 else "from 1 to 64",
               "ec2 InstanceMetadataOptionsRequest.HttpPutResponseHopLimit: 'Integers from 1 "
               "to 64'"),
    Documented("ec2:CreditSpecificationRequest.CpuCredits", _one_of("standard", "unlimited"),
               "ec2 CreditSpecificationRequest.CpuCredits: 'Valid values: standard | unlimited'"),
    Documented("ec2:ImportKeyPairRequest.KeyName", _at_most(255),
               "ec2 CreateKeyPairRequest.KeyName: 'Up to 255 ASCII characters'"),
    Documented("ec2:CreateVolumeRequest", _gp3_size("Size"),
               "ec2 CreateVolumeRequest.Size: 'gp3: 1 - 65,536 GiB'"),
    Documented("ec2:EbsBlockDevice", _gp3_size("VolumeSize"),
               "ec2 EbsBlockDevice.VolumeSize: 'gp3: 1 - 65,536 GiB'"),
    Documented("dlm:CreateRule.Interval", _one_of(1, 2, 3, 4, 6, 8, 12, 24),
               "dlm CreateRule.Interval: 'The supported values are 1, 2, 3, 4, 6, 8, 12, and 24'"),
    Documented("logs:PutRetentionPolicyRequest.retentionInDays",
               _one_of(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                       2192, 2557, 2922, 3288, 3653),
               "logs Days: 'Possible values are: 1, 3, 5, 7, 14, 30, ...'"),
    Documented("cloudwatch:PutMetricAlarmInput.TreatMissingData",
               _one_of("breaching", "notBreaching", "ignore", "missing"),
               "cloudwatch PutMetricAlarmInput.TreatMissingData: 'Valid Values: breaching | "
               "notBreaching | ignore | missing'"),
    Documented("cloudwatch:PutMetricAlarmInput", _alarm_window,
               "cloudwatch PutMetricAlarmInput.Period: 'Valid values are 10, 20, 30, and any "
               "multiple of 60' and 'Period multiplied by EvaluationPeriods can't be more than "
               "604,800 seconds' (86,400 below hourly periods)"),
    Documented("lambda:CreateFunctionRequest.FunctionName",
               lambda v: None if ":" in v or len(v) <= 64 else "a function name of at most 64 "
               "characters", "lambda CreateFunctionRequest.FunctionName: 'If you specify only the "
               "function name, it is limited to 64 characters'"),
    Documented("lambda:CreateFunctionRequest.Timeout",
               lambda v: None if v <= 1800 else "at most 1,800 s outside Lambda Managed Instances",
               "lambda CreateFunctionRequest.Timeout: 'the maximum allowed value is 1,800 "
               "seconds'"),
    Documented("lambda:CreateFunctionRequest.Environment", _environment_size,
               "Lambda developer guide, configuration-envvars.md: 'The total size of all "
               "environment variables doesn't exceed 4 KB' (measured here as compact JSON, an "
               "upper bound)"),
    Documented("lambda:InvocationRequest.Payload",
               _at_most(6 * 1024 * 1024, "bytes", lambda v: len(v.encode())),
               "lambda InvocationRequest.Payload: 'The maximum payload size is 6 MB'"),
    Documented("sns:CreateTopicInput.Name",
               _chars(re.compile(r"[A-Za-z0-9_-]+"), "ASCII letters, digits, _ and -", 256),
               "sns CreateTopicInput.Name: 'Topic names must be made up of only uppercase and "
               "lowercase ASCII letters, numbers, underscores, and hyphens ... 1 and 256'"),
    Documented("sns:SubscribeInput.Protocol",
               _one_of("http", "https", "email", "email-json", "sms", "sqs", "application",
                       "lambda", "firehose"),
               "sns SubscribeInput.Protocol: 'Supported protocols include ...'"),
    Documented("sns:SubscribeInput",
               lambda v: (None if v.get("Protocol") not in ("email", "email-json")
                          or re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v.get("Endpoint", ""))
                          else "an email address as Endpoint"),
               "sns SubscribeInput.Endpoint: 'For the email protocol, the endpoint is an email "
               "address'"),
    Documented("scheduler:CreateScheduleInput.ScheduleExpression", _schedule_expression,
               "scheduler CreateScheduleInput.ScheduleExpression: 'at expression - "
               "at(yyyy-mm-ddThh:mm:ss)', 'rate(value unit)', 'cron(fields)': six fields, "
               "unit minute | minutes | hour | hours | day | days"),
    # IAM User Guide, reference_iam-quotas ("IAM object quotas", non-whitespace characters):
    # a user's inline policies 2,048 together, a role's 10,240, a trust policy 2,048 by default.
    Documented("iam:PutUserPolicyRequest.PolicyDocument",
               _at_most(2048, "non-whitespace characters", _non_whitespace),
               "IAM quotas: user policy size 2,048 characters"),
    Documented("iam:PutRolePolicyRequest.PolicyDocument",
               _at_most(10240, "non-whitespace characters", _non_whitespace),
               "IAM quotas: role policy size 10,240 characters"),
    Documented("iam:CreateRoleRequest.AssumeRolePolicyDocument",
               _at_most(2048, "non-whitespace characters", _non_whitespace),
               "IAM quotas: role trust policy length 2,048 characters (default)"),
)


@dataclass(frozen=True)
class Validator:
    """A check the Terraform provider runs on an input before any call (its schema's
    ValidateFunc), where it is stricter than AWS's model or guards an input no API member gets."""
    type: str
    input: str
    check: Callable[[Any], str | None]
    source: str


def _json(value: Any) -> str | None:
    try:
        json.loads(value)
    except (TypeError, ValueError):
        return "valid JSON"
    return None


def _json_object(value: Any) -> str | None:
    try:
        return None if isinstance(json.loads(value), dict) else "a JSON object"
    except (TypeError, ValueError):
        return "a JSON object"


def _network(version: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            network = None
        if network is None or network.version != version:
            return f"an IPv{version} CIDR whose host bits are zero"
        return None
    return check


# internal/verify/validate.go: ValidIPv4CIDRNetworkAddress / ValidIPv6CIDRNetworkAddress, on the
# CIDRs of aws_vpc, aws_subnet, aws_route, aws_route_table and the security group rules
# (internal/framework/validators: IPv4CIDRNetworkAddress, IPv6CIDRNetworkAddress).
_CIDR_INPUTS = {
    "aws:ec2/vpc:Vpc": {"cidrBlock": 4},
    "aws:ec2/subnet:Subnet": {"cidrBlock": 4, "ipv6CidrBlock": 6},
    "aws:ec2/route:Route": {"destinationCidrBlock": 4, "destinationIpv6CidrBlock": 6},
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {"cidrIpv4": 4, "cidrIpv6": 6},
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {"cidrIpv4": 4, "cidrIpv6": 6},
}
# verify.ValidIAMPolicyJSON (internal/verify/json.go): a policy must be a JSON object.
_POLICY_INPUTS = {"aws:iam/role:Role": "assumeRolePolicy",
                  "aws:iam/rolePolicy:RolePolicy": "policy",
                  "aws:iam/userPolicy:UserPolicy": "policy"}

PROVIDER: tuple[Validator, ...] = (
    *(Validator(type_, key, _network(version), "internal/verify/validate.go, "
                                               f"ValidIPv{version}CIDRNetworkAddress")
      for type_, keys in _CIDR_INPUTS.items() for key, version in keys.items()),
    *(Validator(type_, key, _json_object, "internal/verify/json.go, ValidIAMPolicyJSON")
      for type_, key in _POLICY_INPUTS.items()),
    Validator("aws:lambda/invocation:Invocation", "input", _json,
              "internal/service/lambda/invocation.go, input: validation.StringIsJSON"),
    Validator("aws:dlm/lifecyclePolicy:LifecyclePolicy", "description",
              lambda v: (None if re.fullmatch(r"[0-9A-Za-z _-]+", v) and 1 <= len(v) <= 500
                         else "1 to 500 of [0-9A-Za-z _-] (^[0-9A-Za-z _-]+$)"),
              "internal/service/dlm/lifecycle_policy.go, description: StringMatch "
              "^[0-9A-Za-z _-]+$"),
    Validator("aws:ec2transitgateway/instanceState:InstanceState", "state",
              _one_of("running", "stopped"),
              "internal/service/ec2/ec2_instance_state.go, state: StringInSlice"),
    Validator("aws:ec2/instance:Instance", "associatePublicIpAddress", _one_of(False),
              "the map places subnet, groups and address at the top level: true is not mapped"),
    *(Validator("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", key,
                lambda v: None if v == [] else "[] (a rule here needs a map entry)",
                "tools/aws_model_check.py: the default group stays empty (FSBP EC2.2)")
      for key in ("ingress", "egress")),
)


# --- the model ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def service_model(service: str) -> dict:
    """botocore's service model, through its own loader (what boto3 calls AWS with)."""
    return Loader().load_service_model(service, "service-2")


@functools.lru_cache(maxsize=None)
def _python_pattern(java: str) -> regex.Pattern:
    """AWS's patterns are Java regular expressions; the `regex` module reads their Unicode classes
    (\\p{L}, \\p{Z}, \\p{N}), and Java's \\p{all} is its \\p{Any}."""
    return regex.compile(java.replace(r"\p{all}", r"\p{Any}"), regex.DOTALL)


@dataclass
class Violation:
    resource: str
    type: str
    input: str
    value: Any
    rule: str

    def line(self) -> str:
        if not self.input:
            return f"{self.resource} ({self.type}): {self.rule}"
        shown = repr(self.value) if isinstance(self.value, str) else json.dumps(self.value)
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        return f"{self.resource} ({self.type}): input {self.input} = {shown} breaks {self.rule}"


class _Request:
    """One API request being built: the values, and which input each came from."""

    def __init__(self, call: Call):
        self.call = call
        self.service, self.operation = call.operation.split(":")
        model = service_model(self.service)
        self.shapes = model["shapes"]
        self.input_shape = model["operations"][self.operation]["input"]["shape"]
        self.body: dict = {}
        self.origin: dict[str, str] = {}  # concrete API path -> concrete input path

    def shape_at(self, parts: list[str]) -> str:
        """The shape at member names (a list's element is entered by "[]", or by the next name)."""
        shape, pending = self.input_shape, list(parts)
        while pending:
            spec = self.shapes[shape]
            if spec["type"] == "list":
                shape = spec["member"]["shape"]
                if pending[0] == "[]":
                    pending.pop(0)
            elif spec["type"] == "map":
                shape, _ = spec["value"]["shape"], pending.pop(0)
            else:
                part = pending.pop(0)
                if part not in spec["members"]:
                    raise KeyError(f"{self.call.operation} has no member {part}")
                shape = spec["members"][part]["shape"]
        return shape

    def shape_of(self, api_path: str) -> str:
        """The shape at a map's API path ("A.B[].C", "A[0].B")."""
        return self.shape_at([name for name, _ in _api_steps(api_path, (0,) * 9)])

    def place(self, api_path: str, indexes: tuple[int, ...], value: Any, origin: str) -> None:
        steps = _api_steps(api_path, indexes)
        container, names = self.body, []
        for position, (name, index) in enumerate(steps):
            names.append(name)
            last = position == len(steps) - 1
            if index is None:
                if last:
                    container[name] = self.convert(value, self.shape_at(names))
                    break
                container = container.setdefault(name, {})
            else:
                items = container.setdefault(name, [])
                while len(items) <= index:
                    items.append({})
                names.append("[]")
                if last:
                    items[index] = self.convert(value, self.shape_at(names))
                    break
                container = items[index]
        self.origin[_concrete(steps)] = origin

    def convert(self, value: Any, shape_name: str) -> Any:
        """The input value as the provider sends it for this shape."""
        spec = self.shapes[shape_name]
        if spec["type"] == "list":
            member = self.shapes[spec["member"]["shape"]]
            pair = _pair_members(member)
            if isinstance(value, Mapping) and pair:
                return [{pair[0]: k, pair[1]: v} for k, v in value.items()]
            if not isinstance(value, list):
                value = [value]
            return [self.convert(v, spec["member"]["shape"]) for v in value]
        if (spec["type"] == "structure" and isinstance(value, bool)
                and set(spec["members"]) == {"Value"}):
            return {"Value": value}
        return value


def _pair_members(spec: Mapping) -> tuple[str, str] | None:
    members = set(spec.get("members", ()))
    for pair in (("Key", "Value"), ("Name", "Value")):
        if set(pair) <= members:
            return pair
    return None


def _api_steps(path: str, indexes: tuple[int, ...]) -> list[tuple[str, int | None]]:
    """"A.B[].C[0]" with indexes (2,) -> [("A", None), ("B", 2), ("C", 0)]."""
    steps, pending = [], list(indexes)
    for part in path.split("."):
        if part.endswith("[]"):
            steps.append((part[:-2], pending.pop(0)))
        elif part.endswith("]"):
            name, _, index = part[:-1].partition("[")
            steps.append((name, int(index)))
        else:
            steps.append((part, None))
    return steps


def _concrete(steps: list[tuple[str, int | None]]) -> str:
    return ".".join(name if index is None else f"{name}[{index}]" for name, index in steps)


def _values_at(inputs: Any, path: str) -> list[tuple[tuple[int, ...], str, Any]]:
    """Every value at an input path: (list indexes, concrete path, value)."""
    found = [((), "", inputs)]
    for part in path.split("."):
        name, each = (part[:-2], True) if part.endswith("[]") else (part, False)
        following = []
        for indexes, where, value in found:
            if not isinstance(value, Mapping) or value.get(name) is None:
                continue
            child, at = value[name], f"{where}.{name}" if where else name
            if each:
                following += [(indexes + (i,), f"{at}[{i}]", item) for i, item in enumerate(child)]
            else:
                following.append((indexes, at, child))
        found = following
    return found


def _leaves(value: Any, path: str = "") -> Iterable[str]:
    """Input paths in the map's notation ("a.b", "a[]"); an empty list or map is a leaf."""
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for child in value:
            yield from _leaves(child, f"{path}[]")
    elif value is not None:
        yield path


def _covers(mapped: str, leaf: str) -> bool:
    return (leaf == mapped or leaf.startswith(mapped + ".") or leaf.startswith(mapped + "[")
            or mapped.startswith(leaf + ".") or mapped.startswith(leaf + "["))


def _normal(concrete: str) -> str:
    return re.sub(r"\[\d+\]", "[]", concrete)


class _Checker:
    def __init__(self, name: str, type_: str, inputs: Mapping[str, Any],
                 masked: Mapping[str, Any]):
        self.name, self.type, self.inputs, self.masked = name, type_, inputs, masked
        self.violations: list[Violation] = []

    def fail(self, input_path: str, value: Any, rule: str) -> None:
        top = input_path.split(".")[0].split("[")[0]
        if "[secret]" in json.dumps(self.masked.get(top)):
            value = "[secret]"
        self.violations.append(Violation(self.name, self.type, input_path, value, rule))

    def walk(self, request: _Request, value: Any, shape_name: str, concrete: str) -> None:
        spec = request.shapes[shape_name]
        kind = spec["type"]
        origin = self.origin_of(request, concrete)
        where = f"{request.service} {request.operation} {_normal(concrete) or '(request)'}"
        expected = {"string": str, "blob": (str, bytes), "boolean": bool, "map": Mapping,
                    "structure": Mapping, "list": list, "integer": int, "long": int,
                    "double": (int, float), "float": (int, float)}.get(kind)
        if expected and (not isinstance(value, expected)
                         or (kind in ("integer", "long", "double", "float")
                             and isinstance(value, bool))):
            return self.fail(origin, value, f"{where}: the model's type {kind}")
        if kind in ("string", "blob", "list", "map"):
            size = len(value.encode()) if kind == "blob" and isinstance(value, str) else len(value)
            unit = "entries" if kind in ("list", "map") else "characters"
            if size < spec.get("min", 0):
                self.fail(origin, value, f"{where}: at least {spec['min']} {unit}")
            if "max" in spec and size > spec["max"]:
                self.fail(origin, value, f"{where}: at most {spec['max']} {unit}")
        if kind == "string":
            if "enum" in spec and value not in spec["enum"]:
                self.fail(origin, value, f"{where}: one of the model's enum "
                                         f"{_enum_text(spec['enum'])}")
            if "pattern" in spec and not _python_pattern(spec["pattern"]).fullmatch(value):
                self.fail(origin, value, f"{where}: the model's pattern {spec['pattern']}")
        if kind in ("integer", "long", "double", "float"):
            if "min" in spec and value < spec["min"]:
                self.fail(origin, value, f"{where}: at least {spec['min']}")
            if "max" in spec and value > spec["max"]:
                self.fail(origin, value, f"{where}: at most {spec['max']}")
        if kind == "list":
            for index, item in enumerate(value):
                self.walk(request, item, spec["member"]["shape"], f"{concrete}[{index}]")
        elif kind == "map":
            for key, item in value.items():
                self.walk(request, key, spec["key"]["shape"], f"{concrete}.{key}")
                self.walk(request, item, spec["value"]["shape"], f"{concrete}.{key}")
        elif kind == "structure":
            self.walk_structure(request, value, shape_name, concrete)

    def walk_structure(self, request: _Request, value: Mapping, shape_name: str,
                       concrete: str) -> None:
        spec = request.shapes[shape_name]
        prefix = f"{concrete}." if concrete else ""
        filled = {_normal(path) for path in request.call.filled}
        for member in spec.get("required", []):
            if member not in value and _normal(prefix + member) not in filled:
                self.fail(self.origin_of(request, concrete), None,
                          f"{request.service} {request.operation} {_normal(prefix + member)}: "
                          "required by the model, and no input fills it")
        for member, item in value.items():
            if member not in spec["members"]:
                raise KeyError(f"{request.call.operation} {shape_name} has no member {member}")
            self.walk(request, item, spec["members"][member]["shape"], prefix + member)
            for rule in DOCUMENTED:
                if rule.where == f"{request.service}:{shape_name}.{member}":
                    problem = rule.check(item)
                    if problem:
                        self.fail(self.origin_of(request, prefix + member), item,
                                  f"{request.service} {request.operation} "
                                  f"{_normal(prefix + member)}: {problem} ({rule.source})")
        for rule in DOCUMENTED:
            if rule.where == f"{request.service}:{shape_name}":
                problem = rule.check(value)
                if problem:
                    self.fail(self.origin_of(request, concrete), value,
                              f"{request.service} {request.operation}: {problem} ({rule.source})")

    @staticmethod
    def origin_of(request: _Request, concrete: str) -> str:
        """The input a concrete API path came from: the longest placed path containing it, or
        for a structure built from several inputs, the first input placed inside it."""
        containing = [api for api in request.origin
                      if concrete == api or concrete.startswith((api + ".", api + "["))]
        if containing:
            return request.origin[max(containing, key=len)]
        inside = [origin for api, origin in request.origin.items()
                  if not concrete or api.startswith((concrete + ".", concrete + "["))]
        return inside[0] if inside else ""


def _enum_text(values: list[str]) -> str:
    return ", ".join(values) if len(values) <= 8 else ", ".join(values[:8]) + ", ..."


def _named(name: str, api_map: ApiMap, inputs: Mapping[str, Any]) -> dict:
    """The inputs with the name Pulumi gives a resource the program leaves unnamed."""
    inputs = dict(inputs)
    if api_map.autoname and inputs.get(api_map.autoname) is None:
        inputs[api_map.autoname] = autoname(name)
    return inputs


def _calls(api_map: ApiMap, inputs: Mapping[str, Any]) -> list[Call]:
    return [call for call in api_map.calls
            if call.when is None or inputs.get(call.when) is not None]


def _requests(calls: list[Call], inputs: Mapping[str, Any]) -> Iterable[_Request]:
    """The API requests the provider makes for these inputs."""
    for call in calls:
        elements = (_values_at(inputs, f"{call.each}[]") if call.each else [((), "", inputs)])
        for _, element_path, element in elements:
            request = _Request(call)
            for api_path, constant in call.constants.items():
                request.place(api_path, (), constant, "(the provider's own value)")
            for input_path, api_path in call.members.items():
                for indexes, where, value in _values_at(element, input_path):
                    request.place(api_path, indexes, value,
                                  f"{element_path}.{where}" if element_path else where)
            yield request


def api_requests(name: str, type_: str, inputs: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """[("<service>:<Operation>", request body)] as the provider sends them for a resource."""
    api_map = MAPS[type_]
    inputs = _named(name, api_map, inputs)
    return [(r.call.operation, r.body) for r in _requests(_calls(api_map, inputs), inputs)]


def check_resource(name: str, type_: str, inputs: Mapping[str, Any],
                   masked: Mapping[str, Any] | None = None) -> list[Violation]:
    """What AWS (or the provider) would refuse in one resource's inputs."""
    checker = _Checker(name, type_, inputs, masked or inputs)
    api_map = MAPS.get(type_)
    if api_map is None:
        checker.fail("", type_, "tools/aws_model_check.py has no map from this type's inputs to "
                                "the AWS API; add one to MAPS")
        return checker.violations
    inputs = _named(name, api_map, inputs)
    calls = _calls(api_map, inputs)
    placed = [f"{call.each}[].{member}" if call.each else member
              for call in calls for member in call.members] + list(api_map.provider_only)
    for leaf in _leaves(inputs):
        if not any(_covers(mapped, leaf) for mapped in placed):
            checker.fail(leaf, _first(inputs, leaf),
                         "tools/aws_model_check.py: no API member receives this input (map it)")
    for rule in PROVIDER:
        if rule.type == type_ and inputs.get(rule.input) is not None:
            problem = rule.check(inputs[rule.input])
            if problem:
                checker.fail(rule.input, inputs[rule.input],
                             f"the provider's validator: {problem} ({rule.source})")
    for request in _requests(calls, inputs):
        checker.walk(request, request.body, request.input_shape, "")
    return checker.violations


def _first(inputs: Any, leaf: str) -> Any:
    found = _values_at(inputs, leaf)
    return found[0][2] if found else None


def check_resources(records: Iterable[Any]) -> list[Violation]:
    """Every `aws:*` resource of a run (records with .type, .name, .custom, .raw_inputs and
    .inputs, as the mock engine keeps them)."""
    violations: list[Violation] = []
    for record in records:
        if record.custom and record.type.startswith("aws:"):
            violations += check_resource(record.name, record.type, record.raw_inputs,
                                         record.inputs)
    return violations


def refuse(records: Iterable[Any]) -> None:
    """Raise AwsModelError with one line for the first thing AWS would refuse."""
    violations = check_resources(records)
    if violations:
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise AwsModelError(violations[0].line() + more)
