"""The IAM actions the AWS provider calls for each resource type the program creates: what
`pulumi up`, refresh and `pulumi destroy` need, per Pulumi type (create, read, update, delete,
tags), for `make deployer-policy`.

pulumi-aws runs the Terraform AWS provider's resources (the Pulumi type `aws:<module>/<x>:<X>` is
`aws_<module>_<x>`), so the actions are the AWS API operations of
hashicorp/terraform-provider-aws `internal/service/<service>/<resource>.go`. Each entry names its
sources: that file, and JamesWoolfenden/pike `src/mapping/aws/resource/<service>/<resource>.json`
(actions observed with iamlive while the provider created, read, changed and deleted the
resource; pike @085701b0). Where the two differ the provider's source wins (pike lists
`lambda:InvokeAsync` for aws_lambda_invocation; invocation.go calls `conn.Invoke`, which is
`lambda:InvokeFunction`). Not exercised against AWS here (no account): an action missing from
this table shows at deploy as AccessDenied naming it.

Kept apart from the mock engine's map of each type to its create operation (issue 19): that one
says which API a create is; this one what a deploying user must be allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

TF = "hashicorp/terraform-provider-aws internal/service/"
PIKE = "JamesWoolfenden/pike src/mapping/aws/resource/"
EC2_TAGS = ("ec2:CreateTags", "ec2:DeleteTags")


@dataclass(frozen=True)
class TypeActions:
    create: tuple[str, ...]
    read: tuple[str, ...]
    update: tuple[str, ...]
    delete: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.create + self.read + self.update + self.delete))


ACTIONS: dict[str, TypeActions] = {
    "aws:ec2/vpc:Vpc": TypeActions(
        ("ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:AssociateVpcCidrBlock", *EC2_TAGS),
        ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeNetworkAcls",
         "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups"),
        ("ec2:ModifyVpcAttribute", "ec2:DisassociateVpcCidrBlock"),
        ("ec2:DeleteVpc",),
        (f"{TF}ec2/vpc_.go", f"{PIKE}ec2/aws_vpc.json")),
    "aws:ec2/subnet:Subnet": TypeActions(
        ("ec2:CreateSubnet", "ec2:ModifySubnetAttribute", "ec2:AssociateSubnetCidrBlock",
         *EC2_TAGS),
        ("ec2:DescribeSubnets",),
        ("ec2:ModifySubnetAttribute", "ec2:DisassociateSubnetCidrBlock"),
        ("ec2:DeleteSubnet", "ec2:DescribeNetworkInterfaces"),
        (f"{TF}ec2/vpc_subnet.go", f"{PIKE}ec2/aws_subnet.json")),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": TypeActions(
        ("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
         "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", *EC2_TAGS),
        ("ec2:DescribeSecurityGroups",), (), (),
        (f"{TF}ec2/vpc_default_security_group.go", f"{PIKE}ec2/aws_default_security_group.json")),
    "aws:ec2/internetGateway:InternetGateway": TypeActions(
        ("ec2:CreateInternetGateway", "ec2:AttachInternetGateway", *EC2_TAGS),
        ("ec2:DescribeInternetGateways",), (),
        ("ec2:DetachInternetGateway", "ec2:DeleteInternetGateway"),
        (f"{TF}ec2/vpc_internet_gateway.go", f"{PIKE}ec2/aws_internet_gateway.json")),
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": TypeActions(
        ("ec2:CreateEgressOnlyInternetGateway", *EC2_TAGS),
        ("ec2:DescribeEgressOnlyInternetGateways",), (),
        ("ec2:DeleteEgressOnlyInternetGateway",),
        (f"{TF}ec2/vpc_egress_only_internet_gateway.go",
         f"{PIKE}ec2/aws_egress_only_internet_gateway.json")),
    "aws:ec2/routeTable:RouteTable": TypeActions(
        ("ec2:CreateRouteTable", *EC2_TAGS), ("ec2:DescribeRouteTables",), (),
        ("ec2:DeleteRouteTable",),
        (f"{TF}ec2/vpc_route_table.go", f"{PIKE}ec2/aws_route_table.json")),
    "aws:ec2/route:Route": TypeActions(
        ("ec2:CreateRoute",), ("ec2:DescribeRouteTables",), ("ec2:ReplaceRoute",),
        ("ec2:DeleteRoute",),
        (f"{TF}ec2/vpc_route.go", f"{PIKE}ec2/aws_route.json")),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": TypeActions(
        ("ec2:AssociateRouteTable",), ("ec2:DescribeRouteTables",),
        ("ec2:ReplaceRouteTableAssociation",), ("ec2:DisassociateRouteTable",),
        (f"{TF}ec2/vpc_route_table_association.go", f"{PIKE}ec2/aws_route_table_association.json")),
    "aws:ec2/securityGroup:SecurityGroup": TypeActions(
        ("ec2:CreateSecurityGroup", "ec2:RevokeSecurityGroupEgress",
         "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", *EC2_TAGS),
        ("ec2:DescribeSecurityGroups",), ("ec2:RevokeSecurityGroupIngress",),
        ("ec2:DeleteSecurityGroup", "ec2:DescribeNetworkInterfaces"),
        (f"{TF}ec2/vpc_security_group.go", f"{PIKE}ec2/aws_security_group.json")),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": TypeActions(
        ("ec2:AuthorizeSecurityGroupIngress", *EC2_TAGS), ("ec2:DescribeSecurityGroupRules",),
        ("ec2:ModifySecurityGroupRules",), ("ec2:RevokeSecurityGroupIngress",),
        (f"{TF}ec2/vpc_security_group_ingress_rule.go",
         f"{PIKE}ec2/aws_vpc_security_group_ingress_rule.json")),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": TypeActions(
        ("ec2:AuthorizeSecurityGroupEgress", *EC2_TAGS), ("ec2:DescribeSecurityGroupRules",),
        ("ec2:ModifySecurityGroupRules",), ("ec2:RevokeSecurityGroupEgress",),
        (f"{TF}ec2/vpc_security_group_egress_rule.go",
         f"{PIKE}ec2/aws_vpc_security_group_egress_rule.json")),
    "aws:ec2/keyPair:KeyPair": TypeActions(
        ("ec2:ImportKeyPair", *EC2_TAGS), ("ec2:DescribeKeyPairs",), (), ("ec2:DeleteKeyPair",),
        (f"{TF}ec2/ec2_key_pair.go", f"{PIKE}ec2/aws_key_pair.json")),
    # aws_ec2_instance_state: waits for the instance (DescribeInstances), then starts or stops it;
    # delete only forgets it (ec2_instance_state.go: UpdateInstanceState, resourceInstanceStateDelete).
    "aws:ec2transitgateway/instanceState:InstanceState": TypeActions(
        ("ec2:StartInstances", "ec2:StopInstances", "ec2:DescribeInstances"),
        ("ec2:DescribeInstances",),
        ("ec2:StartInstances", "ec2:StopInstances"),
        (),
        (f"{TF}ec2/ec2_instance_state.go",)),
    "aws:ec2/instance:Instance": TypeActions(
        # RunInstances tags the instance and its root volume; the image's root device is read.
        ("ec2:RunInstances", "ec2:DescribeImages", "ec2:DescribeInstanceTypes", *EC2_TAGS),
        ("ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
         "ec2:DescribeInstanceCreditSpecifications", "ec2:DescribeVolumes", "ec2:DescribeTags",
         "ec2:DescribeNetworkInterfaces", "ec2:DescribeIamInstanceProfileAssociations"),
        # Instance type, user data and the like need the instance stopped (and started again).
        ("ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceCreditSpecification",
         "ec2:ModifyInstanceMetadataOptions", "ec2:ModifyVolume",
         "ec2:DescribeVolumesModifications", "ec2:StopInstances", "ec2:StartInstances",
         "ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation",
         "ec2:DisassociateIamInstanceProfile"),
        ("ec2:TerminateInstances",),
        (f"{TF}ec2/ec2_instance.go", f"{PIKE}ec2/aws_instance.json")),
    "aws:ec2/eip:Eip": TypeActions(
        ("ec2:AllocateAddress", "ec2:AssociateAddress", *EC2_TAGS),
        ("ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"), (),
        ("ec2:DisassociateAddress", "ec2:ReleaseAddress"),
        (f"{TF}ec2/ec2_eip.go", f"{PIKE}ec2/aws_eip.json")),
    "aws:ebs/volume:Volume": TypeActions(
        ("ec2:CreateVolume", *EC2_TAGS), ("ec2:DescribeVolumes",),
        ("ec2:ModifyVolume", "ec2:DescribeVolumesModifications"), ("ec2:DeleteVolume",),
        (f"{TF}ec2/ebs_volume.go", f"{PIKE}ec2/aws_ebs_volume.json")),
    "aws:ec2/volumeAttachment:VolumeAttachment": TypeActions(
        ("ec2:AttachVolume",), ("ec2:DescribeVolumes", "ec2:DescribeInstances"), (),
        # stop_instance_before_detaching: the instance is stopped first.
        ("ec2:DetachVolume", "ec2:StopInstances"),
        (f"{TF}ec2/ebs_volume_attachment.go", f"{PIKE}ec2/aws_volume_attachment.json")),
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": TypeActions(
        ("dlm:CreateLifecyclePolicy", "dlm:TagResource", "iam:PassRole"),
        ("dlm:GetLifecyclePolicy", "dlm:ListTagsForResource"),
        ("dlm:UpdateLifecyclePolicy", "dlm:UntagResource"), ("dlm:DeleteLifecyclePolicy",),
        (f"{TF}dlm/lifecycle_policy.go", f"{PIKE}dlm/aws_dlm_lifecycle_policy.json")),
    "aws:cloudwatch/logGroup:LogGroup": TypeActions(
        ("logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource"),
        ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
        ("logs:DeleteRetentionPolicy", "logs:UntagResource"), ("logs:DeleteLogGroup",),
        (f"{TF}logs/group.go", f"{PIKE}logs/aws_cloudwatch_log_group.json")),
    "aws:cloudwatch/metricAlarm:MetricAlarm": TypeActions(
        ("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource"),
        ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
        ("cloudwatch:UntagResource",), ("cloudwatch:DeleteAlarms",),
        (f"{TF}cloudwatch/metric_alarm.go", f"{PIKE}cloudwatch/aws_cloudwatch_metric_alarm.json")),
    "aws:iam/role:Role": TypeActions(
        ("iam:CreateRole", "iam:TagRole"),
        ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
        ("iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
         "iam:UntagRole"),
        # Deleting a role first removes what is attached to it and its instance profiles.
        ("iam:DeleteRole", "iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile",
         "iam:DeleteRolePolicy", "iam:DetachRolePolicy"),
        (f"{TF}iam/role.go", f"{PIKE}iam/aws_iam_role.json")),
    "aws:iam/rolePolicy:RolePolicy": TypeActions(
        ("iam:PutRolePolicy",), ("iam:GetRolePolicy",), ("iam:PutRolePolicy",),
        ("iam:DeleteRolePolicy",),
        (f"{TF}iam/role_policy.go", f"{PIKE}iam/aws_iam_role_policy.json")),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": TypeActions(
        ("iam:AttachRolePolicy",), ("iam:ListAttachedRolePolicies",), (),
        ("iam:DetachRolePolicy",),
        (f"{TF}iam/role_policy_attachment.go", f"{PIKE}iam/aws_iam_role_policy_attachment.json")),
    "aws:iam/instanceProfile:InstanceProfile": TypeActions(
        ("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:TagInstanceProfile",
         "iam:PassRole"),
        ("iam:GetInstanceProfile", "iam:GetRole"), ("iam:UntagInstanceProfile",),
        ("iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"),
        (f"{TF}iam/instance_profile.go", f"{PIKE}iam/aws_iam_instance_profile.json")),
    "aws:iam/user:User": TypeActions(
        ("iam:CreateUser", "iam:TagUser"), ("iam:GetUser",), ("iam:UpdateUser", "iam:UntagUser"),
        ("iam:DeleteUser", "iam:ListGroupsForUser"),
        (f"{TF}iam/user.go", f"{PIKE}iam/aws_iam_user.json")),
    "aws:iam/userPolicy:UserPolicy": TypeActions(
        ("iam:PutUserPolicy",), ("iam:GetUserPolicy",), ("iam:PutUserPolicy",),
        ("iam:DeleteUserPolicy",),
        (f"{TF}iam/user_policy.go", f"{PIKE}iam/aws_iam_user_policy.json")),
    "aws:iam/accessKey:AccessKey": TypeActions(
        ("iam:CreateAccessKey",), ("iam:ListAccessKeys",), ("iam:UpdateAccessKey",),
        ("iam:DeleteAccessKey",),
        (f"{TF}iam/access_key.go", f"{PIKE}iam/aws_iam_access_key.json")),
    "aws:lambda/function:Function": TypeActions(
        # function.go: CreateFunction, then findFunction (GetFunction) until active; read adds
        # ListVersionsByFunction (latest version) and GetFunctionCodeSigningConfig.
        # A reserved concurrency is set after the create (PutFunctionConcurrency).
        ("lambda:CreateFunction", "lambda:TagResource", "iam:PassRole",
         "lambda:PutFunctionConcurrency"),
        ("lambda:GetFunction", "lambda:ListVersionsByFunction",
         "lambda:GetFunctionCodeSigningConfig"),
        ("lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode",
         "lambda:UntagResource", "lambda:PutFunctionConcurrency",
         "lambda:DeleteFunctionConcurrency"),
        ("lambda:DeleteFunction",),
        (f"{TF}lambda/function.go", f"{PIKE}lambda/aws_lambda_function.json")),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": TypeActions(
        # function_event_invoke_config.go: Put on create and update, Get on read, Delete.
        ("lambda:PutFunctionEventInvokeConfig",), ("lambda:GetFunctionEventInvokeConfig",),
        ("lambda:PutFunctionEventInvokeConfig",), ("lambda:DeleteFunctionEventInvokeConfig",),
        (f"{TF}lambda/function_event_invoke_config.go",
         f"{PIKE}lambda/aws_lambda_function_event_invoke_config.json")),
    "aws:lambda/invocation:Invocation": TypeActions(
        ("lambda:InvokeFunction",), (), ("lambda:InvokeFunction",), (),
        (f"{TF}lambda/invocation.go (conn.Invoke)",)),
    # aws_scheduler_schedule (no tags): Create/Get/Update/DeleteSchedule; its target's role is
    # passed to EventBridge Scheduler (iam:PassRole, PASSED_TO).
    "aws:scheduler/schedule:Schedule": TypeActions(
        ("scheduler:CreateSchedule",), ("scheduler:GetSchedule",), ("scheduler:UpdateSchedule",),
        ("scheduler:DeleteSchedule",),
        (f"{TF}scheduler/schedule.go", f"{PIKE}scheduler/aws_scheduler_schedule.json")),
    "aws:sns/topic:Topic": TypeActions(
        ("sns:CreateTopic", "sns:SetTopicAttributes", "sns:TagResource"),
        ("sns:GetTopicAttributes", "sns:ListTagsForResource"), ("sns:UntagResource",),
        ("sns:DeleteTopic",),
        (f"{TF}sns/topic.go", f"{PIKE}sns/aws_sns_topic.json")),
    "aws:sns/topicSubscription:TopicSubscription": TypeActions(
        ("sns:Subscribe",), ("sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic"),
        ("sns:SetSubscriptionAttributes",), ("sns:Unsubscribe",),
        (f"{TF}sns/topic_subscription.go", f"{PIKE}sns/aws_sns_topic_subscription.json")),
}

# Data sources the program reads (Pulumi invokes), by token.
DATA_SOURCES: dict[str, tuple[str, ...]] = {
    "aws:ec2/getAmi:getAmi": ("ec2:DescribeImages",),
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
        ("ec2:DescribeInstanceTypeOfferings",),
    "aws:index/getAvailabilityZones:getAvailabilityZones": ("ec2:DescribeAvailabilityZones",),
}

# `make deploy` before `pulumi up` (tools/lambda_concurrency.py): the account's Lambda quota in the
# region, and the reservation the stack's IpGuard function already holds (GetFunction, which the
# provider reads the function with anyway, rather than GetFunctionConcurrency: the policy has
# few characters to spare).
DEPLOY_ACTIONS = ("lambda:GetAccountSettings", "lambda:GetFunction")

# `make check`, run with the same credentials after a deploy (tools/check.py: the home group's
# rules, the alert email's subscription).
CHECK_ACTIONS = ("ec2:DescribeSecurityGroups", "sns:ListSubscriptionsByTopic")

# The roles the program hands to a service (iam:PassRole), by the service that assumes them.
PASSED_TO = ("ec2.amazonaws.com", "lambda.amazonaws.com", "dlm.amazonaws.com",
             "scheduler.amazonaws.com")
