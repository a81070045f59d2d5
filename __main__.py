"""solarmonitor: reads the stack config once, composes the components, exports the outputs."""

import datetime
import os

import pulumi

from components.alerts import Alerts, AlertsArgs
from components.bill import Bill
from components.certificates import CertificateAuthority, tell_new_certificates
from components.config import COMPACT, COMPACT_ROOT_GB, NODE_NAMES, ConfigError, read_settings
from components.grafana_node import GrafanaNode, GrafanaNodeArgs
from components.host import FormerHost, Host, HostArgs, Placement
from components.influx_node import ROOT_VOLUME_GB, InfluxNode, InfluxNodeArgs, history_bucket
from components.ip_guard import HOME_PORTS, IpGuard, IpGuardArgs
from components.memory import SWAP_MIB, compact_shares
from components.mqtt_broker import PLAINTEXT_PORT, MqttBroker, MqttBrokerArgs
from components.mqtt_users import CHECK, OPENDTU, SOLIX, TELEGRAF, users
from components.nat_instance import NatInstance, NatInstanceArgs
from components.network import (
    IPV6_SUBNET_CIDR, PRIVATE_SUBNET_CIDR, PUBLIC_SUBNET_CIDR, VPC_CIDR, Network, NetworkArgs,
    host_address, ipv6_host_address,
)
from components.opendtu_settings import settings_page
from components.pi_config import pi_config
from components.prices import memory_mib
from components.ssh_key import SshKey
from components.swap_file import SwapFile, SwapFileArgs
from components.telegraf_config import SHARED_HOST_GIB
from components.telegraf_node import TelegrafNode, TelegrafNodeArgs

# What this update issues starts after this (components/certificates.py, tell_new_certificates).
started = datetime.datetime.now(datetime.timezone.utc)
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
compact = settings.layout == COMPACT

network = Network("network", NetworkArgs(
    instance_types=tuple(spec.instance_type for spec in settings.nodes.values()),
    nodes=tuple(settings.nodes)))
guard = IpGuard("ipguard", IpGuardArgs(
    vpc_id=network.vpc_id, home_event=settings.home_cidrs.lambda_event(),
    ports=HOME_PORTS + ((PLAINTEXT_PORT,) if settings.mqtt_plaintext else ()),
    reserve_concurrency=settings.ip_guard_reserve_concurrency))
ssh = SshKey("ssh")
ca = CertificateAuthority("ca")
alerts = Alerts("alerts", AlertsArgs(email=settings.alert_email)) if settings.alert_email else None
# What Grafana may do in AWS (publish alerts), on whichever host it runs.
grafana_profile = alerts.publisher_profile("grafana") if alerts else None


def reach(node: str) -> str:
    """How the home reaches a node: "ipv4" (Elastic IP), "ipv6" (Grafana without a public
    IPv4 for a home with an IPv6 prefix) or "private" (not at all)."""
    if node == "grafana":
        return settings.grafana_reach[0]
    return "ipv4" if settings.nodes[settings.node_of(node)].public_ipv4 else "private"


SUBNETS = {"ipv4": (PUBLIC_SUBNET_CIDR, network.public_subnet_id),
           "ipv6": (IPV6_SUBNET_CIDR, network.ipv6_subnet_id),
           "private": (PRIVATE_SUBNET_CIDR, network.private_subnet_id)}


def host(node: str, jump=None, **args) -> Host:
    """A node's instance; nodes without a public IPv4 are provisioned through the broker's."""
    way = reach(node)
    cidr, subnet_id = SUBNETS[way]
    # Fixed addresses: what Telegraf and Grafana are configured with (and Telegraf's disk
    # buffer is keyed on) stays valid when the broker or InfluxDB is replaced; and Grafana's
    # IPv6 address, its URL without an Elastic IP, stays too. The compact node's is its own,
    # so it can be made while the separate layout's still run (and the other way round).
    number = 10 + (*NODE_NAMES, COMPACT).index(node)
    placement = Placement(
        node=node, spec=settings.nodes[settings.node_of(node)], subnet_id=subnet_id,
        security_group_ids=[*([guard.security_group_id] if way != "private" else []),
                            network.node_group_ids[node]],
        key_name=ssh.key_name, private_key=ssh.private_key_openssh,
        private_ip=host_address(cidr, number),
        ipv6_address=(network.ipv6_subnet_block.apply(
            lambda block: ipv6_host_address(block, number)) if way == "ipv6" else None),
        jump=None if way == "ipv4" else jump)
    # Until the layouts each service made its host as its own child: the alias keeps a stack of
    # then where it is (its hosts, and through them their instances, addresses and keys).
    former = SERVICES.get(node)
    return Host(f"{node}-host", HostArgs(
        placement=placement, formerly_under=pulumi.create_urn(node, former.TYPE) if former
        else None, **args))


SERVICES = {"mqtt": MqttBroker, "telegraf": TelegrafNode, "influx": InfluxNode,
            "grafana": GrafanaNode}
profile_name = grafana_profile.name if grafana_profile else None
if compact:
    # All four services on one host, each held to its share of the memory, a swap file for
    # the moments over it; Telegraf and Grafana reach the broker and InfluxDB on the host itself.
    # It takes the broker's Elastic IP over from the separate layout (of before the layouts
    # too): OpenDTU and the Pi keep the broker's name.
    shared = host(COMPACT, root_volume_gb=COMPACT_ROOT_GB, instance_profile=profile_name,
                  address_of=(FormerHost("mqtt-host"),
                              FormerHost("mqtt-host", pulumi.create_urn("mqtt", MqttBroker.TYPE))))
    swap = SwapFile("swap", SwapFileArgs(host=shared, size_mib=SWAP_MIB, after=[guard.seeded]))
    hosts = dict.fromkeys(NODE_NAMES, shared)
    shares = compact_shares(memory_mib(shared.instance_type))
