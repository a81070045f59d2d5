"""The broker's users and what each may publish and read: the password file, the ACL and the
stack outputs are all rendered from this list, so a new publisher is one entry here.

Topic filters are relative to the configured prefix (OpenDTU's "base topic").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MqttUser:
    name: str
    """The MQTT username; also names its password resource (`<broker>-<name>-password`)."""
    purpose: str
    """One line for the ACL file: who this is and why it may do what it may."""
    publishes: tuple[str, ...] = ()
    """Topic filters it may publish to. Left out: nothing."""
    reads: tuple[str, ...] = ()
    """Topic filters it may subscribe to. Left out: nothing."""


OPENDTU = MqttUser(
    "opendtu", "OpenDTU publishes its values and reads the commands for its inverters.",
    publishes=("#",), reads=("+/cmd/#",))
TELEGRAF = MqttUser(
    "telegraf", "Telegraf reads everything published under the prefix and writes nothing.",
    reads=("#",))
SOLIX = MqttUser(
    "solix", "The Pi's Solix bridge publishes the battery's values below solix/ and reads nothing.",
    publishes=("solix/#",))

USERS = (OPENDTU, TELEGRAF, SOLIX)
