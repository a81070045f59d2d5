"""Network: one dual-stack VPC in one availability zone, with three subnets:

- public: IPv4 and IPv6 through the internet gateway (nodes with an Elastic IP);
- ipv6: IPv6 through the internet gateway, IPv4 out through the NAT (nodes the home reaches
  over IPv6 only: no public IPv4 to pay for);
- private: IPv6 out through the egress-only gateway, IPv4 out through the NAT.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.42.0.0/16"
PUBLIC_SUBNET_CIDR = "10.42.0.0/24"
PRIVATE_SUBNET_CIDR = "10.42.1.0/24"
IPV6_SUBNET_CIDR = "10.42.2.0/24"
# Between nodes, only what each pair needs (from, to, port, why): a node's group admits these and
# nothing else, so a taken-over node reaches no other node's services it has no business with
# (Grafana cannot reach the broker, Telegraf cannot SSH anywhere, nothing reaches Grafana).
NODE_FLOWS = (
    ("mqtt", "telegraf", 22, "SSH from the jump host"),
    ("mqtt", "influx", 22, "SSH from the jump host"),
    ("mqtt", "grafana", 22, "SSH from the jump host"),
    ("telegraf", "mqtt", 8884, "MQTT over TLS from Telegraf"),
    ("telegraf", "influx", 8086, "InfluxDB API: Telegraf writes"),
    ("grafana", "influx", 8086, "InfluxDB API: Grafana reads"),
    *((node, "mqtt", port, f"{name} out through the NAT instance")
      for node in ("telegraf", "influx", "grafana") for port, name in ((80, "HTTP"), (443, "HTTPS"))),
)


def ipv6_subnet(vpc_block: str, index: int) -> str:
    """The index-th /64 of the VPC's Amazon-provided /56."""
    block = ipaddress.IPv6Network(vpc_block)
    if block.prefixlen != 56 or not 0 <= index < 256:
        raise ValueError(f"expected a /56 and an index below 256, got {vpc_block} and {index}")
    return str(ipaddress.IPv6Network((int(block.network_address) + (index << 64), 64)))


def ipv6_host_address(subnet_block: str, number: int) -> str:
    """The `number`-th address of an IPv6 subnet (a fixed address, like an Elastic IP's)."""
    return str(ipaddress.IPv6Network(subnet_block).network_address + number)


def host_address(subnet_cidr: str, number: int) -> str:
    """The `number`-th address of a subnet (AWS keeps .0 to .3 for itself)."""
    network = ipaddress.IPv4Network(subnet_cidr)
    if not 4 <= number < network.num_addresses - 1:
        raise ValueError(f"{number} is not a usable host number in {subnet_cidr}")
    return str(network.network_address + number)


def first_zone_offering(locations: list[str], offered: list[str], wanted: tuple[str, ...]) -> str:
    """The first zone (by name) where every wanted instance type is offered; `locations` and
    `offered` are the parallel lists of DescribeInstanceTypeOfferings."""
    zones = sorted({zone for zone in locations
                    if set(wanted) <= {t for z, t in zip(locations, offered) if z == zone}})
    if not zones:
        raise ValueError(f"no availability zone offers all of {', '.join(wanted)}")
    return zones[0]


