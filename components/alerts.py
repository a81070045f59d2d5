"""Alerts: an SNS topic that emails the owner, the CloudWatch alarms that watch from outside
(so they fire when Grafana itself is down), the warnings before a certificate ends, and what
Grafana needs to publish to the topic.

Certificates: Pulumi issues them, so when each ends is known the moment it is issued, and only
`pulumi up` changes it (components/certificates.py). Each gets one-time EventBridge Scheduler
schedules WARN_DAYS before its end that publish a message to the topic: no code, no metric, no
node involved, so the warning comes even when every node is down, and it costs nothing (far
inside the scheduler's free invocations). `make check` shows the days left of the certificates
actually served. (A CloudWatch alarm needs a metric to watch, and a Grafana rule reads no
certificates and fails with the nodes it would warn about.)

Grafana's own rules (files/grafana/alerting/) reach the topic through its instance profile: the
role may `sns:Publish` to this one topic and do nothing else. AWS emails the address a link to
confirm the subscription; until it is clicked, nothing is delivered (`make check` says so).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.certificates import ISSUED, RENEWAL_DAYS, WARN_DAYS, Issued
from components.host import node_tags

STATUS_CHECK_MINUTES = 5  # a node failing its status checks (or stopped) this long, twice, alarms
# A new alarm on a new instance waits this long for the instance's first status data (it ends
# earlier, as soon as data fills the alarm's window).
WARM_UP_MINUTES = 30
# The Pi agent calls every five minutes (pi/ip_agent.py, REASSERT_SECONDS); two days without a
# call alarm, a night without internet at home does not.
IP_GUARD_SILENT_HOURS = 48


def publish_policy(topic_arn: str) -> str:
    """May publish to `topic_arn`, and nothing else."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish",
        "Resource": topic_arn}]})


def warning_expression(valid_until: str, days: int) -> str:
    """EventBridge Scheduler's one-time expression (`at(yyyy-mm-ddThh:mm:ss)`, botocore
    scheduler CreateSchedule ScheduleExpression) for `days` before `valid_until` (RFC 3339)."""
    end = datetime.datetime.fromisoformat(valid_until.replace("Z", "+00:00"))
    warn = (end - datetime.timedelta(days=days)).astimezone(datetime.timezone.utc)
    return f"at({warn:%Y-%m-%dT%H:%M:%S})"


def expiry_message(issued: Issued, valid_until: str, days: int) -> str:
    """The email the owner gets `days` before the certificate ends."""
    return (f"solarmonitor: {issued.what} ends on {valid_until[:10]}, in {days} days. Run make "
            f"deploy: it renews every certificate in its last {RENEWAL_DAYS} days. Then "
            f"{issued.after_renewal}. make check shows the days left of every certificate.")


