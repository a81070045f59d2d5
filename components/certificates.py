"""The stack's own certificate authority and the server certificates it signs; Grafana's
certificate, which vouches for Grafana alone.

A private CA (not a public one): the endpoints are AWS's names for Elastic IPs and addresses
inside the VPC, which no public CA certifies; OpenDTU, Telegraf and Grafana (for InfluxDB) trust
it by its PEM (`caCert` output). ECDSA P-256 keeps the CA's PEM far below OpenDTU's
2560-character limit (MQTT_MAX_CERT_STRLEN).

The browser is not asked to trust that CA: it could sign any name, and its key is in the stack's
state. Grafana serves a self-signed certificate that is no CA (basic constraints CA:FALSE, no
certificate signing), so trusting it (`grafanaCert` output) vouches for Grafana's names and
nothing else: a certificate for another name signed with its key does not verify (OpenSSL
refuses an issuer that is no CA; tests/test_opendtu_tls.py). A name-constrained CA would do the
same for the broker, but mbedTLS 2.28 (OpenDTU) knows no name constraints (library/oid.c,
oid_x509_ext) and refuses a certificate with a critical extension it does not know
(library/x509_crt.c, x509_get_crt_ext: MBEDTLS_ERR_X509_INVALID_EXTENSIONS), and RFC 5280
4.2.1.10 makes name constraints critical.

Every certificate ends: `pulumi up` in its last RENEWAL_DAYS replaces it, and the owner is
warned WARN_DAYS before the end (components/alerts.py) and shown the days left by `make check`.
A `pulumi up` run for another reason in those days renews before the first warning, and the
warnings then follow the new certificate: so `pulumi up` itself says which certificate it issued
and what the owner does now (tell_new_certificates), or OpenDTU would stop at a renewed CA with
nobody told why. It says so on a first deploy too: the program cannot tell a first issue from a
renewal (Pulumi does not tell it whether a resource is new), and a guess that took a renewal
for a first deploy would hide the one message that matters; what it asks then is the setup's own
next step.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

CA_VALIDITY_HOURS = 20 * 365 * 24
SERVER_VALIDITY_HOURS = 5 * 365 * 24
# `pulumi up` in the last RENEWAL_DAYS of a certificate replaces it (and re-runs its step). The
# warnings come later (WARN_DAYS, fewer days left), so the deploy they ask for always renews.
RENEWAL_DAYS = 60
EARLY_RENEWAL_HOURS = RENEWAL_DAYS * 24
WARN_DAYS = (45, 14)
SERVER_USES = ["digital_signature", "key_encipherment", "server_auth"]


@dataclass(frozen=True)
class Issued:
    """One certificate the stack issues: its key in `certificateExpiry`, a short label, what it
    is, and what the owner does after `make deploy` renewed it."""
    key: str
    label: str
    what: str
    after_renewal: str
    validity_hours: int
    """How long it is valid: pulumi-tls ends it this long after it made it."""
    when_issued: str = ""
    """What the owner does when a `pulumi up` issued it, first deploy or renewal alike (who
    trusts only the one they were given); empty: nothing, it needs no hand."""


ISSUED = (
    Issued("ca", "CA", "the stack's CA (caCert)",
           "type the new caCert into OpenDTU's CA-Root-Certificate field and copy the new "
           "piAgentConfig to the Pi (README, the Raspberry Pi); the nodes get it by themselves",
           CA_VALIDITY_HOURS,
           "OpenDTU and the Pi's battery bridge reach the broker only with the caCert they were "
           "given: type this caCert into OpenDTU's CA-Root-Certificate field (make "
           "opendtu-settings) and copy piAgentConfig to the Pi (README, the Raspberry Pi); the "
           "nodes get it by themselves"),
    Issued("mqtt", "broker", "the broker's certificate", "nothing: clients trust the CA, not this one",
           SERVER_VALIDITY_HOURS),
    Issued("influx", "InfluxDB", "InfluxDB's certificate", "nothing: Telegraf and Grafana trust the CA",
           SERVER_VALIDITY_HOURS),
    Issued("grafana", "Grafana", "Grafana's certificate (grafanaCert)",
           "trust the new grafanaCert in your browser (README, Run it)", SERVER_VALIDITY_HOURS,
           "your browser accepts Grafana only with the grafanaCert it was given (Grafana sends "
           "HSTS): trust this grafanaCert in it (README, Run it, step 4)"),
)


def issued_since(valid_until: str, validity_hours: int, started: datetime.datetime) -> bool:
    """Whether a certificate that ends at `valid_until` (RFC 3339) was made at or after `started`.
    pulumi-tls starts a certificate when it makes it, on the clock of the machine running
    `pulumi up`, and ends it validity_period_hours later (terraform-provider-tls
    internal/provider/common_cert.go createCertificate: NotBefore = now, NotAfter = NotBefore +
    the period; validity_end_time is NotAfter.MarshalText(), RFC 3339 to the nanosecond). Whole
    seconds are compared, for an end given to the second."""
    end = datetime.datetime.fromisoformat(valid_until.replace("Z", "+00:00"))
    made = end - datetime.timedelta(hours=validity_hours)
    return made.replace(microsecond=0) >= started.replace(microsecond=0)


def tell_new_certificates(ends: dict[str, pulumi.Input[str]], started: datetime.datetime) -> None:
    """A warning at the end of `pulumi up` for each certificate in `ends` (by ISSUED key) it made
    since `started` (when the program began) that needs the owner's hand: what to do now. A
    certificate kept from an earlier update ends as it did, and a preview knows no new end (the
    apply never runs on an unknown value), so neither says anything."""
    for issued in ISSUED:
        if issued.when_issued:
            pulumi.Output.from_input(ends[issued.key]).apply(
                lambda valid_until, issued=issued: pulumi.log.warn(
                    f"this update issued {issued.what}, valid until {valid_until[:10]}: "
                    f"{issued.when_issued}.")
                if issued_since(valid_until, issued.validity_hours, started) else None)


@dataclass(frozen=True)
class CertificateAuthorityArgs:
    organization: str = "solarmonitor"
    """Organization in the CA's subject. Left out: solarmonitor."""


