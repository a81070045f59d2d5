"""MqttBroker: mosquitto with TLS, hashed passwords and per-user ACLs, on its own instance; it
is also the jump host and the IPv4 NAT for the nodes without a public address."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.certificates import CertificateAuthority, server_certificate
from components.host import Host, HostArgs, JumpHost, Placement
from components.provisioning import Provisioner, RemoteFile
from components.templates import render, source

TLS_PORT = 8883
PLAINTEXT_PORT = 1883
OPENDTU_USER = "opendtu"
TELEGRAF_USER = "telegraf"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd writes for "$7$" (PBKDF2-SHA512) entries


def password_line(user: str, password: str, salt_b64: str) -> str:
    """One mosquitto password-file line, hashed the way `mosquitto_passwd` hashes ($7$)."""
    salt = base64.b64decode(salt_b64)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"{user}:$7${PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class MqttBrokerArgs:
    placement: Placement
    """Where the node runs and how provisioning reaches it. Required."""
    ca: CertificateAuthority
    """Signs the broker's certificate. Required."""
    private_subnet_cidr: str
    """IPv4 range this node NATs for. Required."""
    private_route_table_id: pulumi.Input[str]
    """Route table that gets the IPv4 default route through this node. Required."""
    topic_prefix: str = "solar"
    """OpenDTU's topic prefix. Left out: solar."""
    plaintext: bool = False
    """Also listen for plain MQTT on 1883 (with passwords). Left out: TLS only."""
    dns_name: str | None = None
    """Name to put in the certificate and `host` (when a domain is set). Left out: the IP."""
    after: list[pulumi.Resource] | None = None
    """Resources SSH needs first (the home rules being seeded). Left out: none."""


class MqttBroker(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """What OpenDTU connects to: the Elastic IP (or the DNS name when a domain is set)."""
    port: int
    """8883 (MQTT over TLS)."""
    private_ip: pulumi.Output[str]
    """Address Telegraf connects to; it is in the certificate too."""
    ca_cert: pulumi.Output[str]
    """PEM of the CA that signed the broker's certificate (OpenDTU's "CA certificate")."""
    opendtu_user: str
    opendtu_password: pulumi.Output[str]
    """Secret."""
    telegraf_user: str
    telegraf_password: pulumi.Output[str]
    """Secret."""
    jump: JumpHost
    """SSH jump host for nodes without a public address."""
    ready: pulumi.Resource
    """The step after which the broker runs with its final configuration."""
    nat_ready: list[pulumi.Resource]
    """Private nodes reach IPv4 addresses once these exist."""

    def __init__(self, name: str, args: MqttBrokerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:MqttBroker", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        host = Host(f"{name}-host", HostArgs(
            placement=args.placement, forwards_traffic=True), opts=child)
        nat_route = aws.ec2.Route(f"{name}-nat-route", route_table_id=args.private_route_table_id,
                                  destination_cidr_block="0.0.0.0/0",
                                  network_interface_id=host.instance.primary_network_interface_id,
                                  opts=child)

        certificate = server_certificate(
            f"{name}-server", args.ca, common_name=args.dns_name or "solarmonitor-mqtt",
            ip_addresses=[host.public_ip, host.private_ip],
            dns_names=[args.dns_name] if args.dns_name else [], opts=child)

        passwords = {}
        lines = []
        for user in (OPENDTU_USER, TELEGRAF_USER):
            password = random.RandomPassword(f"{name}-{user}-password", length=32, special=False,
                                             opts=child)
            salt = random.RandomBytes(f"{name}-{user}-salt", length=12, opts=child)
            passwords[user] = pulumi.Output.secret(password.result)
            lines.append(pulumi.Output.all(passwords[user], salt.base64).apply(
                lambda values, user=user: password_line(user, *values)))
        password_file = pulumi.Output.all(*lines).apply(lambda entries: "\n".join(entries) + "\n")

        conf = render("mqtt/mosquitto.conf", plaintext_listener=(
            source("mqtt/plaintext-listener.conf") if args.plaintext else ""))
        acl = render("mqtt/acl", prefix=args.topic_prefix, opendtu_user=OPENDTU_USER,
                     telegraf_user=TELEGRAF_USER)
        mosquitto_files = [
            RemoteFile("/etc/mosquitto/mosquitto.conf", conf),
            RemoteFile("/etc/mosquitto/acl", acl, "0600", "mosquitto", "mosquitto"),
            RemoteFile("/etc/mosquitto/passwd", password_file, "0600", "mosquitto", "mosquitto"),
            RemoteFile("/etc/mosquitto/certs/ca.crt", args.ca.cert_pem),
            RemoteFile("/etc/mosquitto/certs/server.crt", certificate.cert_pem),
            RemoteFile("/etc/mosquitto/certs/server.key", certificate.key_pem,
                       "0600", "mosquitto", "mosquitto"),
        ]
        nat_files = [
            RemoteFile("/usr/local/sbin/solarmonitor-nat", source("mqtt/nat.sh"), "0755"),
            RemoteFile("/etc/systemd/system/solarmonitor-nat.service",
                       render("mqtt/solarmonitor-nat.service", private_cidr=args.private_subnet_cidr)),
            RemoteFile("/etc/sysctl.d/60-solarmonitor-nat.conf",
                       source("mqtt/60-solarmonitor-nat.conf")),
        ]

        steps = Provisioner(name, host.connection, self, after=[host, *(args.after or [])])
        steps.run("install", "mqtt/install.sh")
        nat = steps.apply("enable-nat", "mqtt/enable-nat.sh", nat_files)
        self.ready = steps.apply("apply", "common/restart-service.sh", mosquitto_files,
                                 args=["mosquitto"])

        self.private_ip = host.private_ip
        self.host = pulumi.Output.from_input(args.dns_name) if args.dns_name else host.public_ip
        self.port = TLS_PORT
        self.ca_cert = args.ca.cert_pem
        self.opendtu_user = OPENDTU_USER
        self.opendtu_password = passwords[OPENDTU_USER]
        self.telegraf_user = TELEGRAF_USER
        self.telegraf_password = passwords[TELEGRAF_USER]
        self.jump = JumpHost(host=host.public_ip, private_key=args.placement.private_key)
        self.nat_ready = [nat, nat_route]
        self.register_outputs({"host": self.host, "port": self.port, "caCert": self.ca_cert,
                               "opendtuPassword": self.opendtu_password})

