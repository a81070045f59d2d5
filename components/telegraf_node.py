"""TelegrafNode: Telegraf on its own instance, from OpenDTU's topics on the broker into InfluxDB."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.config import NodeSpec
from components.host import Host, HostArgs, JumpHost
from components.provisioning import RemoteFile, content_hashes, run_script, write_files
from components.telegraf_config import telegraf_conf
from components.templates import render_output


@dataclass(frozen=True)
class TelegrafNodeArgs:
    spec: NodeSpec
    """Instance type and root volume. Required."""
    subnet_id: pulumi.Input[str]
    security_group_ids: list[pulumi.Input[str]]
    key_name: pulumi.Input[str]
    private_key: pulumi.Input[str]
    """Network placement and SSH key pair (private key secret). Required."""
    jump: JumpHost | None
    """SSH jump host when the node has no public IPv4."""
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
            node="telegraf", spec=args.spec, subnet_id=args.subnet_id,
            security_group_ids=args.security_group_ids, key_name=args.key_name,
            private_key=args.private_key, jump=args.jump), opts=child)

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
        after = child.merge(pulumi.ResourceOptions(depends_on=[host, *args.after]))
        repo = run_script(f"{name}-repo", host.connection, "common/influxdata-repo.sh", opts=after)
        install = run_script(f"{name}-install", host.connection, "telegraf/install.sh",
                             opts=child.merge(pulumi.ResourceOptions(depends_on=[repo])))
        written = write_files(name, host.connection, files,
                              child.merge(pulumi.ResourceOptions(depends_on=[install])))
        self.ready = run_script(f"{name}-apply", host.connection, "telegraf/apply.sh",
                                triggers=content_hashes(files),
                                opts=child.merge(pulumi.ResourceOptions(depends_on=written)))
        self.private_ip = host.private_ip
        self.register_outputs({"privateIp": self.private_ip})
