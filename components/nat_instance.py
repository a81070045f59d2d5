"""NatInstance: IPv4 egress for nodes without a public IPv4, through a public node.

InfluxData's package repository has been IPv4-only, and nodes without a public IPv4 reach the
IPv6 internet but nothing IPv4. A NAT Gateway costs more than the whole stack, so a public node
forwards and masquerades their IPv4 traffic: a default route in their subnets' route tables, IP
forwarding, and an iptables MASQUERADE rule kept by a systemd unit. The host must have been
created with `forwards_traffic` (no source/destination check).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.host import Host
from components.provisioning import Provisioner, RemoteFile
from components.templates import render, source


@dataclass(frozen=True)
class NatInstanceArgs:
    host: Host
    """The public node that forwards; created with `forwards_traffic=True`. Required."""
    source_cidr: str
    """IPv4 range it masquerades (the VPC's). Required."""
    route_table_ids: dict[str, pulumi.Input[str]]
    """Route tables that get the IPv4 default route through the host, by subnet role; the
    "private" one's route is named `<name>-route`, the others `<name>-route-<role>`. Required."""
    after: list[pulumi.Resource] | None = None
    """What the host's own provisioning must finish first. Left out: nothing."""


class NatInstance(pulumi.ComponentResource):
    SERVICES = ("solarmonitor-nat",)
    """The systemd units it adds to its host (what `make logs` shows)."""
    ready: list[pulumi.Resource]
    """Private nodes reach IPv4 addresses once these exist."""

    def __init__(self, name: str, args: NatInstanceArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:NatInstance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        routes = []
        for role, table in args.route_table_ids.items():
            private = role == "private"
            routes.append(aws.ec2.Route(
                f"{name}-route" if private else f"{name}-route-{role}", route_table_id=table,
                destination_cidr_block="0.0.0.0/0",
                network_interface_id=args.host.instance.primary_network_interface_id,
                # Before NAT had a component of its own, the broker owned the private route; the
                # alias keeps it in place (a second route to 0.0.0.0/0 would be refused).
                opts=child.merge(pulumi.ResourceOptions(aliases=[
                    pulumi.Alias(name="mqtt-nat-route", parent=args.host.formerly_under)]
                    if private and args.host.formerly_under is not None else None))))
        files = [
            RemoteFile("/usr/local/sbin/solarmonitor-nat", source("nat/nat.sh"), "0755"),
            RemoteFile("/etc/systemd/system/solarmonitor-nat.service",
                       render("nat/solarmonitor-nat.service", source_cidr=args.source_cidr)),
            RemoteFile("/etc/sysctl.d/60-solarmonitor-nat.conf",
                       source("nat/60-solarmonitor-nat.conf")),
        ]
        steps = Provisioner(name, args.host, self, after=list(args.after or []))
        enabled = steps.apply("enable", "nat/enable-nat.sh", files)
        self.ready = [enabled, *routes]
        self.register_outputs({"routeIds": [route.id for route in routes]})
