"""Config validation: pure functions, no mocks."""

import ipaddress

import pytest
from hypothesis import given, strategies as st

from components.config import (
    DEFAULT_COMPACT, DEFAULT_NODES, INSTANCE_TYPES, NODE_NAMES, ConfigError, HomeCidrs, NodeSpec,
    parse_home_cidrs, parse_retention, parse_settings, parse_topic_prefix, raw_from_strings,
    read_settings,
)
from home_address import AddressError, classify, normalise_ipv4, normalise_ipv6_prefix

GOOD = {"homeCidrs": ["1.2.3.4/32"]}


def settings(**raw):
    return parse_settings({**GOOD, **raw}, region="eu-central-1")


def refused(key: str, **raw) -> str:
    with pytest.raises(ConfigError) as caught:
        settings(**raw)
    message = str(caught.value)
    assert "\n" not in message
    assert key in message, message
    return message


def test_defaults_follow_the_design():
    s = settings()
    assert s.home_cidrs == HomeCidrs("1.2.3.4/32", None)
    assert s.nodes == DEFAULT_NODES
    assert s.nodes["mqtt"].architecture == "arm64" and s.nodes["telegraf"].architecture == "arm64"
    assert (s.topic_prefix, s.influx_org, s.influx_bucket) == ("solar", "solar", "hoymiles")
    assert (s.influx_retention, s.backup_days, s.mqtt_plaintext, s.domain) == ("0", 7, False, None)


def test_both_families_and_the_lambda_event():
    s = settings(homeCidrs=["2a01:4f8:1:2::/64", "8.8.8.8"])
    assert s.home_cidrs.lambda_event() == {"ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:2::/64"}
    # The Pi of a home whose IPv4 is unknown at the moment sends the IPv6 prefix alone.
    assert HomeCidrs(None, "2a01:4f8:1::/48").lambda_event() == {"ipv6_prefix": "2a01:4f8:1::/48"}


@pytest.mark.parametrize("cidrs", [["2a01:4f8:1:2::/64"], "2a01:4f8:1::/48"])
def test_a_home_without_an_ipv4_is_refused_saying_why_and_what_works(cidrs):
    with pytest.raises(ConfigError) as refusal:
        parse_settings({"homeCidrs": cidrs}, "eu-central-1")
    message = str(refusal.value)
    assert message.startswith("solarmonitor:homeCidrs: got") and "\n" not in message
    assert "OpenDTU speaks IPv4 only" in message and "DS-Lite" in message
    assert "public IPv4 (dual stack)" in message
    # A DS-Lite line reaches IPv4 hosts from the carrier's shared address: the message says how
    # to find that address, and never that the line cannot reach the stack at all.
    assert "`curl -4 https://checkip.amazonaws.com`" in message
    assert "cannot reach" not in message


@pytest.mark.parametrize("cidrs", [
    ["0.0.0.0/0"], ["::/0"], ["10.0.0.1/32"], ["192.168.178.20"], ["100.64.0.1/32"],
    ["127.0.0.1"], ["169.254.1.1"], ["224.0.0.1"], ["255.255.255.255"], ["1.2.3.0/24"],
    ["2a01:4f8::/32"], ["2001:db8::/48"], ["fe80::/64"], ["fd00::/64"], ["ff02::/64"],
    ["1.2.3.4/32", "5.6.7.8/32"], ["2a01:4f8:1::/48", "2a01:4f8:2::/48"], [], "", "nonsense",
    ["1.2.3.4; rm -rf /"], [42], None,
])
def test_bad_home_cidrs_are_refused_naming_the_key(cidrs):
    refused("homeCidrs", homeCidrs=cidrs)


@pytest.mark.parametrize("written, meant", [
    ("2a01:4f8:1:2::5/64", "2a01:4f8:1:2::/64"), ("2a01:4f8:1:2ff::/56", "2a01:4f8:1:200::/56"),
    ("2001:db8:1:2::5/64", "2001:db8:1:2::/64"),
])
def test_an_ipv6_prefix_with_host_bits_is_refused_naming_the_prefix_meant(written, meant):
    """Read leniently, 2a01:4f8:1:2ff::/56 would open all of 2a01:4f8:1:200::/56."""
    message = refused("homeCidrs", homeCidrs=[written])
    assert f"did you mean {meant}?" in message and written in message


