"""NatInstance: IPv4 egress for the private subnet through a public node (a NAT instance).

InfluxData's package repository has been IPv4-only, and nodes without a public IPv4 reach the
IPv6 internet through the egress-only gateway but nothing IPv4. A NAT Gateway costs more than the
whole stack, so a public node forwards and masquerades the private subnet's IPv4 traffic: a route
in the private route table, IP forwarding, and an iptables MASQUERADE rule kept by a systemd unit.
The host must have been created with `forwards_traffic` (no source/destination check).
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
    private_subnet_cidr: str
    """IPv4 range it masquerades. Required."""
    private_route_table_id: pulumi.Input[str]
    """Route table that gets the IPv4 default route through the host. Required."""
    after: list[pulumi.Resource] | None = None
    """What the host's own provisioning must finish first. Left out: nothing."""


class NatInstance(pulumi.ComponentResource):
    ready: list[pulumi.Resource]
    """Private nodes reach IPv4 addresses once these exist."""

    def __init__(self, name: str, args: NatInstanceArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:NatInstance", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        route = aws.ec2.Route(
            f"{name}-route", route_table_id=args.private_route_table_id,
            destination_cidr_block="0.0.0.0/0",
            network_interface_id=args.host.instance.primary_network_interface_id,
            # Before NAT had a component of its own, the broker owned this route; the alias keeps
            # it in place (a second route to 0.0.0.0/0 would be refused).
            opts=child.merge(pulumi.ResourceOptions(
                aliases=[pulumi.Alias(name="mqtt-nat-route", parent=args.host.owner)])))
        files = [
            RemoteFile("/usr/local/sbin/solarmonitor-nat", source("nat/nat.sh"), "0755"),
            RemoteFile("/etc/systemd/system/solarmonitor-nat.service",
                       render("nat/solarmonitor-nat.service", private_cidr=args.private_subnet_cidr)),
            RemoteFile("/etc/sysctl.d/60-solarmonitor-nat.conf",
                       source("nat/60-solarmonitor-nat.conf")),
        ]
        steps = Provisioner(name, args.host, self, after=list(args.after or []))
        enabled = steps.apply("enable", "nat/enable-nat.sh", files)
        self.ready = [enabled, route]
        self.register_outputs({"routeId": route.id})
