"""The broker's users as data (components/mqtt_users.py): the topic-filter arithmetic the ACL's
deny lines come from, checked against mosquitto's own matcher (libmosquitto's
mosquitto_topic_matches_sub, through ctypes) on every small filter and topic; and what a new
publisher gets without anyone writing a deny line for it."""

import ctypes
import ctypes.util
import itertools

import pytest

from components.mqtt_users import (
    CHECK, OPENDTU, OPENDTU_COMMANDS, MqttUser, acl_entries, denied_writes, overlaps, users,
    within,
)
from components.opendtu_data import CONSUMERS

LIBRARY = ctypes.util.find_library("mosquitto")
pytestmark = pytest.mark.skipif(LIBRARY is None, reason="libmosquitto1 comes with mosquitto-clients")


def mosquitto_matches():
    library = ctypes.CDLL(LIBRARY)
    result = ctypes.c_bool()

    def matches(topic_filter: str, topic: str) -> bool:
        assert library.mosquitto_topic_matches_sub(
            topic_filter.encode(), topic.encode(), ctypes.byref(result)) == 0
        return result.value
    return matches


def small_filters():
    for length in (1, 2, 3):
        for levels in itertools.product("ab+#", repeat=length):
            if "#" not in levels[:-1]:
                yield "/".join(levels)


def test_overlaps_and_within_agree_with_mosquittos_matcher():
    matches = mosquitto_matches()
    topics = ["/".join(levels) for length in (1, 2, 3, 4)
              for levels in itertools.product("abc", repeat=length)]
    filters = list(small_filters())
    matched = {f: {t for t in topics if matches(f, t)} for f in filters}
    for a, b in itertools.product(filters, repeat=2):
        assert overlaps(a, b) == bool(matched[a] & matched[b]), (a, b)
        assert within(a, b) == (matched[a] <= matched[b]), (a, b)


def test_a_new_publisher_is_kept_out_of_the_commands_and_out_of_others_subtrees():
    meter = MqttUser("meter", "A meter publishes its readings.", publishes=("meter/#",))
    everyone = (*users("solar"), meter)
    assert denied_writes(meter, everyone) == [OPENDTU_COMMANDS]  # meter/cmd/x would match
    assert "meter/#" in denied_writes(OPENDTU, everyone)
    assert denied_writes(CHECK, everyone) == []  # the probe's topic is no command
    entries = {e["usernames"][0]: e for e in acl_entries(everyone)}
    assert entries["telegraf"] == {**entries["telegraf"], "deny": [], "write": ()}
    # Its name, then each consumer's client id and that of the consumer's configuration check.
    assert len(entries["telegraf"]["usernames"]) == 1 + 2 * len(CONSUMERS)


def test_a_user_given_a_command_topic_still_cannot_write_it():
    rogue = MqttUser("rogue", "Someone added a command topic.", publishes=("+/cmd/power",))
    assert denied_writes(rogue, (rogue,)) == [OPENDTU_COMMANDS]
