"""GrafanaNode: Grafana OSS over HTTPS on the host it is given, with the InfluxDB datasource, the
OpenDTU dashboard and the alerting provisioned from files: nothing to click."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.alert_rules import alerting_file
from components.alerts import Alerts
from components.certificates import CertificateAuthority, self_signed_server_certificate
from components.host import Host
from components.opendtu_data import MAX_INVERTER_WATTS
from components.provisioning import Provisioner, RemoteFile
from components.templates import render, render_output, source

PORT = 3000
DATASOURCE_UID = "solarmonitor-influxdb"
# Where the node's configuration lives (the tests read the rendered files by these paths).
GRAFANA_INI = "/etc/grafana/grafana.ini"
DATASOURCE_FILE = "/etc/grafana/provisioning/datasources/solarmonitor.yaml"
DASHBOARD_PROVIDER_FILE = "/etc/grafana/provisioning/dashboards/solarmonitor.yaml"
DASHBOARD_FILE = "/etc/grafana/dashboards/opendtu.json"
ALERTING_FILE = "/etc/grafana/provisioning/alerting/solarmonitor.yaml"


# Grafana's own currency units (its "Currency" unit category); another code is shown as a suffix.
GRAFANA_CURRENCIES = {"USD", "GBP", "EUR", "JPY", "RUB", "UAH", "BRL", "DKK", "ISK", "NOK", "SEK",
                      "CZK", "CHF", "PLN", "ZAR", "INR", "KRW", "IDR", "PHP", "VND", "TRY", "MYR",
                      "BGN", "ILS", "HUF", "RON", "HRK", "AUD", "CAD", "NZD", "SGD", "HKD", "CNY"}


def flux(name: str, **values) -> str:
    """A panel's Flux query, `files/grafana/queries/<name>.flux` rendered, as a JSON string."""
    return json.dumps(render(f"grafana/queries/{name}.flux", max_watts=MAX_INVERTER_WATTS, **values))


def dashboard(bucket: str, history_bucket: str = "", raw_retention: str = "30d",
              timezone: str = "UTC", price: float = 0.0, currency: str = "EUR") -> str:
    """The provisioned dashboard for this stack's buckets, time zone and energy price."""
    text = render("grafana/dashboard.json", flux=flux, datasource_uid=DATASOURCE_UID,
                  bucket=bucket, history_bucket=history_bucket or f"{bucket}_history",
                  raw_retention=raw_retention, timezone=timezone, price=str(price),
                  currency=currency, currency_unit=(f"currency{currency}"
                                                    if currency in GRAFANA_CURRENCIES
                                                    else f"suffix:{currency}"))
    return json.dumps(json.loads(text), indent=2) + "\n"


def panel_ids(document: dict) -> dict[str, int]:
    """{panel title: panel id} of a dashboard document (what alert rules link to)."""
    return {panel["title"]: panel["id"] for panel in document["panels"]}


@dataclass(frozen=True)
class GrafanaNodeArgs:
    host: Host
    """The host it runs on; with `alerts`, made with the instance profile
    `Alerts.publisher_profile` gives. Required."""
    ca: CertificateAuthority
    """The stack's CA: Grafana verifies InfluxDB with it. Required."""
    influx_url: pulumi.Input[str]
    influx_token: pulumi.Input[str]
    """InfluxDB and the read-only token (secret). Required."""
    org: str
    bucket: str
    """InfluxDB org and default (raw) bucket. Required."""
    history_bucket: str
    """The bucket the stack's tasks fill: 5-minute history, daily energy. Required."""
    raw_retention: str
    """How long the raw bucket keeps values: longer ranges read the history. Required."""
    timezone: str
    """The owner's IANA time zone: the dashboard's, and every daily window's. Required."""
    energy_price: float = 0.0
    """What a kWh is worth, in `currency`. Left out: 0 (the value panels show 0)."""
    currency: str = "EUR"
    """ISO 4217 code of the price. Left out: EUR."""
    dns_name: str | None = None
    """Name for the URL and certificate when a domain is set. Left out: the public address."""
    over_ipv6: bool = False
    """The home reaches it over IPv6 only (no public IPv4): its IPv6 address goes into the URL
    and the certificate. Left out: over its Elastic IP, or not at all for a private node."""
    region: str = "us-east-1"
    """The stack's region (the SNS topic's). Left out: us-east-1."""
    alerts: Alerts | None = None
    """Where alerts go: the rules publish to its topic (through the host's instance profile).
    Left out: no alerts (and rules an earlier deploy provisioned are removed)."""
    batteries: bool = False
    """Solix batteries are read (solixDevices or solixCloud): their alert rules apply. Left out:
    none."""
    battery_alert_percent: int = 10
    """A battery's state of charge below this alerts. Left out: 10."""
    after: list[pulumi.Resource] | None = None
    """Provisioning waits for these (SSH access, InfluxDB). Left out: none."""
    memory_mib: int | None = None
    """Its share of a host it shares with other services (components/memory.py). Left out: the
    host is its own, and nothing is limited."""


