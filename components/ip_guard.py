"""IpGuard: the home security group, the Lambda that keeps it on the home's address, and the
Pi's narrowly scoped credentials to call that Lambda."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws


ROOT = Path(__file__).resolve().parent.parent
HOME_PORTS = (22, 8883, 3000)
LOG_RETENTION_DAYS = 30
LAMBDA_RUNTIME = "python3.13"
CONCURRENCY = 1  # executions of the Pi's function at a time (the deploy's seeder is apart)
ASYNC_MAX_AGE_SECONDS = 60  # the least AWS allows (botocore: MaximumEventAgeInSeconds min 60)


@dataclass(frozen=True)
class IpGuardArgs:
    vpc_id: pulumi.Input[str]
    """VPC of the home security group. Required."""
    home_event: dict[str, str]
    """The Lambda event seeding the group at deploy (from `homeCidrs`). Required."""
    ports: tuple[int, ...] = field(default=HOME_PORTS)
    """TCP ports opened to home. Left out: 22 (SSH), 8883 (MQTT/TLS), 3000 (Grafana)."""
    reserve_concurrency: bool = True
    """Cap the Pi's function at one execution at a time. Left out: capped. Off only for an
    account whose Lambda concurrency quota is too small to reserve any (new accounts)."""


def _policy(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class IpGuard(pulumi.ComponentResource):
    security_group_id: pulumi.Output[str]
    """The home group: Pulumi creates it, the Lambda owns every ingress rule in it."""
    function_name: pulumi.Output[str]
    """Name of the IpGuard Lambda (the Pi agent invokes it)."""
    pi_access_key_id: pulumi.Output[str]
    """Access key of the IAM user allowed to invoke the Lambda and nothing else."""
    pi_secret_access_key: pulumi.Output[str]
    """Its secret (a Pulumi secret)."""
    seeded: pulumi.Resource
    """The deploy-time invocation; nodes that are reached over SSH depend on it."""

    def __init__(self, name: str, args: IpGuardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:IpGuard", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # No `ingress` argument: the provider then leaves ingress alone, so `pulumi up` never
        # fights the Lambda over the home rules. Egress lives on the nodes' own group.
        group = aws.ec2.SecurityGroup(
            f"{name}-home", vpc_id=args.vpc_id,
            description="Home access to solarmonitor; rules are set by the IpGuard Lambda only",
            tags={"Name": f"{name}-home"}, opts=child)

        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=LOG_RETENTION_DAYS,
                                       opts=child)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=_policy([{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]), opts=child)
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=role.id,
            policy=pulumi.Output.all(group.arn, logs.arn).apply(lambda arns: _policy([
                {"Sid": "SetHomeIngress", "Effect": "Allow",
                 "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                 "Resource": arns[0]},
                # Describe calls support no resource-level permissions; they only read.
                {"Sid": "ReadGroups", "Effect": "Allow", "Action": "ec2:DescribeSecurityGroups",
                 "Resource": "*"},
                {"Sid": "WriteOwnLogs", "Effect": "Allow",
                 "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": f"{arns[1]}:*"},
            ])), opts=child)

        code = pulumi.AssetArchive({
            "ip_guard.py": pulumi.FileAsset(str(ROOT / "lambda" / "ip_guard.py")),
            "home_address.py": pulumi.FileAsset(str(ROOT / "home_address.py")),
        })
        environment = aws.lambda_.FunctionEnvironmentArgs(variables={
            "SECURITY_GROUP_ID": group.id, "PORTS": ",".join(str(port) for port in args.ports)})

        def lambda_function(role_name: str, handler: str, timeout: int, description: str,
                            reserved: int | None = None):
            return aws.lambda_.Function(
                f"{name}-{role_name}", runtime=LAMBDA_RUNTIME, architectures=["arm64"],
                handler=handler, role=role.arn, timeout=timeout, memory_size=128, code=code,
                environment=environment, reserved_concurrent_executions=reserved,
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text",
                                                                     log_group=logs.name),
                description=description,
                opts=child.merge(pulumi.ResourceOptions(depends_on=[role_policy])))

        # Whoever holds the Pi's key may invoke this function as often as they like. One
        # execution at a time bounds what a flood costs (at most one 128 MB execution-second
        # per second) and keeps it from taking the account's whole concurrency; extra calls
        # are throttled (429), which the agent reports and retries on its next run. AWS refuses
        # any reservation that leaves less than 100 unreserved, so new accounts with a quota of
        # 10 cannot have it (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
        function = lambda_function("function", "ip_guard.handler", 30,
                                   "Keeps the solarmonitor home security group on the home's address",
                                   reserved=CONCURRENCY if args.reserve_concurrency else None)
        # Asynchronous calls (InvocationType Event) are queued and, while throttled, retried for
        # up to six hours (docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling
        # .html): a flood of them would replay a thief's address long after it ended.
        # The agent only calls synchronously, so drop anything a minute old and never retry.
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async-limits", function_name=function.name,
            maximum_event_age_in_seconds=ASYNC_MAX_AGE_SECONDS, maximum_retry_attempts=0,
            opts=child)
        # The deploy's own entry point: it only adds (a seed from an out-of-date homeCidrs never
        # takes away the address the Pi set since) and raises when the group was not set, since
        # an Invocation whose function returns normally, 400 or not, counts as a success.
        # Time for its retries while a new role's policy reaches EC2.
        seeder = lambda_function("seeder", "ip_guard.seed_handler", 60,
                                 "Seeds the solarmonitor home security group at deploy")

        # Seeding through the Lambda (rather than as rules Pulumi owns) keeps one owner of the
        # home rules. A changed homeCidrs, or a changed set of guarded ports, invokes it again;
        # a failed seed fails `pulumi up` and is tried again on the next one.
        self.seeded = aws.lambda_.Invocation(
            f"{name}-seed", function_name=seeder.name, input=json.dumps(args.home_event),
            triggers={"securityGroup": group.id,
                      "ports": ",".join(str(port) for port in args.ports)}, opts=child)

        pi_user = aws.iam.User(f"{name}-pi", path="/solarmonitor/", opts=child)
        aws.iam.UserPolicy(f"{name}-pi-policy", user=pi_user.name,
                           policy=function.arn.apply(lambda arn: _policy([{
                               "Sid": "InvokeIpGuard", "Effect": "Allow",
                               "Action": "lambda:InvokeFunction", "Resource": arn}])),
                           opts=child)
        pi_key = aws.iam.AccessKey(f"{name}-pi-key", user=pi_user.name, opts=child)

        self.security_group_id = group.id
        self.function_name = function.name
        self.pi_access_key_id = pi_key.id
        self.pi_secret_access_key = pulumi.Output.secret(pi_key.secret)
        self.register_outputs({
            "securityGroupId": self.security_group_id, "functionName": self.function_name,
            "piAccessKeyId": self.pi_access_key_id,
            "piSecretAccessKey": self.pi_secret_access_key,
        })
