"""solarmonitor: reads the stack config once, composes the components, exports the outputs."""

import os

import pulumi

from components.alerts import Alerts, AlertsArgs
from components.bill import Bill
from components.certificates import CertificateAuthority
from components.config import NODE_NAMES, ConfigError, read_settings
from components.grafana_node import GrafanaNode, GrafanaNodeArgs
from components.host import Placement
from components.influx_node import InfluxNode, InfluxNodeArgs, history_bucket
from components.ip_guard import HOME_PORTS, IpGuard, IpGuardArgs
from components.mqtt_broker import INTERNAL_PORT, PLAINTEXT_PORT, MqttBroker, MqttBrokerArgs
from components.mqtt_users import CHECK, OPENDTU, SOLIX, TELEGRAF, users
from components.nat_instance import NatInstance, NatInstanceArgs
from components.network import (
    IPV6_SUBNET_CIDR, PRIVATE_SUBNET_CIDR, PUBLIC_SUBNET_CIDR, VPC_CIDR, Network, NetworkArgs,
    host_address, ipv6_host_address,
)
from components.opendtu_settings import settings_page
from components.pi_config import pi_config
from components.ssh_key import SshKey
from components.telegraf_node import TelegrafNode, TelegrafNodeArgs

try:
    # The AWS provider falls back to the environment for its region; so do the cost figures.
    region = (pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION")
              or os.environ.get("AWS_DEFAULT_REGION"))
    # Which keys are secrets, as the CLI says (PULUMI_CONFIG_SECRET_KEYS); unsaid: not checked.
    secret_keys = (pulumi.runtime.get_config_secret_keys_env()
                   if "PULUMI_CONFIG_SECRET_KEYS" in os.environ else None)
    settings = read_settings(pulumi.runtime.get_config_env(), region=region,
                             secret_keys=secret_keys)
except ConfigError as error:
    # RunError ends the program with this one line instead of a traceback.
    raise pulumi.RunError(str(error)) from None

bill = Bill()
bill.watch()

network = Network("network", NetworkArgs(
    instance_types=tuple(spec.instance_type for spec in settings.nodes.values()),
    nodes=NODE_NAMES))
guard = IpGuard("ipguard", IpGuardArgs(
    vpc_id=network.vpc_id, home_event=settings.home_cidrs.lambda_event(),
    ports=HOME_PORTS + ((PLAINTEXT_PORT,) if settings.mqtt_plaintext else ()),
    reserve_concurrency=settings.ip_guard_reserve_concurrency))
ssh = SshKey("ssh")
ca = CertificateAuthority("ca")
alerts = Alerts("alerts", AlertsArgs(email=settings.alert_email)) if settings.alert_email else None


def reach(node: str) -> str:
    """How the home reaches a node: "ipv4" (Elastic IP), "ipv6" (Grafana without a public
    IPv4 for a home with an IPv6 prefix) or "private" (not at all)."""
    if node == "grafana":
        return settings.grafana_reach[0]
    return "ipv4" if settings.nodes[node].public_ipv4 else "private"


SUBNETS = {"ipv4": (PUBLIC_SUBNET_CIDR, network.public_subnet_id),
           "ipv6": (IPV6_SUBNET_CIDR, network.ipv6_subnet_id),
           "private": (PRIVATE_SUBNET_CIDR, network.private_subnet_id)}


def placement(node: str, jump=None) -> Placement:
    """Where a node runs; nodes without a public IPv4 are provisioned through the broker."""
    way = reach(node)
    cidr, subnet_id = SUBNETS[way]
    # Fixed addresses: what Telegraf and Grafana are configured with (and Telegraf's disk
    # buffer is keyed on) stays valid when the broker or InfluxDB is replaced; and Grafana's
    # IPv6 address, its URL without an Elastic IP, stays too.
    number = 10 + NODE_NAMES.index(node)
    return Placement(node=node, spec=settings.nodes[node], subnet_id=subnet_id,
                     security_group_ids=[*([guard.security_group_id] if way != "private" else []),
                                         network.node_group_ids[node]],
                     key_name=ssh.key_name, private_key=ssh.private_key_openssh,
                     private_ip=host_address(cidr, number),
                     ipv6_address=(network.ipv6_subnet_block.apply(
                         lambda block: ipv6_host_address(block, number)) if way == "ipv6" else None),
                     jump=None if way == "ipv4" else jump)


mqtt = MqttBroker("mqtt", MqttBrokerArgs(
    placement=placement("mqtt"), ca=ca, users=users(settings.topic_prefix),
    topic_prefix=settings.topic_prefix,
    plaintext=settings.mqtt_plaintext,
    dns_name=f"mqtt.{settings.domain}" if settings.domain else None,
    forwards_traffic=True, after=[guard.seeded]))
# The broker's node is public anyway, so it is also the others' way to IPv4 addresses.
nat = NatInstance("nat", NatInstanceArgs(
    host=mqtt.node, source_cidr=VPC_CIDR,
    route_table_ids={"private": network.private_route_table_id,
                     "ipv6": network.ipv6_route_table_id}, after=[mqtt.ready]))


def reachable(node: str) -> list:
    """SSH needs the home rules seeded; a node without public IPv4 needs the NAT for packages."""
    return [guard.seeded, *([] if reach(node) == "ipv4" else nat.ready)]


