"""The broker's users and what each may publish and read: the password file, the ACL and the
stack outputs are all rendered from this list, so a new publisher is one entry here.

Topic filters are relative to the configured prefix (OpenDTU's "base topic").

Every credential does its own job only, and the broker enforces it (tests/test_mqtt_acl_real.py
tries every pair of users against a real mosquitto from the rendered files):
- A session belongs to one username: the broker replaces every client id with the username
  (mosquitto.conf `use_username_as_clientid` on every listener; mosquitto src/handle_connect.c
  does so before the password check and before it looks for the session to take over), so
  whoever connects with another user's client id gets a session of their own, never theirs. A
  user that keeps several sessions (Telegraf: one per consumer) has one username per session.
- Nobody publishes what OpenDTU acts on: OpenDTU subscribes to `<prefix>+/cmd/<command>` and
  switches inverters off, restarts them or limits them (tbnobody/OpenDTU
  include/MqttHandleInverter.h `_cmdtopic`, src/MqttHandleInverter.cpp onMqttMessage), retained
  commands too. Every user that writes is denied those topics, OpenDTU's own user included;
  mosquitto checks deny lines before allow lines (src/security_default.c,
  mosquitto_acl_check_default) and, with `check_retain_source`, re-checks a retained message
  against its publisher's current rights before delivering it (src/retain.c, retain__process),
  so a command retained before this ACL is never replayed.
- Each publisher writes its own subtree only: one that may write the whole prefix (OpenDTU) is
  denied every other publisher's subtree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from components.opendtu_data import PROBE
from components.telegraf_config import mqtt_logins

# What OpenDTU acts on (see above): its inverters' command topics, under the prefix.
OPENDTU_COMMANDS = "+/cmd/#"


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
    logins: tuple[str, ...] = ()
    """More usernames with this user's password and rights, one per session it keeps (the broker
    makes the username the client id). Left out: `name` alone."""

    @property
    def usernames(self) -> tuple[str, ...]:
        """`name` (for a person or a tool logging in as this user) and its `logins`."""
        return tuple(dict.fromkeys((self.name, *self.logins)))


OPENDTU = MqttUser(
    "opendtu", "OpenDTU publishes its values below the prefix; it reads nothing, and nobody may "
               "publish the commands it would act on.",
    publishes=("#",))
TELEGRAF = MqttUser(
    "telegraf", "Telegraf reads everything published under the prefix and writes nothing; besides "
                "its name, one username per consumer (its client id) and per consumer of its "
                "configuration check.",
    reads=("#",))
SOLIX = MqttUser(
    "solix", "The Pi's Solix bridge publishes the battery's values below solix/ and reads nothing.",
    publishes=("solix/#",))
CHECK = MqttUser(
    "check", "make check publishes its probe (one number) and nothing else; Telegraf writes it to "
             "a measurement of its own.",
    publishes=(PROBE.topic,))


USERS = (OPENDTU, TELEGRAF, SOLIX, CHECK)


def users(topic_prefix: str) -> tuple[MqttUser, ...]:
    """Every user of the broker for this prefix: USERS, Telegraf with one more username per
    session it keeps (components/telegraf_config.py, mqtt_logins: its consumers' client ids)."""
    return tuple(replace(user, logins=mqtt_logins(topic_prefix)) if user is TELEGRAF else user
                 for user in USERS)


def _levels(topic_filter: str) -> list[str]:
    return topic_filter.split("/")


def overlaps(a: str, b: str) -> bool:
    """Whether some topic matches both filters (MQTT 3.1.1 section 4.7: `+` one level, `#` the
    rest including the parent)."""
    first, second = _levels(a), _levels(b)
    for x, y in zip(first, second):
        if "#" in (x, y):
            return True
        if x != y and "+" not in (x, y):
            return False
    if len(first) == len(second):
        return True
    longer = first if len(first) > len(second) else second
    return len(longer) == min(len(first), len(second)) + 1 and longer[-1] == "#"


def within(inner: str, outer: str) -> bool:
    """Whether every topic `inner` matches is matched by `outer` too."""
    first, second = _levels(inner), _levels(outer)
    for index, y in enumerate(second):
        if y == "#":
            return True
        if index >= len(first):
            return False
        x = first[index]
        if x == "#":  # a leading # matches what +/# does: every topic has a first level
            return index == 0 and second[1:] == ["#"] and y == "+"
        if y != "+" and x != y:
            return False
    return len(first) == len(second)


def denied_writes(user: MqttUser, everyone: tuple[MqttUser, ...]) -> list[str]:
    """What `user` must not write although its own filters would let it: OpenDTU's command
    topics, always; the subtrees other publishers own, unless one holds all `user` writes."""
    commands = [OPENDTU_COMMANDS] if any(overlaps(OPENDTU_COMMANDS, own)
                                         for own in user.publishes) else []
    others = [f for other in everyone if other.name != user.name for f in other.publishes]
    return commands + [forbidden for forbidden in dict.fromkeys(others)
                       if forbidden != OPENDTU_COMMANDS
                       and any(overlaps(forbidden, own) and not within(own, forbidden)
                               for own in user.publishes)]


def acl_entries(everyone: tuple[MqttUser, ...]) -> list[dict]:
    """What the ACL file says for each user: its usernames, then deny, write and read filters."""
    return [{"purpose": user.purpose, "usernames": user.usernames,
             "deny": denied_writes(user, everyone), "write": user.publishes, "read": user.reads}
            for user in everyone]
