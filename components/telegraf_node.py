"""TelegrafNode: Telegraf on its own instance, from OpenDTU's topics on the broker into InfluxDB."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.host import Host, HostArgs, Placement
from components.provisioning import Provisioner, RemoteFile, content_hashes
from components.telegraf_config import telegraf_conf
from components.templates import render_output


@dataclass(frozen=True)
class TelegrafNodeArgs:
    placement: Placement
    """Where the node runs and how provisioning reaches it. Required."""
    topic_prefix: str
    """OpenDTU's topic prefix. Required."""
    broker_host: pulumi.Input[str]
    """The broker's private address (in its certificate). Required."""
    ca_cert: pulumi.Input[str]
    """PEM of the CA that signed the broker's certificate. Required."""
    mqtt_user: str
    mqtt_password: pulumi.Input[str]
    """The broker's read-only telegraf user (password secret). Required."""
    influx_url: pulumi.Input[str]
    influx_token: pulumi.Input[str]
    """InfluxDB and the write-only token (secret). Required."""
    org: str
    bucket: str
    """InfluxDB org and bucket. Required."""
    after: list[pulumi.Resource]
    """Provisioning waits for these: the broker and InfluxDB ready, the NAT. Required."""


class TelegrafNode(pulumi.ComponentResource):
    ready: pulumi.Resource
    """The step after which Telegraf runs with its final configuration."""
    private_ip: pulumi.Output[str]
    """The node's address inside the VPC."""

    def __init__(self, name: str, args: TelegrafNodeArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:TelegrafNode", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        host = Host(f"{name}-host", HostArgs(
            placement=args.placement), opts=child)

        conf = pulumi.Output.all(args.broker_host, args.influx_url).apply(
            lambda values: telegraf_conf(args.topic_prefix, values[0], args.mqtt_user,
                                         values[1], args.org, args.bucket))
        files = [
            RemoteFile("/etc/telegraf/telegraf.conf", conf, "0640", "root", "telegraf"),
            RemoteFile("/etc/telegraf/solarmonitor-ca.crt", args.ca_cert),
            RemoteFile("/etc/default/telegraf", render_output(
                "telegraf/telegraf.env", mqtt_password=args.mqtt_password,
                influx_token=args.influx_token), "0600"),
        ]
        steps = Provisioner(name, host, self, after=list(args.after))
        steps.run("repo", "common/influxdata-repo.sh")
        steps.run("install", "telegraf/install.sh")
        steps.apply("check", "telegraf/check.sh", files)
        self.ready = steps.run("apply", "common/restart-service.sh", args=["telegraf"],
                               triggers=content_hashes(files))
        self.private_ip = host.private_ip
        self.register_outputs({"privateIp": self.private_ip})