else:
    # The broker's host is public anyway, so it is also the others' jump host and their way to
    # IPv4 addresses.
    broker_host = host("mqtt", forwards_traffic=True, address_of=(FormerHost(f"{COMPACT}-host"),))
    hosts = {"mqtt": broker_host,
             "telegraf": host("telegraf", broker_host.as_jump()),
             "influx": host("influx", broker_host.as_jump(), root_volume_gb=ROOT_VOLUME_GB),
             "grafana": host("grafana", broker_host.as_jump(), instance_profile=profile_name)}
    shares = {}

mqtt = MqttBroker("mqtt", MqttBrokerArgs(
    host=hosts["mqtt"], ca=ca, users=users(settings.topic_prefix),
    topic_prefix=settings.topic_prefix,
    plaintext=settings.mqtt_plaintext,
    dns_name=f"mqtt.{settings.domain}" if settings.domain else None,
    telegraf_on_host=compact, memory_mib=shares.get("mqtt"), after=[guard.seeded]))
nat = None if compact else NatInstance("nat", NatInstanceArgs(
    host=hosts["mqtt"], source_cidr=VPC_CIDR,
    route_table_ids={"private": network.private_route_table_id,
                     "ipv6": network.ipv6_route_table_id}, after=[mqtt.ready]))


def reachable(node: str) -> list:
    """SSH needs the home rules seeded; a node without public IPv4 needs the NAT for packages."""
    return [guard.seeded, *(nat.ready if nat and reach(node) != "ipv4" else [])]


influx = InfluxNode("influx", InfluxNodeArgs(
    host=hosts["influx"], volume_gb=settings.data_volume_gb,
    availability_zone=network.availability_zone, ca=ca,
    org=settings.influx_org,
    bucket=settings.influx_bucket, raw_retention=settings.raw_retention,
    history_retention=settings.influx_retention, timezone=settings.timezone,
    backup_days=settings.backup_days,
    backup_tag=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    clients_on_host=compact, memory_mib=shares.get("influx"), after=reachable("influx")))
telegraf = TelegrafNode("telegraf", TelegrafNodeArgs(
    host=hosts["telegraf"], topic_prefix=settings.topic_prefix,
    broker_url=mqtt.internal_url,
    ca_cert=ca.cert_pem, mqtt_password=mqtt.passwords[TELEGRAF.name], influx_url=influx.url,
    influx_token=influx.telegraf_token, org=settings.influx_org, bucket=settings.influx_bucket,
    root_volume_gb=COMPACT_ROOT_GB if compact else settings.nodes["telegraf"].volume_gb,
    reserved_gib=SHARED_HOST_GIB + SWAP_MIB / 1024 if compact else 0,
    memory_mib=shares.get("telegraf"), after=[mqtt.ready, influx.ready, *reachable("telegraf")]))
grafana = GrafanaNode("grafana", GrafanaNodeArgs(
    host=hosts["grafana"], ca=ca, influx_url=influx.url,
    influx_token=influx.grafana_token, org=settings.influx_org, bucket=settings.influx_bucket,
    history_bucket=history_bucket(settings.influx_bucket), raw_retention=settings.raw_retention,
    timezone=settings.timezone, energy_price=settings.energy_price, currency=settings.currency,
    region=settings.region, alerts=alerts,
    batteries=bool(settings.solix_devices or settings.solix_cloud),
    battery_alert_percent=settings.battery_alert_percent,
    dns_name=f"grafana.{settings.domain}" if settings.domain else None,
    over_ipv6=reach("grafana") == "ipv6", memory_mib=shares.get("grafana"),
    after=[influx.ready, *reachable("grafana")]))
# The hosts, once each, with the systemd units of each service on them (what `make logs` shows).
serves: dict[Host, dict[str, tuple[str, ...]]] = {}
for service, component in SERVICES.items():
    serves.setdefault(hosts[service], {})[service] = (
        component.SERVICES + (NatInstance.SERVICES if service == "mqtt" and nat else ()))

# When each certificate the stack issued ends (keys: components/certificates.py, ISSUED).
certificate_expiry = {"ca": ca.valid_until, "mqtt": mqtt.certificate_valid_until,
                      "influx": influx.certificate_valid_until,
                      "grafana": grafana.certificate_valid_until}
tell_new_certificates(certificate_expiry, started)

if alerts:
    # From outside Grafana, so they fire when Grafana itself is down.
    alerts.watch_instances({each.node: each.instance.id for each in serves})
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
pulumi.export("sshNodes", {each.node: each.ssh_endpoint(services)
                           for each, services in serves.items()})
pulumi.export("sshPrivateKey", ssh.private_key_openssh)
pulumi.export("openDtuSettings", pulumi.Output.secret(pulumi.Output.all(
    mqtt.host, mqtt.ca_cert, mqtt.passwords[OPENDTU.name]).apply(
    lambda values: settings_page(host=values[0], port=mqtt.port, ca_cert=values[1],
                                 username=OPENDTU.name, password=values[2],
                                 topic_prefix=settings.topic_prefix))))
