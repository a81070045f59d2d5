"""InfluxNode: InfluxDB 2 over TLS on the host it is given, its data on a volume that outlives the
instance, backed up daily by Data Lifecycle Manager, with scoped tokens for Telegraf and Grafana.

Replacing the instance (a new image, another instance type, a lost host, another layout) keeps
the data: the volume is protected, lives in the network's pinned zone, is detached before the
old instance goes, and is mounted again (never formatted) by the new one. The tokens live on the
volume too, so they outlive the instance, and the token step hands out the same ones every time
it runs. The volume and its backups are this component's, whichever host it is given: another
layout moves the same volume to another host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.certificates import CertificateAuthority, server_certificate
from components.host import Host, node_tags
from components.opendtu_data import MAX_INVERTER_WATTS, NUMBER, STRING, measurements_of
from components.prices import memory_mib
from components.provisioning import Provisioner, RemoteFile
from components.storage import retention_days
from components.templates import render, render_output, source

PORT = 8086
LOOPBACK = "127.0.0.1"
ROOT_VOLUME_GB = 8  # the root volume holds the system only; `volumeGb` sizes the data volume
BACKUP_TAG = "solarmonitor:backup"  # the daily snapshot policy selects volumes by this tag
DATA_DEVICE = "/dev/sdf"
DLM_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"


# What setup.sh, tasks.sh and tokens.sh source: the data's place, the setup file, the CLI's target.
INFLUX_ENV = "/usr/local/lib/solarmonitor/influx-env.sh"
CONFIG_FILE = "/etc/influxdb/config.toml"
MIB = 2**20
QUERY_CONCURRENCY = 4  # two vCPUs on a t4g.micro; more queries at once only wait on each other
QUERY_QUEUE = 100  # the dashboard sends about 30 queries at once; two open tabs still fit


def influxd_limits(memory_mib: int) -> dict[str, int]:
    """influxd's memory limits for a node with `memory_mib` of memory. influxd limits nothing by
    default (query-memory-bytes and query-max-memory-bytes 0, 1024 concurrent queries; a shard's
    cache up to 1 GiB: influxdata/influxdb cmd/influxd/launcher, NewOpts, and tsdb
    DefaultCacheMaxMemorySize), so one wide query or a slow disk could take all of a t4g.micro's
    1 GiB and the kernel would kill influxd. Here: a quarter for queries, four at a time, each
    up to its share; an eighth for each shard's write cache, and two shards are written at once
    (the raw bucket's, and the history bucket's from the tasks), so another quarter; the half
    left is for influxd's index and runtime, the page cache and the system. A query over its
    share fails with an error in the panel; a write while the cache is full is refused and
    Telegraf keeps it in its buffer."""
    queries = memory_mib * MIB // 4
    per_query = queries // QUERY_CONCURRENCY
    return {"query_concurrency": QUERY_CONCURRENCY, "query_queue": QUERY_QUEUE,
            "query_max_memory": queries, "query_memory": per_query,
            "query_initial_memory": per_query // 4,
            "cache_max_memory": memory_mib * MIB // 8}


@dataclass(frozen=True)
class InfluxNodeArgs:
    host: Host
    """The host it runs on; it needs a fixed private address, which the TLS certificate names.
    Required."""
    volume_gb: int
    """Size of the data volume; it can grow, never shrink. Required."""
    availability_zone: pulumi.Input[str]
    """Zone of the node's subnet, for the data volume: from the network, which pins it (not
    from the instance, whose replacement would plan to replace the protected volume). Required."""
    ca: CertificateAuthority
    """Signs InfluxDB's TLS certificate. Required."""
    org: str
    bucket: str
    """InfluxDB org and the raw bucket (Telegraf's). Renaming either in the config renames it in
    InfluxDB, data and tokens kept. Required."""
    raw_retention: str
    """How long the raw bucket keeps its values. Required."""
    history_retention: str
    """How long the history bucket (`<bucket>_history`: 5-minute aggregates, daily energy)
    keeps them; "0" keeps them forever. Required."""
    timezone: str
    """The owner's IANA time zone: the daily energy's day. Required."""
    backup_days: int
    """Daily snapshots of the data volume are kept this many days. Required."""
    backup_tag: str
    """Value of the tag DLM selects volumes by; unique per stack. Required."""
    after: list[pulumi.Resource] | None = None
    """Resources the node needs before provisioning (NAT for IPv4, SSH access). Left out: none."""
    clients_on_host: bool = False
    """Telegraf and Grafana run on the same host: the API listens on the loopback address only,
    and `url` names it. Left out: they connect over the VPC, to the fixed private address."""
    memory_mib: int | None = None
    """Its share of a host it shares with other services (components/memory.py): the query and
    cache limits derive from it. Left out: all of the host's memory."""


# How many days back the tasks read the raw values again, for values that reach InfluxDB late:
# Telegraf's disk buffer holds about 9 days of one inverter on its default volume (README, "Data
# path"; components/telegraf_config.py buffer_hours), so 10 covers every outage it can hold.
LATE_DAYS = 10