def test_the_pis_lambda_is_capped_unless_the_account_cannot_reserve():
    assert settings().ip_guard_reserve_concurrency is True
    assert settings(ipGuardReserveConcurrency="false").ip_guard_reserve_concurrency is False
    refused("ipGuardReserveConcurrency", ipGuardReserveConcurrency="no")


def test_missing_home_cidrs_is_refused():
    with pytest.raises(ConfigError, match="homeCidrs"):
        parse_settings({}, region="eu-central-1")


@pytest.mark.parametrize("nodes, key", [
    ({"mosquitto": {}}, "nodes"),
    ({"mqtt": {"instanceType": "t4g.huge"}}, "nodes.mqtt.instanceType"),
    ({"influx": {"instanceType": "m5.24xlarge"}}, "nodes.influx.instanceType"),
    ({"grafana": {"volumeGb": 2}}, "nodes.grafana.volumeGb"),
    ({"grafana": {"volumeGb": -1}}, "nodes.grafana.volumeGb"),
    ({"telegraf": {"publicIpv4": "maybe"}}, "nodes.telegraf.publicIpv4"),
    ({"mqtt": {"publicIpv4": False}}, "nodes.mqtt.publicIpv4"),
    ({"mqtt": {"disk": 8}}, "nodes.mqtt.disk"),
    ({"mqtt": "t4g.nano"}, "nodes.mqtt"),
    (["mqtt"], "nodes"),
])
def test_bad_nodes_are_refused(nodes, key):
    refused(key, nodes=nodes)


def test_node_overrides_merge_with_defaults():
    s = settings(nodes={"influx": {"instanceType": "t3.small", "volumeGb": "40"}})
    assert s.nodes["influx"].instance_type == "t3.small"
    assert s.nodes["influx"].volume_gb == 40 and s.nodes["influx"].architecture == "x86_64"
    assert s.nodes["mqtt"] == DEFAULT_NODES["mqtt"]


def test_the_compact_layout_has_one_node_of_its_own():
    assert settings().layout == "separate" == settings(layout="separate").layout
    s = settings(layout="compact")
    assert s.layout == "compact" and s.nodes == {"compact": DEFAULT_COMPACT}
    assert (DEFAULT_COMPACT.instance_type, DEFAULT_COMPACT.public_ipv4) == ("t4g.small", True)
    # The data volume is the influx node's in the other layout, with the same default: it moves.
    assert s.data_volume_gb == settings().data_volume_gb == 10
    s = settings(layout="compact", nodes={"compact": {"instanceType": "t4g.micro", "volumeGb": 40}})
    assert s.nodes["compact"] == NodeSpec("t4g.micro", True, 40) and s.data_volume_gb == 40
    assert [s.node_of(service) for service in NODE_NAMES] == ["compact"] * 4
    assert s.grafana_reach[0] == "ipv4"
    # With an IPv6 home too: Grafana shares the broker's address, which OpenDTU needs anyway.
    assert settings(layout="compact", homeCidrs=["1.2.3.4/32", "2a01:4f8:1:2::/64"]
                    ).grafana_reach[0] == "ipv4"