influx = InfluxNode("influx", InfluxNodeArgs(
    placement=placement("influx", mqtt.jump), availability_zone=network.availability_zone, ca=ca,
    org=settings.influx_org,
    bucket=settings.influx_bucket, raw_retention=settings.raw_retention,
    history_retention=settings.influx_retention, timezone=settings.timezone,
    backup_days=settings.backup_days,
    backup_tag=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    after=reachable("influx")))
telegraf = TelegrafNode("telegraf", TelegrafNodeArgs(
    placement=placement("telegraf", mqtt.jump), topic_prefix=settings.topic_prefix,
    broker_url=mqtt.private_ip.apply(lambda ip: f"ssl://{ip}:{INTERNAL_PORT}"),
    ca_cert=ca.cert_pem, mqtt_password=mqtt.passwords[TELEGRAF.name], influx_url=influx.url,
    influx_token=influx.telegraf_token, org=settings.influx_org, bucket=settings.influx_bucket,
    after=[mqtt.ready, influx.ready, *reachable("telegraf")]))
grafana = GrafanaNode("grafana", GrafanaNodeArgs(
    placement=placement("grafana", mqtt.jump), ca=ca, influx_url=influx.url,
    influx_token=influx.grafana_token, org=settings.influx_org, bucket=settings.influx_bucket,
    history_bucket=history_bucket(settings.influx_bucket), raw_retention=settings.raw_retention,
    timezone=settings.timezone, energy_price=settings.energy_price, currency=settings.currency,
    region=settings.region, alerts=alerts,
    batteries=bool(settings.solix_devices or settings.solix_cloud),
    battery_alert_percent=settings.battery_alert_percent,
    dns_name=f"grafana.{settings.domain}" if settings.domain else None,
    over_ipv6=reach("grafana") == "ipv6", after=[influx.ready, *reachable("grafana")]))

# When each certificate the stack issued ends (keys: components/certificates.py, ISSUED).
certificate_expiry = {"ca": ca.valid_until, "mqtt": mqtt.certificate_valid_until,
                      "influx": influx.certificate_valid_until,
                      "grafana": grafana.certificate_valid_until}

if alerts:
    # From outside Grafana, so they fire when Grafana itself is down.
    alerts.watch_instances({"mqtt": mqtt.node.instance.id, "telegraf": telegraf.instance_id,
                            "influx": influx.instance_id, "grafana": grafana.instance_id})
    alerts.watch_ip_guard(guard.function_name)
    alerts.warn_before_expiry(certificate_expiry)
    pulumi.export("alertTopicArn", alerts.topic_arn)

pulumi.export("mqttHost", mqtt.host)
pulumi.export("mqttPort", mqtt.port)
pulumi.export("caCert", mqtt.ca_cert)
pulumi.export("openDtuMqttUser", OPENDTU.name)
pulumi.export("openDtuMqttPassword", mqtt.passwords[OPENDTU.name])
# make check's own login: it proves the broker and the data path without taking OpenDTU's session.
pulumi.export("checkMqttPassword", mqtt.passwords[CHECK.name])
pulumi.export("grafanaUrl", grafana.url)
# What the browser trusts for Grafana: Grafana's own certificate, which vouches for nothing else.
pulumi.export("grafanaCert", grafana.cert_pem)
pulumi.export("certificateExpiry", certificate_expiry)
pulumi.export("grafanaAdminPassword", grafana.admin_password)
pulumi.export("influxUrl", influx.url)
pulumi.export("influxAdminToken", influx.admin_token)
pulumi.export("influxTelegrafToken", influx.telegraf_token)
pulumi.export("influxGrafanaToken", influx.grafana_token)
pulumi.export("securityGroupId", guard.security_group_id)
pulumi.export("ipGuardFunctionName", guard.function_name)
pulumi.export("piAccessKeyId", guard.pi_access_key_id)
pulumi.export("piSecretAccessKey", guard.pi_secret_access_key)
pulumi.export("piAgentConfig", pi_config(
    region=settings.region, function_name=guard.function_name,
    access_key_id=guard.pi_access_key_id, secret_access_key=guard.pi_secret_access_key,
    ipv6=settings.home_cidrs.ipv6 is not None, mqtt_host=mqtt.host, mqtt_port=mqtt.port,
    ca_cert=mqtt.ca_cert, username=SOLIX.name, password=mqtt.passwords[SOLIX.name],
    topic_prefix=settings.topic_prefix, devices=settings.solix_devices,
    cloud=settings.solix_cloud))
pulumi.export("monthlyCostUsd", bill.monthly_cost(settings.region))
# `make ssh` and `make logs`: each node as provisioning reaches it, and the key (secret).
pulumi.export("sshNodes", {
    "mqtt": mqtt.node.ssh_endpoint(MqttBroker.SERVICES + NatInstance.SERVICES),
    "telegraf": telegraf.host.ssh_endpoint(TelegrafNode.SERVICES),
    "influx": influx.host.ssh_endpoint(InfluxNode.SERVICES),
    "grafana": grafana.host.ssh_endpoint(GrafanaNode.SERVICES)})
pulumi.export("sshPrivateKey", ssh.private_key_openssh)
pulumi.export("openDtuSettings", pulumi.Output.secret(pulumi.Output.all(
    mqtt.host, mqtt.ca_cert, mqtt.passwords[OPENDTU.name]).apply(
    lambda values: settings_page(host=values[0], port=mqtt.port, ca_cert=values[1],
                                 username=OPENDTU.name, password=values[2],
                                 topic_prefix=settings.topic_prefix))))