def rewrite_days(raw_retention: str) -> int:
    """Days back the tasks read the raw values again (yesterday is 1): LATE_DAYS, but never a
    day the raw bucket may no longer hold whole, or its figure would be written again with less.

    InfluxDB deletes a whole shard group once its end is older than the retention (influxdb
    v2.9.1 v1/services/retention/service.go:223 deletes what ExpiredShardGroups returns,
    v1/services/meta/data.go:1260-1268: `EndTime.Add(Duration).Before(now)`), so a value younger
    than the retention is always there, whatever the shard groups' duration (1 hour, 1 day or
    7 days by the retention, data.go:1357-1365, or the bucket's own). Older ones may be partly
    gone: a local day spans two UTC shard groups (data.go:375, StartTime truncated in UTC). The daily task's run
    at 23:00 reading the day N back starts N days and 23 hours before it (24 on the day the
    clocks go back), and robustStepsIn reads the sample before that midnight too, normally the
    evening before: so N days, a day and a day before it, and an hour, all younger than the
    retention. The 5-minute history needs less (its run at 00:00 UTC reads exactly N days)."""
    seconds = retention_days(raw_retention) * 86400
    days = int((seconds - 3600) // 86400) - 2
    if days < 1:
        raise ValueError(f"raw retention {raw_retention}: too short to read yesterday again "
                         "(components/config.py MIN_RAW_RETENTION_HOURS)")
    return min(LATE_DAYS, days)


def task_values(history_retention: str, raw_retention: str, timezone: str) -> dict[str, dict]:
    """What each of files/influx/tasks/*.flux is rendered with, by task name."""
    return {
        "downsample": dict(history_retention=(
            "forever" if history_retention == "0" else history_retention),
            numbers=measurements_of(NUMBER), strings=measurements_of(STRING),
            rewrite_days=rewrite_days(raw_retention)),
        "daily-energy": dict(timezone=timezone, max_watts=MAX_INVERTER_WATTS,
                             rewrite_days=rewrite_days(raw_retention))}


def history_bucket(bucket: str) -> str:
    """Where the 5-minute history and the daily energy go, next to the raw bucket."""
    return f"{bucket}_history"


class InfluxNode(pulumi.ComponentResource):
    TYPE = "solarmonitor:index:InfluxNode"
    """Its type token, in every URN under it: never renamed."""
    SERVICES = ("influxdb",)
    """The systemd units it runs (what `make logs` shows)."""
    host: Host
    """The instance it runs on (how `make ssh` reaches it)."""
    instance_id: pulumi.Output[str]
    """The node's EC2 instance (what its status alarm watches)."""
    url: pulumi.Output[str]
    """https://<fixed private address>:8086, reachable from the other nodes only; or
    https://127.0.0.1:8086, from its own host only (`clients_on_host`)."""
    admin_token: pulumi.Output[str]
    """Operator token (secret): everything, in every org."""
    telegraf_token: pulumi.Output[str]
    """Token that may write the bucket only (secret); the same on every run of the token step."""
    grafana_token: pulumi.Output[str]
    """Token that may read the bucket only (secret); the same on every run of the token step."""
    ready: pulumi.Resource
    """The step after which InfluxDB runs with its org, bucket and tokens."""
    certificate_valid_until: pulumi.Output[str]
    """When InfluxDB's certificate ends (RFC 3339)."""

    def __init__(self, name: str, args: InfluxNodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        host = args.host
        if host.fixed_private_ip is None:
            raise ValueError("InfluxNode needs a host with a fixed private address: its clients "
                             "and its certificate name it")

        # Tagged as InfluxDB's in either layout: the volume keeps its tags when it moves.
        tags = {**node_tags("influx", "data"), BACKUP_TAG: args.backup_tag}
        # Protected and separate from the instance: replacing or deleting the instance leaves
        # the data where it is; `pulumi destroy` stops here until the user unprotects it.
        volume = aws.ebs.Volume(
            f"{name}-data", availability_zone=args.availability_zone,
            size=args.volume_gb, type="gp3", encrypted=True, tags=tags,
            opts=child.merge(pulumi.ResourceOptions(protect=True)))
        attachment = aws.ec2.VolumeAttachment(
            f"{name}-data-attachment", device_name=DATA_DEVICE, volume_id=volume.id,
            instance_id=host.instance.id, stop_instance_before_detaching=True,
            # A volume is attached to one instance at a time: the old attachment must go before
            # the new one is made, or AWS answers VolumeInUse.
            opts=child.merge(pulumi.ResourceOptions(delete_before_replace=True)))
        # Detaching stops the instance (stop_instance_before_detaching) and attaching does not
        # start it (hashicorp/terraform-provider-aws internal/service/ec2/
        # ebs_volume_attachment.go): when a volume is attached anew (a restored one, see the
        # README), this starts the instance again before the SSH steps. Creating it starts a
        # stopped instance and leaves a running one be (ec2_instance_state.go, Create). pulumi-aws
        # files aws_ec2_instance_state under ec2transitgateway, whatever the name says.
        running = aws.ec2transitgateway.InstanceState(
            f"{name}-running", instance_id=host.instance.id, state="running",
            opts=child.merge(pulumi.ResourceOptions(depends_on=[attachment])))

        dlm_role = aws.iam.Role(f"{name}-backup-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "dlm.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}), opts=child)
        dlm_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-backup-role-policy", role=dlm_role.name, policy_arn=DLM_POLICY_ARN,
            opts=child)
        aws.dlm.LifecyclePolicy(
            # DLM takes only [0-9A-Za-z _-] here (dlm PolicyDescription; the provider checks it).
            f"{name}-backup",
            description="solarmonitor daily snapshots of the InfluxDB data volume",
            execution_role_arn=dlm_role.arn, state="ENABLED",
            policy_details=aws.dlm.LifecyclePolicyPolicyDetailsArgs(
                resource_types=["VOLUME"], target_tags={BACKUP_TAG: args.backup_tag},
                schedules=[aws.dlm.LifecyclePolicyPolicyDetailsScheduleArgs(
                    name="daily", copy_tags=True,
                    create_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs(
                        interval=24, interval_unit="HOURS", times="03:00"),
                    retain_rule=aws.dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs(
                        count=args.backup_days))]),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[dlm_attachment])))

        certificate = server_certificate(
            f"{name}-server", args.ca, common_name=host.fixed_private_ip,
            ip_addresses=[host.fixed_private_ip, LOOPBACK], dns_names=["localhost"],
            opts=child)
        admin_password = random.RandomPassword(f"{name}-admin-password", length=32,
                                               special=False, opts=child)
        operator_token = pulumi.Output.secret(random.RandomPassword(
            f"{name}-operator-token", length=64, special=False, opts=child).result)

        steps = Provisioner(name, host, self, after=[running, *(args.after or [])])
        # Again when the volume grows, to grow the file system.
        steps.run("mount-data", "influx/mount-data.sh", args=[volume.id], triggers=[volume.size])
        # Before the package exists: influxd must never start without its data volume mounted.
        steps.write([RemoteFile("/etc/systemd/system/influxdb.service.d/solarmonitor.conf",
                                source("influx/requires-data-volume.conf"))])
        if args.memory_mib:
            steps.limit_memory("influxdb", args.memory_mib, go=True)
        steps.run("repo", "common/influxdata-repo.sh")
        steps.run("install", "influx/install.sh")
        steps.apply("setup", "influx/setup.sh", [
            RemoteFile(INFLUX_ENV, source("influx/influx-env.sh")),
            RemoteFile(CONFIG_FILE, render(
                "influx/config.toml", bind_host=LOOPBACK if args.clients_on_host else "",
                **influxd_limits(args.memory_mib or memory_mib(host.instance_type)))),
            RemoteFile("/usr/local/share/ca-certificates/solarmonitor.crt", args.ca.cert_pem),
            RemoteFile("/etc/influxdb/tls/server.crt", certificate.cert_pem),
            RemoteFile("/etc/influxdb/tls/server.key", certificate.key_pem,
                       "0640", "root", "influxdb"),
            RemoteFile("/etc/solarmonitor/influx-setup.env", render_output(
                "influx/setup.env", admin_password=admin_password.result,
                operator_token=operator_token, org=args.org, bucket=args.bucket,
                retention=args.raw_retention, history_bucket=history_bucket(args.bucket),
                history_retention=args.history_retention), "0600"),
        ], args=[volume.id])
        history = history_bucket(args.bucket)
        steps.apply("tasks", "influx/tasks.sh", [
            RemoteFile(f"/etc/solarmonitor/influx-{kind}/{name}.flux", render(
                f"influx/tasks/{name}.flux", bucket=args.bucket, history_bucket=history,
                backfill=kind == "backfill", **values))
            for kind in ("tasks", "backfill") for name, values in task_values(
                args.history_retention, args.raw_retention, args.timezone).items()],
            args=[args.raw_retention])
        tokens_step = steps.run("tokens", "influx/tokens.sh", triggers=[args.org, args.bucket],
                                prints_secret=True)
        tokens = tokens_step.stdout.apply(json.loads)

        address = LOOPBACK if args.clients_on_host else host.fixed_private_ip
        self.url = pulumi.Output.from_input(f"https://{address}:{PORT}")
        self.admin_token = operator_token
        self.telegraf_token = pulumi.Output.secret(tokens["telegraf"])
        self.grafana_token = pulumi.Output.secret(tokens["grafana"])
        self.ready = tokens_step
        self.host = host
        self.certificate_valid_until = certificate.valid_until
        self.instance_id = host.instance.id
        self.register_outputs({"url": self.url, "adminToken": self.admin_token,
                               "telegrafToken": self.telegraf_token,
                               "grafanaToken": self.grafana_token})