@pytest.mark.parametrize("raw, key, says", [
    ({"layout": "one"}, "solarmonitor:layout: got 'one'", "separate"),
    ({"layout": "Compact"}, "solarmonitor:layout", "compact (all four services"),
    ({"layout": "compact", "nodes": {"mqtt": {"instanceType": "t4g.nano"}}},
     "solarmonitor:nodes.mqtt: got {'instanceType': 't4g.nano'}", "nodes takes only compact"),
    ({"layout": "compact", "nodes": {"compact": {}, "influx": {}}}, "solarmonitor:nodes.influx",
     "no per-service entry in the compact layout"),
    ({"nodes": {"compact": {"instanceType": "t4g.small"}}}, "solarmonitor:nodes.compact",
     "set solarmonitor:layout to compact"),
    ({"layout": "compact", "nodes": {"compact": {"publicIpv4": False}}},
     "solarmonitor:nodes.compact.publicIpv4: got False", "always has a public IPv4"),
    ({"layout": "compact", "nodes": {"compact": {"instanceType": "t4g.nano"}}},
     "solarmonitor:nodes.compact.instanceType: got 't4g.nano'", "at least 1 GiB"),
    ({"layout": "compact", "nodes": {"compact": {"instanceType": "t3a.nano"}}},
     "nodes.compact.instanceType", "(it has 512 MiB)"),
    ({"layout": "compact", "nodes": {"compact": {"instanceType": "t9.mega"}}},
     "nodes.compact.instanceType", "one of t3.large"),
    # Only the types it takes: none of the nanos it would refuse next.
    ({"layout": "compact", "nodes": {"compact": {"instanceType": "t2.micro"}}},
     "nodes.compact.instanceType", "t3a.small, t4g.large, t4g.medium, t4g.micro, t4g.small"),
    # Switching layouts with the data volume's size set: where it goes now.
    ({"layout": "compact", "nodes": {"influx": {"volumeGb": 30}, "mqtt": {}}},
     "solarmonitor:nodes.influx", "nodes.influx.volumeGb (30) is nodes.compact.volumeGb"),
    ({"nodes": {"compact": {"volumeGb": 30}}}, "solarmonitor:nodes.compact",
     "nodes.compact.volumeGb (30) is nodes.influx.volumeGb"),
    ({"layout": "compact", "nodes": {"compact": {"volumeGb": 4}}},
     "nodes.compact.volumeGb", "a whole number from 8"),
    ({"layout": "compact", "nodes": {"compact": {"disk": 8}}},
     "nodes.compact.disk", "takes instanceType and volumeGb"),
    ({"layout": "compact", "nodes": "t4g.small"}, "solarmonitor:nodes",
     "the compact node's settings"),
])
def test_layout_mistakes_are_one_line_naming_the_key_the_value_and_what_is_expected(raw, key,
                                                                                    says):
    message = refused(key, **raw)
    assert says in message and message.startswith("solarmonitor:nodes" if "nodes" in key
                                                   else "solarmonitor:layout"), message