class GrafanaNode(pulumi.ComponentResource):
    TYPE = "solarmonitor:index:GrafanaNode"
    """Its type token, in every URN under it: never renamed."""
    SERVICES = ("grafana-server",)
    """The systemd units it runs (what `make logs` shows)."""
    host: Host
    """The instance it runs on (how `make ssh` reaches it)."""
    instance_id: pulumi.Output[str]
    """The node's EC2 instance (what its status alarm watches)."""
    url: pulumi.Output[str]
    """https://<address or name>:3000/"""
    admin_password: pulumi.Output[str]
    """Password of the `admin` user (secret)."""
    cert_pem: pulumi.Output[str]
    """Grafana's self-signed certificate: what a browser trusts for Grafana alone."""
    certificate_valid_until: pulumi.Output[str]
    """When that certificate ends (RFC 3339)."""

    def __init__(self, name: str, args: GrafanaNodeArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        host = args.host
        address = (host.ipv6_address if args.over_ipv6 else
                   host.public_ip if host.public_ip is not None else host.private_ip)
        # A name in the URL: AWS's public DNS name of the Elastic IP, or grafana.<domain>.
        # Browsers accept the address too (it is in the certificate), but a name is nicer; an
        # IPv6 address goes into a URL in brackets.
        public_host = (pulumi.Output.from_input(args.dns_name) if args.dns_name
                       else host.public_dns if host.public_dns is not None
                       else address.apply(lambda a: f"[{a}]") if args.over_ipv6 else address)
        names = [*([args.dns_name] if args.dns_name else []),
                 *([host.public_dns] if host.public_dns is not None else [])]
        # Self-signed, no CA: what the browser trusts vouches for Grafana and nothing else
        # (components/certificates.py).
        certificate = self_signed_server_certificate(
            f"{name}-server", common_name=public_host.apply(lambda h: h.strip("[]")),
            ip_addresses=[address], dns_names=names, opts=child)
        password = random.RandomPassword(f"{name}-admin-password", length=24, special=False,
                                         opts=child)
        admin_password = pulumi.Output.secret(password.result)
        # Grafana's own is the same in every installation (conf/defaults.ini): one per stack.
        secret_key = pulumi.Output.secret(random.RandomPassword(
            f"{name}-secret-key", length=40, special=False, opts=child).result)

        dashboard_json = dashboard(args.bucket, args.history_bucket, args.raw_retention,
                                   args.timezone, args.energy_price, args.currency)
        files = [
            RemoteFile(GRAFANA_INI, render_output(
                "grafana/grafana.ini", host=public_host.apply(lambda h: h.strip("[]")),
                url_host=public_host),
                       "0640", "root", "grafana"),
            RemoteFile("/etc/grafana/solarmonitor/admin-password", admin_password,
                       "0640", "root", "grafana"),
            RemoteFile("/etc/grafana/solarmonitor/secret-key", secret_key,
                       "0640", "root", "grafana"),
            RemoteFile("/etc/grafana/solarmonitor/server.crt", certificate.cert_pem,
                       "0640", "root", "grafana"),
            RemoteFile("/etc/grafana/solarmonitor/server.key", certificate.key_pem,
                       "0640", "root", "grafana"),
            RemoteFile(DATASOURCE_FILE, render_output(
                "grafana/datasource.yaml", uid=DATASOURCE_UID, url=args.influx_url, org=args.org,
                bucket=args.bucket, token=pulumi.Output.secret(args.influx_token),
                ca_cert=args.ca.cert_pem),
                "0640", "root", "grafana"),
            RemoteFile(DASHBOARD_PROVIDER_FILE,
                       source("grafana/dashboards.yaml"), "0640", "root", "grafana"),
            RemoteFile(DASHBOARD_FILE, dashboard_json,
                       "0640", "root", "grafana"),
        ]
        panels = json.loads(dashboard_json)
        alerting = pulumi.Output.from_input(args.alerts.topic_arn if args.alerts else None).apply(
            lambda topic_arn: alerting_file(
                topic_arn=topic_arn, region=args.region, bucket=args.bucket,
                history_bucket=args.history_bucket, timezone=args.timezone, datasource_uid=DATASOURCE_UID,
                dashboard_uid=panels["uid"], panel_ids=panel_ids(panels),
                batteries=args.batteries, battery_percent=args.battery_alert_percent))
        files.append(RemoteFile(ALERTING_FILE, alerting,
                                "0640", "root", "grafana"))
        steps = Provisioner(name, host, self, after=list(args.after or []))
        if args.memory_mib:
            steps.limit_memory("grafana-server", args.memory_mib, go=True)
        steps.run("install", "grafana/repo.sh")
        steps.apply("apply", "grafana/apply.sh", files, args=[public_host])

        self.url = pulumi.Output.concat("https://", public_host, f":{PORT}/")
        self.cert_pem = certificate.cert_pem
        self.certificate_valid_until = certificate.valid_until
        self.admin_password = admin_password
        self.host = host
        self.instance_id = host.instance.id
        self.register_outputs({"url": self.url, "adminPassword": self.admin_password,
                               "certPem": self.cert_pem})
