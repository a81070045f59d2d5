"""MqttBroker: mosquitto with TLS, hashed passwords and per-user ACLs, on the host it is given.

Its users come from a list (`components/mqtt_users.py`): the password file, the ACL and the
`passwords` attribute are rendered from it. Its host is public (OpenDTU reaches it over IPv4); in
the separate layout it is also the SSH jump host for the private nodes and runs a `NatInstance`.

OpenDTU reaches it by name. OpenDTU's TLS library (mbedTLS 2.28, ESP-IDF 4.4) matches the host
name it is given only against DNS-type names in the certificate (library/x509_crt.c,
x509_crt_verify_name; IP SANs are compared as raw bytes and never match, Mbed-TLS #5082), so the
certificate names the Elastic IP's public DNS name (or `mqtt.<domain>`), and the IP address
twice, as a DNS-type name (for OpenDTU) and as an IP SAN (for everyone else).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.certificates import CertificateAuthority, server_certificate
from components.host import Host
from components.memory import MIB, mosquitto_heap_limit
from components.mqtt_users import MqttUser, acl_entries
from components.provisioning import Provisioner, RemoteFile
from components.templates import render, render_output

TLS_PORT = 8883  # from home: OpenDTU and the Pi
INTERNAL_PORT = 8884  # inside the VPC, or on the loopback address of a shared host: Telegraf
LOOPBACK = "127.0.0.1"
PLAINTEXT_PORT = 1883
HOME_CONNECTIONS = 64  # OpenDTU, the Pi's bridge, `make check`/`make simulate`: a handful
INTERNAL_CONNECTIONS = 32  # one per Telegraf consumer, and as many for its configuration check
# Both stay far below mosquitto's open-file limit (systemd's default soft limit, 1024), so a
# refused connection is refused by mosquitto, not by running out of file descriptors.
MAX_PACKET_BYTES = 16384
AUTOSAVE_SECONDS = 30
# TLS 1.2 suites (TLS 1.3 has only AEAD ones): ECDHE with the ECDSA key, AEAD only, so no CBC with
# SHA-1 MACs. OpenDTU's mbedTLS (ESP-IDF 4.4 as arduino-esp32 2.0 builds it, tools/sdk/esp32/
# sdkconfig: CONFIG_MBEDTLS_GCM_C=y, CONFIG_MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA=y, no ChaCha20)
# offers the AES-GCM ones; Telegraf (Go) and paho (OpenSSL) offer all three.
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                 "ECDHE-ECDSA-CHACHA20-POLY1305")
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd writes for "$7$" (PBKDF2-SHA512) entries


def password_line(user: str, password: str, salt_b64: str) -> str:
    """One mosquitto password-file line, hashed the way `mosquitto_passwd` hashes ($7$)."""
    salt = base64.b64decode(salt_b64)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"{user}:$7${PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class MqttBrokerArgs:
    host: Host
    """The host it runs on; it needs a public IPv4 (an Elastic IP). Required."""
    ca: CertificateAuthority
    """Signs the broker's certificate. Required."""
    users: tuple[MqttUser, ...]
    """Who may connect, and what each may publish and read. Required."""
    topic_prefix: str = "solar"
    """OpenDTU's topic prefix; every user's topics are below it. Left out: solar."""
    plaintext: bool = False
    """Also listen for plain MQTT on 1883 (with passwords). Left out: TLS only."""
    dns_name: str | None = None
    """Name to put in the certificate and `host` (when a domain is set). Left out: the IP."""
    telegraf_on_host: bool = False
    """Telegraf runs on the same host: its listener is bound to the loopback address, and the
    certificate names that address too. Left out: Telegraf connects over the VPC."""
    memory_mib: int | None = None
    """Its share of a host it shares with other services (components/memory.py). Left out: the
    host is its own, and nothing is limited."""
    after: list[pulumi.Resource] | None = None
    """Resources SSH needs first (the home rules being seeded). Left out: none."""