def test_the_memory_of_every_instance_type_is_known():
    """prices.json's memory column covers every type the stack accepts (the compact layout
    refuses those below 1 GiB by it), as EC2's DescribeInstanceTypes states it (MemoryInfo.
    SizeInMiB, recorded from AWS in moto's ec2/resources/instance_types.json.gz); and its
    architecture is the one NodeSpec picks the image for."""
    import gzip
    import json
    from pathlib import Path

    import moto
    from components.prices import memory_mib
    described = json.loads(gzip.decompress(
        (Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz").read_bytes()))
    for instance_type in INSTANCE_TYPES:
        size = instance_type.split(".")[1]
        assert memory_mib(instance_type) == {"nano": 512, "micro": 1024, "small": 2048,
                                             "medium": 4096, "large": 8192}[size]
        assert memory_mib(instance_type) == described[instance_type]["MemoryInfo"]["SizeInMiB"]
        assert NodeSpec(instance_type, True, 8).architecture in described[instance_type][
            "ProcessorInfo"]["SupportedArchitectures"]


@pytest.mark.parametrize("key, value", [
    ("influxRetention", -1), ("influxRetention", "-5"), ("influxRetention", "forever"),
    ("influxRetention", True), ("influxRetention", "30m"), ("influxRetention", "59m59s"),
    ("backupDays", 0), ("backupDays", "many"), ("backupDays", 1000),
    ("mqttPlaintext", "yes please"), ("topicPrefix", "solar/#"), ("topicPrefix", "+"),
    ("topicPrefix", "x" * 40), ("topicPrefix", ""), ("influxOrg", "my org"),
    ("influxBucket", ""), ("domain", "not a domain"), ("domain", "Solar.Example.ORG"),
])
def test_bad_scalars_are_refused(key, value):
    message = refused(key, **{key: value})
    assert repr(value) in message or str(value) in message


@pytest.mark.parametrize("region", [None, "", "mars", "EU-CENTRAL-1", "eu-central-1; ls"])
def test_region_must_be_a_region(region):
    with pytest.raises(ConfigError, match="aws:region"):
        parse_settings(GOOD, region=region)


def test_unpriced_region_is_priced_as_us_east_1():
    from components.bill import Line, monthly_cost
    cost = monthly_cost([Line("mqtt", "instance", "t4g.nano", 1)], "eu-west-3")
    assert cost["region"] == "eu-west-3" and cost["pricedAs"] == "us-east-1"
    assert cost["total"] == round(0.0042 * 730, 2)


@pytest.mark.parametrize("key, closest", [("influxRetension", "influxRetention"),
                                          ("homeCidr", "homeCidrs"), ("topicprefix", "topicPrefix")])
def test_a_mistyped_key_is_refused_naming_the_closest(key, closest):
    configured = {"solarmonitor:homeCidrs": '["1.2.3.4/32"]', f"solarmonitor:{key}": "30d",
                  "aws:region": "eu-central-1"}
    with pytest.raises(ConfigError) as caught:
        read_settings(configured, region="eu-central-1")
    assert str(caught.value) == (f"solarmonitor:{key}: no such setting; "
                                 f"did you mean solarmonitor:{closest}?")


def test_an_unknown_key_far_from_any_lists_the_settings():
    with pytest.raises(ConfigError, match="the settings are homeCidrs, nodes"):
        read_settings({"solarmonitor:homeCidrs": "1.2.3.4", "solarmonitor:zzz": "1"}, "eu-central-1")


def test_other_namespaces_are_not_ours_to_refuse():
    s = read_settings({"solarmonitor:homeCidrs": "1.2.3.4", "aws:profile": "home",
                       "other:anything": "x"}, "eu-central-1")
    assert s.home_cidrs.ipv4 == "1.2.3.4/32"


def test_scalars_as_pulumi_hands_them_over():
    raw = raw_from_strings({"homeCidrs": '["1.2.3.4/32"]', "nodes": '{"mqtt": {"volumeGb": 9}}',
                            "backupDays": "14", "mqttPlaintext": "true", "topicPrefix": "solar/",
                            "influxRetention": "52w", "domain": None})
    s = parse_settings(raw, region="us-east-1")
    assert (s.backup_days, s.mqtt_plaintext, s.topic_prefix) == (14, True, "solar")
    assert s.influx_retention == "52w" and s.nodes["mqtt"].volume_gb == 9
    assert raw_from_strings({"homeCidrs": "1.2.3.4"})["homeCidrs"] == "1.2.3.4"
    with pytest.raises(ConfigError, match="solarmonitor:nodes"):
        raw_from_strings({"nodes": "{not json"})


def test_retention_forms():
    assert parse_retention(0) == "0" and parse_retention("30") == "30d"
    assert parse_retention("2w3d") == "2w3d" and parse_retention("1h") == "1h"
    assert parse_retention("0d") == "0" and parse_retention("0w0d") == "0"  # forever, said so


def test_topic_prefix_accepts_opendtu_style():
    assert parse_topic_prefix("solar/") == "solar"
    assert parse_topic_prefix("home/solar") == "home/solar"


def test_every_accepted_instance_type_has_a_price_and_architecture():
    from components.config import NodeSpec
    from components.prices import PRICES
    for region in PRICES["instanceHourly"]:
        assert set(PRICES["instanceHourly"][region]) == set(INSTANCE_TYPES)
    for instance_type in INSTANCE_TYPES:
        expected = "arm64" if instance_type.startswith("t4g.") else "x86_64"
        assert NodeSpec(instance_type, False, 8).architecture == expected, instance_type


# --- property-based: home addresses -----------------------------------------------------------

def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast and not address.is_reserved


# Special-purpose ranges that Python 3.11's `is_global` still calls global.
_STRICTER_THAN_PYTHON = [ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.175.48.0/24")]


@given(st.ip_addresses(v=4))
def test_ipv4_accepted_only_when_globally_routable(address):
    try:
        assert normalise_ipv4(str(address)) == f"{address}/32"
    except AddressError:
        assert not _is_public_v4(address) or any(address in n for n in _STRICTER_THAN_PYTHON)
    else:
        assert _is_public_v4(address)


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=31))
def test_ipv4_ranges_are_never_accepted(address, length):
    with pytest.raises(AddressError):
        normalise_ipv4(f"{address}/{length}")


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=128))
def test_ipv6_prefix_length_and_scope(address, length):
    text = f"{address}/{length}"
    try:
        result = normalise_ipv6_prefix(text)
    except AddressError:
        return
    network = ipaddress.IPv6Network(result)
    assert 48 <= network.prefixlen <= 128
    assert network.subnet_of(ipaddress.IPv6Network("2000::/3"))
    assert network.network_address.is_global
    assert address in network


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_and_never_opens_wide(text):
    try:
        family, cidr = classify(text)
    except AddressError:
        return
    network = ipaddress.ip_network(cidr)
    assert network.prefixlen == 32 if family == "ipv4" else network.prefixlen >= 48


