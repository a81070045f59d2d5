"""TelegrafNode: Telegraf on the host it is given, from OpenDTU's topics on the broker into
InfluxDB."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.host import Host
from components.provisioning import Provisioner, RemoteFile, content_hashes
from components.telegraf_config import telegraf_conf
from components.templates import render_output


@dataclass(frozen=True)
class TelegrafNodeArgs:
    host: Host
    """The host it runs on. Required."""
    topic_prefix: str
    """OpenDTU's topic prefix. Required."""
    broker_url: pulumi.Input[str]
    """ssl://<the broker's address>:<its listener for Telegraf> (the address is in its
    certificate): `MqttBroker.internal_url`. Required."""
    ca_cert: pulumi.Input[str]
    """PEM of the CA that signed the broker's certificate. Required."""
    mqtt_password: pulumi.Input[str]
    """Password of the broker's read-only telegraf user (secret); its usernames are the
    consumers' client ids (components/telegraf_config.py, mqtt_logins). Required."""
    influx_url: pulumi.Input[str]
    influx_token: pulumi.Input[str]
    """InfluxDB and the write-only token (secret). Required."""
    org: str
    bucket: str
    """InfluxDB org and bucket. Required."""
    after: list[pulumi.Resource]
    """Provisioning waits for these: the broker and InfluxDB ready, the NAT. Required."""
    root_volume_gb: int = 8
    """The host's root volume, which the disk buffer fills. Left out: 8."""
    reserved_gib: float = 0
    """What else the root volume holds besides the system and Telegraf (the other services and
    the swap file of a shared host). Left out: nothing."""
    memory_mib: int | None = None
    """Its share of a host it shares with other services (components/memory.py). Left out: the
    host is its own, and nothing is limited."""


class TelegrafNode(pulumi.ComponentResource):
    TYPE = "solarmonitor:index:TelegrafNode"
    """Its type token, in every URN under it: never renamed."""
    SERVICES = ("telegraf",)
    """The systemd units it runs (what `make logs` shows)."""
    host: Host
    """The instance it runs on (how `make ssh` reaches it)."""
    instance_id: pulumi.Output[str]
    """The node's EC2 instance (what its status alarm watches)."""
    ready: pulumi.Resource
    """The step after which Telegraf runs with its final configuration."""
    private_ip: pulumi.Output[str]
    """The node's address inside the VPC."""

    def __init__(self, name: str, args: TelegrafNodeArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        host = args.host

        def conf(check: bool) -> pulumi.Output[str]:
            return pulumi.Output.all(args.broker_url, args.influx_url).apply(
                lambda urls: telegraf_conf(args.topic_prefix, urls[0], urls[1], args.org,
                                           args.bucket, check=check,
                                           volume_gb=args.root_volume_gb,
                                           reserved_gib=args.reserved_gib))

        files = [
            RemoteFile("/etc/telegraf/telegraf.conf", conf(check=False), "0640", "root", "telegraf"),
            RemoteFile("/etc/telegraf/telegraf-check.conf", conf(check=True),
                       "0640", "root", "telegraf"),
            RemoteFile("/etc/telegraf/solarmonitor-ca.crt", args.ca_cert),
            RemoteFile("/etc/default/telegraf", render_output(
                "telegraf/telegraf.env", mqtt_password=args.mqtt_password,
                influx_token=args.influx_token), "0600"),
        ]
        steps = Provisioner(name, host, self, after=list(args.after))
        if args.memory_mib:
            steps.limit_memory("telegraf", args.memory_mib, go=True)
        steps.run("repo", "common/influxdata-repo.sh")
        steps.run("install", "telegraf/install.sh")
        steps.apply("check", "telegraf/check.sh", files)
        self.ready = steps.run("apply", "common/restart-service.sh", args=["telegraf"],
                               triggers=content_hashes(files))
        self.host = host
        self.private_ip = host.private_ip
        self.instance_id = host.instance.id
        self.register_outputs({"privateIp": self.private_ip})