@dataclass(frozen=True)
class NetworkArgs:
    instance_types: tuple[str, ...] = ()
    """Instance types the nodes use: the zone is one that offers them all (not every zone has
    every type, e.g. t4g). Left out: the region's first available zone."""
    nodes: tuple[str, ...] = ("mqtt", "telegraf", "influx", "grafana")
    """The nodes: each gets a security group that admits NODE_FLOWS' traffic to it. Left out:
    the four of the stack."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    """The VPC every node lives in."""
    public_subnet_id: pulumi.Output[str]
    """Subnet for nodes with a public IPv4 (IPv4 and IPv6 through the internet gateway)."""
    private_subnet_id: pulumi.Output[str]
    """Subnet for nodes without public IPv4: IPv6 out through the egress-only gateway; IPv4 out
    through the route a NAT instance adds to `private_route_table_id`."""
    private_route_table_id: pulumi.Output[str]
    """Route table of the private subnet; it has no IPv4 default route until a NAT adds one."""
    ipv6_subnet_id: pulumi.Output[str]
    """Subnet for nodes the home reaches over IPv6 only (IPv4 out through the NAT)."""
    ipv6_subnet_block: pulumi.Output[str]
    """Its IPv6 /64."""
    ipv6_route_table_id: pulumi.Output[str]
    """Its route table; no IPv4 default route until a NAT adds one."""
    availability_zone: pulumi.Output[str]
    """The zone both subnets are in, as the subnet records it (stable across updates)."""
    node_group_ids: dict[str, pulumi.Output[str]]
    """Each node's own security group: from the other nodes only what NODE_FLOWS lists, all
    egress."""

    def __init__(self, name: str, args: NetworkArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:Network", name, None, opts)
        args = args or NetworkArgs()
        child = pulumi.ResourceOptions(parent=self)
        lookup = pulumi.InvokeOutputOptions(parent=self)
        if args.instance_types:
            offerings = aws.ec2.get_instance_type_offerings_output(
                location_type="availability-zone", opts=lookup,
                filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(
                    name="instance-type", values=sorted(set(args.instance_types)))])
            zone = pulumi.Output.all(offerings.locations, offerings.instance_types).apply(
                lambda lists: first_zone_offering(lists[0], lists[1], args.instance_types))
        else:
            zone = aws.get_availability_zones_output(state="available", opts=lookup).names[0]

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=VPC_CIDR,
                          assign_generated_ipv6_cidr_block=True,
                          enable_dns_support=True, enable_dns_hostnames=True,
                          tags={"Name": f"{name}-vpc"}, opts=child)
        # FSBP EC2.2: the default group must allow nothing; declaring it with no rules empties it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags={"Name": f"{name}-default-sg (empty)"}, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id,
                                          tags={"Name": f"{name}-igw"}, opts=child)
        egress_only = aws.ec2.EgressOnlyInternetGateway(f"{name}-eigw", vpc_id=vpc.id,
                                                        tags={"Name": f"{name}-eigw"}, opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, routes=[
            aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id),
            aws.ec2.RouteTableRouteArgs(ipv6_cidr_block="::/0", gateway_id=gateway.id),
        ], tags={"Name": f"{name}-public-rt"}, opts=child)
        # The other tables' routes are separate resources because the NAT's IPv4 route is added
        # by another component; mixing inline and separate routes on one table causes
        # perpetual diffs.
        private_rt = aws.ec2.RouteTable(f"{name}-private-rt", vpc_id=vpc.id,
                                        tags={"Name": f"{name}-private-rt"}, opts=child)
        aws.ec2.Route(f"{name}-private-ipv6-out", route_table_id=private_rt.id,
                      destination_ipv6_cidr_block="::/0",
                      egress_only_gateway_id=egress_only.id, opts=child)
        ipv6_rt = aws.ec2.RouteTable(f"{name}-ipv6-rt", vpc_id=vpc.id,
                                     tags={"Name": f"{name}-ipv6-rt"}, opts=child)
        aws.ec2.Route(f"{name}-ipv6-in-and-out", route_table_id=ipv6_rt.id,
                      destination_ipv6_cidr_block="::/0", gateway_id=gateway.id, opts=child)

        subnets = {}
        for index, (role, cidr, table) in enumerate(
            (("public", PUBLIC_SUBNET_CIDR, public_rt), ("private", PRIVATE_SUBNET_CIDR, private_rt),
             ("ipv6", IPV6_SUBNET_CIDR, ipv6_rt))
        ):
            subnet = aws.ec2.Subnet(
                f"{name}-{role}", vpc_id=vpc.id, availability_zone=zone, cidr_block=cidr,
                ipv6_cidr_block=vpc.ipv6_cidr_block.apply(lambda block, i=index: ipv6_subnet(block, i)),
                assign_ipv6_address_on_creation=True, map_public_ip_on_launch=False,
                tags={"Name": f"{name}-{role}"},
                # Pinned where the first deploy put it: the zone chosen from today's offerings
                # may differ tomorrow, and moving the subnet would replace every node and strand
                # InfluxDB's data volume in the old zone. After the internet gateway: an Elastic
                # IP is associated only once its VPC has one ("Gateway.NotAttached"; the
                # provider's website/docs/r/eip.html.markdown), and every instance, so every
                # Elastic IP, waits for its subnet.
                opts=child.merge(pulumi.ResourceOptions(ignore_changes=["availabilityZone"],
                                                        depends_on=[gateway])))
            aws.ec2.RouteTableAssociation(f"{name}-{role}-rta", subnet_id=subnet.id,
                                          route_table_id=table.id, opts=child)
            subnets[role] = subnet

        groups = {node: aws.ec2.SecurityGroup(
            f"{name}-{node}", vpc_id=vpc.id,
            description=f"solarmonitor {node} node: from the other nodes what it serves them",
            tags={"Name": f"{name}-{node}"}, opts=child) for node in args.nodes}
        for source, target, port, purpose in NODE_FLOWS:
            if source in groups and target in groups:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-{target}-from-{source}-{port}", security_group_id=groups[target].id,
                    referenced_security_group_id=groups[source].id, ip_protocol="tcp",
                    from_port=port, to_port=port, description=purpose, opts=child)
        for node, group in groups.items():
            for family, cidr in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")):
                aws.vpc.SecurityGroupEgressRule(
                    f"{name}-{node}-out-{family}", security_group_id=group.id, ip_protocol="-1",
                    # Rule descriptions take letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*
                    # only (ec2 IpRange/Ipv6Range Description): no apostrophe.
                    description="packages, time and every connection the nodes open",
                    **{f"cidr_{family}": cidr}, opts=child)

        self.availability_zone = subnets["private"].availability_zone
        self.vpc_id = vpc.id
        self.public_subnet_id = subnets["public"].id
        self.private_subnet_id = subnets["private"].id
        self.private_route_table_id = private_rt.id
        self.ipv6_subnet_id = subnets["ipv6"].id
        self.ipv6_subnet_block = subnets["ipv6"].ipv6_cidr_block
        self.ipv6_route_table_id = ipv6_rt.id
        self.node_group_ids = {node: group.id for node, group in groups.items()}
        self.register_outputs({"vpcId": self.vpc_id, "publicSubnetId": self.public_subnet_id,
                               "privateSubnetId": self.private_subnet_id})