def scheduler_trust_policy() -> str:
    """EventBridge Scheduler may assume the role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})


@dataclass(frozen=True)
class AlertsArgs:
    email: str
    """Where alerts go (AWS asks it to confirm the subscription). Required."""


class Alerts(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    """The topic every alert goes to."""

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:Alerts", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{name}-topic", display_name="solarmonitor",
                              tags={"Name": "solarmonitor-alerts"}, opts=self._child)
        aws.sns.TopicSubscription(f"{name}-email", topic=topic.arn, protocol="email",
                                  endpoint=args.email, opts=self._child)
        self.topic_arn = topic.arn
        self.register_outputs({"topicArn": self.topic_arn})

    def publisher_profile(self, node: str) -> aws.iam.InstanceProfile:
        """An instance profile for `node` whose role may publish to the topic, nothing else."""
        role = aws.iam.Role(f"{self._name}-{node}-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}), tags=node_tags(node, "alerts"), opts=self._child)
        aws.iam.RolePolicy(f"{self._name}-{node}-publish", role=role.id,
                           policy=self.topic_arn.apply(publish_policy), opts=self._child)
        return aws.iam.InstanceProfile(f"{self._name}-{node}-profile", role=role.name,
                                       tags=node_tags(node, "alerts"), opts=self._child)

    def watch_instances(self, instances: dict[str, pulumi.Input[str]]) -> None:
        """Alarm when a node fails its EC2 status checks, or is stopped."""
        for node, instance_id in instances.items():
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-{node}-status", namespace="AWS/EC2",
                metric_name="StatusCheckFailed", dimensions={"InstanceId": instance_id},
                statistic="Maximum", period=STATUS_CHECK_MINUTES * 60, evaluation_periods=2,
                datapoints_to_alarm=2, comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=1,
                # EC2 checks running instances only (ec2 DescribeInstanceStatus: "performs status
                # checks on running EC2 instances"): a stopped node sends no data at all, so
                # missing data is a node that is down.
                treat_missing_data="breaching",
                # A new instance has no status data for its first minutes; without a warm-up the
                # new alarm would evaluate that as breaching and email on every fresh deploy.
                warm_up_configuration=aws.cloudwatch.MetricAlarmWarmUpConfigurationArgs(
                    warm_up_period_duration_in_minutes=WARM_UP_MINUTES),
                alarm_description=f"solarmonitor: the {node} node is stopped or fails its EC2 "
                                  "status checks. Start or reboot it in the EC2 console; "
                                  "make deploy replaces a lost one.",
                # No OK action: a new alarm goes from INSUFFICIENT_DATA to OK and runs the OK
                # actions (cloudwatch PutMetricAlarm), one email per node on every deploy.
                alarm_actions=[self.topic_arn],
                tags=node_tags(node, "status-alarm"),
                # A replaced instance gets a new alarm, and so the warm-up again (an update keeps
                # the alarm's state and would evaluate the new instance's first minutes).
                opts=self._child.merge(pulumi.ResourceOptions(replace_on_changes=["dimensions"])))

    def warn_before_expiry(self, ends: dict[str, pulumi.Input[str]]) -> None:
        """Email the owner WARN_DAYS before each certificate in `ends` (by ISSUED key) ends."""
        role = aws.iam.Role(f"{self._name}-expiry-role",
                            assume_role_policy=scheduler_trust_policy(),
                            tags=node_tags("stack", "certificate-warnings"), opts=self._child)
        aws.iam.RolePolicy(f"{self._name}-expiry-publish", role=role.id,
                           policy=self.topic_arn.apply(publish_policy), opts=self._child)
        for issued in ISSUED:
            end = pulumi.Output.from_input(ends[issued.key])
            for days in WARN_DAYS:
                aws.scheduler.Schedule(
                    f"{self._name}-expiry-{issued.key}-{days}d",
                    description=f"solarmonitor: {issued.what} ends in {days} days",
                    schedule_expression=end.apply(
                        lambda valid_until, days=days: warning_expression(valid_until, days)),
                    schedule_expression_timezone="UTC",
                    flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                    target=aws.scheduler.ScheduleTargetArgs(
                        arn=self.topic_arn, role_arn=role.arn,
                        input=end.apply(lambda valid_until, issued=issued, days=days:
                                        expiry_message(issued, valid_until, days))),
                    opts=self._child)

    def watch_ip_guard(self, function_name: pulumi.Input[str]) -> None:
        """Email when the Pi at home, having called the IpGuard Lambda, stops calling it."""
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-ipguard-silent", namespace="AWS/Lambda", metric_name="Invocations",
            dimensions={"FunctionName": function_name}, statistic="Sum", period=3600,
            evaluation_periods=IP_GUARD_SILENT_HOURS, comparison_operator="LessThanThreshold",
            threshold=1,
            # Lambda publishes Invocations only for a call (its developer guide, "Working with
            # Lambda function metrics"), and the deploy's seeding runs another function: before
            # the Pi's first call there is no data at all, and a silent Pi stops the data. With
            # "missing", a window without data puts the alarm in INSUFFICIENT_DATA, which is
            # also the state a new alarm starts in, and its actions run on a transition "to the
            # INSUFFICIENT_DATA state from any other state" (cloudwatch PutMetricAlarm,
            # InsufficientDataActions): no email before the first call, one when the Pi has
            # been silent for two days (OK -> INSUFFICIENT_DATA).
            treat_missing_data="missing",
            insufficient_data_actions=[self.topic_arn],
            alarm_description="solarmonitor: the Pi at home has not called the IpGuard Lambda "
                              f"for {IP_GUARD_SILENT_HOURS // 24} days. Is the Pi on, online, "
                              "and is solarmonitor-ip-agent.timer running (systemctl status)?",
            alarm_actions=[self.topic_arn],
            tags=node_tags("ipguard", "silence-alarm"), opts=self._child)
