"""Host: the EC2 instance a node is, and how provisioning steps reach it over SSH. `__main__.py`
makes the hosts and places the services on them (components/mqtt_broker.py and the others take
the host they run on): one each in the separate layout, one for all in the compact one.

Each host has an SSH host key made by the stack, installed by cloud-init before sshd first
answers, and pinned in every connection to it (the jump included): pulumi-command accepts any
host key when none is given (provider/pkg/provider/remote/connection.go, SSHConfig:
InsecureIgnoreHostKey), and it sends passwords, TLS keys and tokens over these connections.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import pulumi_tls as tls

from components.config import NodeSpec
from components.templates import render_output

UBUNTU_OWNER = "099720109477"  # Canonical
UBUNTU_IMAGE = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-*-server-*"
SSH_USER = "ubuntu"
HOST_TYPE = "solarmonitor:index:Host"  # in every URN under a host: never renamed
# On every billable resource: the bill (and AWS Cost Explorer) group by it.
NODE_TAG = "solarmonitor:node"
# A booting instance refuses SSH for a minute or two; 60 dials of up to 10 s ride that out.
DIAL_ERROR_LIMIT = 60
PER_DIAL_TIMEOUT = 10


@dataclass(frozen=True)
class JumpHost:
    """A public node that forwards SSH to nodes without a public address."""
    host: pulumi.Input[str]
    private_key: pulumi.Input[str]
    host_key: pulumi.Input[str]
    """Its SSH host key (authorized_keys format), checked on every hop through it."""


@dataclass(frozen=True)
class Placement:
    """Where a node runs and how provisioning reaches it; every node component takes one."""
    node: str
    """Node name (mqtt, telegraf, influx, grafana, or compact): tags and cost items carry it.
    Required."""
    spec: NodeSpec
    """Instance type, public IPv4 and volume size. Required."""
    subnet_id: pulumi.Input[str]
    """Subnet matching `spec.public_ipv4`. Required."""
    security_group_ids: list[pulumi.Input[str]]
    """Groups of the instance. Required."""
    key_name: pulumi.Input[str]
    """EC2 key pair the SSH connection uses. Required."""
    private_key: pulumi.Input[str]
    """The matching private key (secret). Required."""
    private_ip: str | None = None
    """Fixed address in the subnet, kept by a replacement (what other nodes are configured
    with stays valid). Left out: AWS picks one, and a replacement gets another."""
    ipv6_address: pulumi.Input[str] | None = None
    """Fixed IPv6 address in the subnet's /64, kept by a replacement (for a node the home
    reaches over IPv6). Left out: AWS picks one."""
    jump: JumpHost | None = None
    """Jump host for SSH. Left out: SSH goes straight to the public address."""


@dataclass(frozen=True)
class FormerHost:
    """A host a stack may hold from before: by its name, and the component it was a child of."""
    name: str
    under: pulumi.Input[str] | None = None
    """URN of that component; None: a top-level host."""


@dataclass(frozen=True)
class HostArgs:
    placement: Placement
    """Where the instance runs. Required."""
    root_volume_gb: int | None = None
    """Root volume size. Left out: `placement.spec.volume_gb`."""
    forwards_traffic: bool = False
    """True for a NAT instance: disables the source/destination check."""
    instance_profile: pulumi.Input[str] | None = None
    """Name of an IAM instance profile (what the node may do in AWS). Left out: none."""
    formerly_under: pulumi.Input[str] | None = None
    """URN of the component this host was a child of before the layouts (a service made its own
    host until issue 24): an alias keeps the host, and through it its instance, Elastic IP and
    host key, where a stack of then holds them. Left out: a host new with the layouts."""
    address_of: tuple[FormerHost, ...] = ()
    """Hosts whose Elastic IP this one takes over where the stack holds them (the broker's host
    of the other layout): the address, and so the broker's name that OpenDTU and the Pi are
    given, stays when the layout changes. Left out: none."""


def ubuntu_image(architecture: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Newest Ubuntu 24.04 LTS image for arm64 or x86_64."""
    return aws.ec2.get_ami_output(
        most_recent=True, owners=[UBUNTU_OWNER],
        filters=[aws.ec2.GetAmiFilterArgs(name="name", values=[UBUNTU_IMAGE]),
                 aws.ec2.GetAmiFilterArgs(name="architecture", values=[architecture]),
                 aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"])],
        opts=pulumi.InvokeOutputOptions(parent=parent)).id


def node_tags(node: str, role: str | None = None) -> dict[str, str]:
    """Tags for a node's resources: a readable Name and the node (what the bill groups by)."""
    return {"Name": "-".join(["solarmonitor", node, *([role] if role else [])]), NODE_TAG: node}


class Host(pulumi.ComponentResource):
    instance: aws.ec2.Instance
    """The instance (its id, ENI, availability zone)."""
    private_ip: pulumi.Output[str]
    """Address inside the VPC; what other nodes connect to."""
    public_ip: pulumi.Output[str] | None
    """Elastic IP when the node is public (stable across instance replacement), else None."""
    ipv6_address: pulumi.Output[str]
    """The instance's IPv6 address (the fixed one when the placement names it)."""
    public_dns: pulumi.Output[str] | None
    """AWS's public DNS name of the Elastic IP (ec2-a-b-c-d.<region>.compute.amazonaws.com),
    which resolves publicly without a domain of one's own; None without an Elastic IP."""
    host_key: pulumi.Output[str]
    """The host's SSH public key (authorized_keys format)."""
    connection: command.remote.ConnectionArgs
    """SSH connection for provisioning steps: user ubuntu, host key pinned, patient dialling."""
    node: str
    """The node it is (tags, the bill, `make ssh`)."""
    instance_type: str
    """Its instance type."""
    fixed_private_ip: str | None
    """The placement's fixed private address, known before the instance exists (what clients
    and certificates name); None when AWS picks one."""
    formerly_under: pulumi.Input[str] | None
    """URN of the component it was a child of before the layouts, if any."""
    provisioned: list[pulumi.Resource]
    """The last provisioning step on it so far: whatever is installed next waits for it, so the
    services sharing a host never run apt or restart at the same time (components/
    provisioning.py)."""

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        if args.formerly_under is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                aliases=[pulumi.Alias(parent=args.formerly_under)]))
        super().__init__(HOST_TYPE, name, None, opts)
        self.formerly_under = args.formerly_under
        self.provisioned = []
        child = pulumi.ResourceOptions(parent=self)
        where = args.placement
        self.node, self.fixed_private_ip = where.node, where.private_ip
        self.instance_type = where.spec.instance_type
        tags = node_tags(where.node)

        host_key = tls.PrivateKey(f"{name}-ssh-host-key", algorithm="ED25519", opts=child)
        self.host_key = host_key.public_key_openssh.apply(str.strip)
        user_data = render_output("common/cloud-config.yaml",
                                  private_key=pulumi.Output.secret(host_key.private_key_openssh),
                                  public_key=self.host_key)

        self.instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ubuntu_image(where.spec.architecture, self),
            instance_type=where.spec.instance_type,
            subnet_id=where.subnet_id,
            private_ip=where.private_ip,
            vpc_security_group_ids=where.security_group_ids,
            key_name=where.key_name,
            # A public node's IPv4 is its Elastic IP (it outlives the instance); an address from
            # launch as well would only be billed until the EIP replaces it.
            associate_public_ip_address=False,
            ipv6_addresses=[where.ipv6_address] if where.ipv6_address is not None else None,
            ipv6_address_count=None if where.ipv6_address is not None else 1,
            source_dest_check=not args.forwards_traffic,
            iam_instance_profile=args.instance_profile,
            user_data=user_data,
            # cloud-init installs the host key on the first boot only: a new key needs a new host.
            user_data_replace_on_change=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3", volume_size=args.root_volume_gb or where.spec.volume_gb,
                encrypted=True, delete_on_termination=True, tags=tags),
            # "standard" credits: a busy node slows down instead of running up a bill.
            credit_specification=aws.ec2.InstanceCreditSpecificationArgs(cpu_credits="standard"),
            tags=tags,
            opts=child.merge(pulumi.ResourceOptions(
                # A newer Ubuntu image must not replace a running node; patches come from apt.
                ignore_changes=["ami"],
                # But x86 <-> arm64 needs another image, which AWS cannot change in place: with
                # the image ignored, the type alone would be an update AWS refuses.
                replacement_trigger=where.spec.architecture,
                # The fixed private address is free only once the old instance is gone.
                delete_before_replace=True)))

        self.private_ip = self.instance.private_ip
        self.ipv6_address = self.instance.ipv6_addresses[0]
        self.public_ip = self.public_dns = None
        if where.spec.public_ipv4:
            # An Elastic IP moves to another instance in place (AssociateAddress).
            eip = aws.ec2.Eip(f"{name}-eip", domain="vpc", instance=self.instance.id, tags=tags,
                              opts=child.merge(pulumi.ResourceOptions(aliases=[
                                  pulumi.Alias(name=f"{former.name}-eip", parent=pulumi.create_urn(
                                      former.name, HOST_TYPE, parent=former.under))
                                  for former in args.address_of] or None)))
            self.public_ip, self.public_dns = eip.public_ip, eip.public_dns

        proxy = None
        if where.jump is not None:
            proxy = command.remote.ProxyConnectionArgs(
                host=where.jump.host, user=SSH_USER, private_key=where.jump.private_key,
                host_key=where.jump.host_key,
                dial_error_limit=DIAL_ERROR_LIMIT, per_dial_timeout=PER_DIAL_TIMEOUT)
        self.connection = command.remote.ConnectionArgs(
            host=self.public_ip if self.public_ip is not None else self.private_ip,
            user=SSH_USER, private_key=where.private_key, host_key=self.host_key, proxy=proxy,
            dial_error_limit=DIAL_ERROR_LIMIT, per_dial_timeout=PER_DIAL_TIMEOUT)
        self._jump = where.jump
        self._private_key = where.private_key
        self.register_outputs({"privateIp": self.private_ip, "publicIp": self.public_ip,
                               "hostKey": self.host_key})

    def as_jump(self) -> JumpHost:
        """This host as the jump host of nodes without a public address (it needs one)."""
        if self.public_ip is None:
            raise ValueError(f"{self.node}: a jump host needs a public IPv4")
        return JumpHost(host=self.public_ip, private_key=self._private_key,
                        host_key=self.host_key)

    def ssh_endpoint(self, serves: dict[str, tuple[str, ...]]) -> pulumi.Output[dict]:
        """How `make ssh` and `make logs` reach this host, exactly as provisioning does (the
        `connection`): address, user and pinned host key, and the jump host with its pinned key
        where there is one; with the systemd units it runs (`services`, for the logs), and those
        of each service on it (`serves`: `make logs NODE=telegraf` on a shared host)."""
        jump = self._jump
        return pulumi.Output.all(
            self.connection.host, self.host_key,
            jump.host if jump else None, jump.host_key if jump else None,
        ).apply(lambda values: {
            "host": values[0], "user": SSH_USER, "hostKey": values[1],
            "jump": {"host": values[2], "user": SSH_USER, "hostKey": values[3]} if jump else None,
            "services": [unit for units in serves.values() for unit in units],
            "serves": {service: list(units) for service, units in serves.items()}})
