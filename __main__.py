"""solarmonitor: reads the stack config once, composes the components, exports the outputs."""

import pulumi

from components.certificates import CertificateAuthority
from components.config import KNOWN_KEYS, ConfigError, parse_settings, raw_from_strings
from components.cost import items_from_settings, monthly_cost
from components.ip_guard import HOME_PORTS, IpGuard, IpGuardArgs
from components.mqtt_broker import PLAINTEXT_PORT, MqttBroker, MqttBrokerArgs
from components.network import Network
from components.ssh_key import SshKey

config = pulumi.Config("solarmonitor")
try:
    settings = parse_settings(raw_from_strings({key: config.get(key) for key in KNOWN_KEYS}),
                              region=pulumi.Config("aws").get("region"))
except ConfigError as error:
    # RunError ends the program with this one line instead of a traceback.
    raise pulumi.RunError(str(error)) from None

network = Network("network")
guard = IpGuard("ipguard", IpGuardArgs(
    vpc_id=network.vpc_id, home_event=settings.home_cidrs.lambda_event(), region=settings.region,
    ports=HOME_PORTS + ((PLAINTEXT_PORT,) if settings.mqtt_plaintext else ())))
ssh = SshKey("ssh")
ca = CertificateAuthority("ca")


def groups(node: str) -> list:
    """Public nodes are in the home group too; every node is in the nodes' group."""
    home = [guard.security_group_id] if settings.nodes[node].public_ipv4 else []
    return [*home, network.node_group_id]


def subnet(node: str):
    return network.public_subnet_id if settings.nodes[node].public_ipv4 else network.private_subnet_id


mqtt = MqttBroker("mqtt", MqttBrokerArgs(
    spec=settings.nodes["mqtt"], subnet_id=subnet("mqtt"), security_group_ids=groups("mqtt"),
    key_name=ssh.key_name, private_key=ssh.private_key_openssh, ca=ca,
    private_subnet_cidr=network.private_subnet_cidr,
    private_route_table_id=network.private_route_table_id, topic_prefix=settings.topic_prefix,
    plaintext=settings.mqtt_plaintext,
    dns_name=f"mqtt.{settings.domain}" if settings.domain else None,
    reachable_after=[guard.seeded]))

pulumi.export("mqttHost", mqtt.host)
pulumi.export("mqttPort", mqtt.port)
pulumi.export("caCert", mqtt.ca_cert)
pulumi.export("openDtuMqttUser", mqtt.opendtu_user)
pulumi.export("openDtuMqttPassword", mqtt.opendtu_password)
pulumi.export("securityGroupId", guard.security_group_id)
pulumi.export("ipGuardFunctionName", guard.function_name)
pulumi.export("piAccessKeyId", guard.pi_access_key_id)
pulumi.export("piSecretAccessKey", guard.pi_secret_access_key)
pulumi.export("piAgentConfig", guard.pi_agent_config)
pulumi.export("monthlyCostUsd", monthly_cost(items_from_settings(settings), settings.region))
