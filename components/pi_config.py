"""The Raspberry Pi's one INI file (`piAgentConfig`): the IP agent's and the Solix bridge's."""

from __future__ import annotations

import pulumi

from components.config import SolixCloud
from components.opendtu_data import SOLIX_INTERVAL_SECONDS
from components.templates import render_output


def pi_config(*, region: str, function_name: pulumi.Input[str],
              access_key_id: pulumi.Input[str], secret_access_key: pulumi.Input[str],
              ipv6: bool, mqtt_host: pulumi.Input[str], mqtt_port: int,
              ca_cert: pulumi.Input[str], username: str, password: pulumi.Input[str],
              topic_prefix: str, devices: tuple[tuple[str, str], ...],
              cloud: SolixCloud | None = None) -> pulumi.Output[str]:
    """The INI, a Pulumi secret (it holds an AWS key, an MQTT password and, with `cloud`, the
    Anker account's password)."""
    return pulumi.Output.secret(render_output(
        "pi/solarmonitor.ini", region=region, function_name=function_name,
        access_key_id=access_key_id, secret_access_key=secret_access_key,
        ipv6="yes" if ipv6 else "no", mqtt_host=mqtt_host, mqtt_port=mqtt_port,
        ca_cert=ca_cert, username=username, password=password, topic_prefix=topic_prefix,
        devices=", ".join(f"{address}={model}" for address, model in devices) or "none",
        interval=SOLIX_INTERVAL_SECONDS,
        cloud=cloud and {"email": cloud.email, "country": cloud.country},
        cloud_password=pulumi.Output.secret(cloud.password) if cloud else ""))
