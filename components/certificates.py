"""The stack's own certificate authority and the server certificates it signs.

A private CA (not a public one): the endpoints are AWS's names for Elastic IPs and addresses
inside the VPC, which no public CA certifies; OpenDTU, Telegraf, Grafana and browsers trust it by
its PEM (`caCert` output). ECDSA P-256 keeps the CA's PEM far below OpenDTU's 2560-character
limit (MQTT_MAX_CERT_STRLEN).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

CA_VALIDITY_HOURS = 20 * 365 * 24
SERVER_VALIDITY_HOURS = 5 * 365 * 24
# `pulumi up` in the last 30 days of a server certificate replaces it (and re-runs its step).
SERVER_EARLY_RENEWAL_HOURS = 30 * 24


@dataclass(frozen=True)
class CertificateAuthorityArgs:
    organization: str = "solarmonitor"
    """Organization in the CA's subject. Left out: solarmonitor."""


class CertificateAuthority(pulumi.ComponentResource):
    cert_pem: pulumi.Output[str]
    """The CA certificate (public): what clients trust."""
    private_key_pem: pulumi.Output[str]
    """The CA's key (secret); it never leaves the stack's state."""

    def __init__(self, name: str, args: CertificateAuthorityArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:CertificateAuthority", name, None, opts)
        args = args or CertificateAuthorityArgs()
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        cert = tls.SelfSignedCert(
            f"{name}-cert", private_key_pem=key.private_key_pem, is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{args.organization} CA",
                                                  organization=args.organization),
            validity_period_hours=CA_VALIDITY_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"], opts=child)
        self.cert_pem = cert.cert_pem
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"certPem": self.cert_pem})


@dataclass(frozen=True)
class ServerCertificate:
    key_pem: pulumi.Output[str]
    cert_pem: pulumi.Output[str]


def server_certificate(name: str, ca: CertificateAuthority, common_name: pulumi.Input[str],
                       ip_addresses: list[pulumi.Input[str]], dns_names: list[pulumi.Input[str]],
                       opts: pulumi.ResourceOptions) -> ServerCertificate:
    """Key, request and CA-signed certificate for a TLS server; children of `opts.parent`."""
    key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    request = tls.CertRequest(
        f"{name}-csr", private_key_pem=key.private_key_pem,
        subject=tls.CertRequestSubjectArgs(common_name=common_name, organization="solarmonitor"),
        ip_addresses=ip_addresses, dns_names=dns_names, opts=opts)
    cert = tls.LocallySignedCert(
        f"{name}-cert", cert_request_pem=request.cert_request_pem,
        ca_private_key_pem=ca.private_key_pem, ca_cert_pem=ca.cert_pem,
        validity_period_hours=SERVER_VALIDITY_HOURS,
        early_renewal_hours=SERVER_EARLY_RENEWAL_HOURS,
        allowed_uses=["digital_signature", "key_encipherment", "server_auth"], opts=opts)
    return ServerCertificate(key_pem=pulumi.Output.secret(key.private_key_pem),
                             cert_pem=cert.cert_pem)