class MqttBroker(pulumi.ComponentResource):
    TYPE = "solarmonitor:index:MqttBroker"
    """Its type token, in every URN under it: never renamed."""
    SERVICES = ("mosquitto",)
    """The systemd units it runs (what `make logs` shows)."""
    host: pulumi.Output[str]
    """What OpenDTU connects to: the Elastic IP's public DNS name, or `mqtt.<domain>`."""
    port: int
    """8883 (MQTT over TLS)."""
    private_ip: pulumi.Output[str]
    """The host's address inside the VPC; it is in the certificate too."""
    internal_url: pulumi.Output[str]
    """ssl://<address>:<INTERNAL_PORT>, where Telegraf connects: the host's private address, or
    the loopback one when Telegraf runs on the same host."""
    ca_cert: pulumi.Output[str]
    """PEM of the CA that signed the broker's certificate (OpenDTU's "CA certificate")."""
    passwords: dict[str, pulumi.Output[str]]
    """Each user's password (secret), by user name."""
    node: Host
    """The host the broker runs on."""
    ready: pulumi.Resource
    """The step after which the broker runs with its final configuration."""
    certificate_valid_until: pulumi.Output[str]
    """When the broker's certificate ends (RFC 3339)."""

    def __init__(self, name: str, args: MqttBrokerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        host = args.host
        internal_address = LOOPBACK if args.telegraf_on_host else None

        self.host = pulumi.Output.from_input(args.dns_name) if args.dns_name else host.public_dns
        certificate = server_certificate(
            f"{name}-server", args.ca, common_name=self.host,
            ip_addresses=[host.public_ip, host.private_ip,
                          *([internal_address] if internal_address else [])],
            dns_names=[*([args.dns_name] if args.dns_name else []), host.public_dns,
                       host.public_ip], opts=child)

        self.passwords = {}
        entries = []
        for user in args.users:
            password = random.RandomPassword(f"{name}-{user.name}-password", length=32,
                                             special=False, opts=child)
            salt = random.RandomBytes(f"{name}-{user.name}-salt", length=12, opts=child)
            self.passwords[user.name] = pulumi.Output.secret(password.result)
            for username in user.usernames:
                entries.append(pulumi.Output.all(self.passwords[user.name], salt.base64).apply(
                    lambda values, username=username: password_line(username, *values)))

        files = [
            RemoteFile("/etc/mosquitto/mosquitto.conf", render(
                "mqtt/mosquitto.conf", plaintext=args.plaintext, autosave_seconds=AUTOSAVE_SECONDS,
                max_packet_bytes=MAX_PACKET_BYTES, home_port=TLS_PORT,
                home_connections=HOME_CONNECTIONS, internal_port=INTERNAL_PORT,
                internal_address=internal_address, internal_connections=INTERNAL_CONNECTIONS,
                plaintext_port=PLAINTEXT_PORT, tls_ciphers=TLS12_CIPHERS,
                memory_limit=(mosquitto_heap_limit(args.memory_mib) * MIB if args.memory_mib
                              else None))),
            RemoteFile("/etc/mosquitto/acl", render("mqtt/acl", prefix=args.topic_prefix,
                                                    users=acl_entries(args.users)),
                       "0600", "mosquitto", "mosquitto"),
            RemoteFile("/etc/mosquitto/passwd", render_output("mqtt/passwd", entries=entries),
                       "0600", "mosquitto", "mosquitto"),
            RemoteFile("/etc/mosquitto/certs/ca.crt", args.ca.cert_pem),
            RemoteFile("/etc/mosquitto/certs/server.crt", certificate.cert_pem),
            RemoteFile("/etc/mosquitto/certs/server.key", certificate.key_pem,
                       "0600", "mosquitto", "mosquitto"),
        ]
        steps = Provisioner(name, host, self, after=list(args.after or []))
        if args.memory_mib:
            steps.limit_memory("mosquitto", args.memory_mib, go=False)
        steps.run("install", "mqtt/install.sh")
        self.ready = steps.apply("apply", "common/restart-service.sh", files, args=["mosquitto"])

        self.node = host
        self.certificate_valid_until = certificate.valid_until
        self.private_ip = host.private_ip
        self.internal_url = pulumi.Output.from_input(internal_address or host.private_ip).apply(
            lambda address: f"ssl://{address}:{INTERNAL_PORT}")
        self.port = TLS_PORT
        self.ca_cert = args.ca.cert_pem
        self.register_outputs({"host": self.host, "port": self.port, "caCert": self.ca_cert})