class CertificateAuthority(pulumi.ComponentResource):
    cert_pem: pulumi.Output[str]
    """The CA certificate (public): what clients trust."""
    private_key_pem: pulumi.Output[str]
    """The CA's key (secret); it never leaves the stack's state."""
    valid_until: pulumi.Output[str]
    """When the CA certificate ends (RFC 3339)."""

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
            validity_period_hours=CA_VALIDITY_HOURS, early_renewal_hours=EARLY_RENEWAL_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"], opts=child)
        self.cert_pem = cert.cert_pem
        self.valid_until = cert.validity_end_time
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"certPem": self.cert_pem})


@dataclass(frozen=True)
class ServerCertificate:
    key_pem: pulumi.Output[str]
    cert_pem: pulumi.Output[str]
    valid_until: pulumi.Output[str]
    """When it ends (RFC 3339)."""


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
        early_renewal_hours=EARLY_RENEWAL_HOURS,
        allowed_uses=SERVER_USES, opts=opts)
    return ServerCertificate(key_pem=pulumi.Output.secret(key.private_key_pem),
                             cert_pem=cert.cert_pem, valid_until=cert.validity_end_time)


def self_signed_server_certificate(name: str, common_name: pulumi.Input[str],
                                   ip_addresses: list[pulumi.Input[str]],
                                   dns_names: list[pulumi.Input[str]],
                                   opts: pulumi.ResourceOptions) -> ServerCertificate:
    """Key and self-signed certificate for a TLS server that clients trust one by one: no CA
    (it can sign nothing), valid for its own names only; children of `opts.parent`."""
    key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    cert = tls.SelfSignedCert(
        f"{name}-cert", private_key_pem=key.private_key_pem, is_ca_certificate=False,
        subject=tls.SelfSignedCertSubjectArgs(common_name=common_name,
                                              organization="solarmonitor"),
        ip_addresses=ip_addresses, dns_names=dns_names,
        validity_period_hours=SERVER_VALIDITY_HOURS, early_renewal_hours=EARLY_RENEWAL_HOURS,
        allowed_uses=SERVER_USES, opts=opts)
    return ServerCertificate(key_pem=pulumi.Output.secret(key.private_key_pem),
                             cert_pem=cert.cert_pem, valid_until=cert.validity_end_time)