@given(st.lists(st.sampled_from(["1.2.3.4", "10.0.0.1", "2a01:4f8::/64", "0.0.0.0/0", "::/0"]),
                max_size=3))
def test_home_cidrs_either_valid_or_config_error(items):
    try:
        cidrs = parse_home_cidrs(items)
    except ConfigError as error:
        assert "homeCidrs" in str(error)
    else:
        assert cidrs.ipv4 in (None, "1.2.3.4/32") and cidrs.ipv6 in (None, "2a01:4f8::/64")


@pytest.mark.parametrize("value, expected", [
    (None, ()), ([], ()), ("none", None),
    (["aa:bb:cc:dd:ee:ff=Solarbank2"], (("AA:BB:CC:DD:EE:FF", "Solarbank2"),)),
    ({"AA:BB:CC:DD:EE:01": "C1000", "AA:BB:CC:DD:EE:02": "Solarbank3"},
     (("AA:BB:CC:DD:EE:01", "C1000"), ("AA:BB:CC:DD:EE:02", "Solarbank3"))),
    ("AA:BB:CC:DD:EE:01=C300, AA:BB:CC:DD:EE:02=F2000",
     (("AA:BB:CC:DD:EE:01", "C300"), ("AA:BB:CC:DD:EE:02", "F2000"))),
])
def test_solix_devices(value, expected):
    if expected is None:
        refused("solixDevices", solixDevices=value)
    else:
        assert settings(solixDevices=value).solix_devices == expected


@pytest.mark.parametrize("value", [["AA:BB:CC:DD:EE=Solarbank2"], ["AA:BB:CC:DD:EE:FF=E1600"],
                                   ["AA:BB:CC:DD:EE:FF"], ["AA:BB:CC:DD:EE:FF=C1000"] * 2, 42])
def test_bad_solix_devices_are_refused(value):
    refused("solixDevices", solixDevices=value)


def test_the_dashboard_settings_default_from_the_region():
    s = settings()
    assert (s.timezone, s.energy_price, s.currency, s.raw_retention) == (
        "Europe/Berlin", 0.0, "EUR", "30d")
    assert parse_settings(GOOD, region="us-west-2").timezone == "America/Los_Angeles"
    assert parse_settings(GOOD, region="me-central-1").timezone == "UTC"


def test_the_dashboard_settings_are_read():
    s = settings(timezone="Europe/Vienna", energyPrice="0.285", currency="chf", rawRetention=14)
    assert (s.timezone, s.energy_price, s.currency, s.raw_retention) == (
        "Europe/Vienna", 0.285, "CHF", "14d")


@pytest.mark.parametrize("key, value", [
    ("timezone", "Europe/Atlantis"), ("timezone", "CET; drop"), ("timezone", "../etc/passwd"),
    ("timezone", 1), ("energyPrice", -0.1), ("energyPrice", 11), ("energyPrice", "cheap"),
    ("energyPrice", True), ("currency", "Euro"), ("currency", "€"), ("currency", 978),
    ("rawRetention", 0), ("rawRetention", -3), ("rawRetention", "forever"), ("rawRetention", 3),
    ("rawRetention", "72h"), ("rawRetention", "0d"),
])
def test_bad_dashboard_settings_are_refused_naming_the_key(key, value):
    refused(key, **{key: value})
