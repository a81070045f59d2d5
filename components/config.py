"""The stack's settings: one typed object, validated in one place before any resource exists.

Pure functions only; `__main__.py` hands in what `pulumi.Config` read. Every refusal is a
`ConfigError` whose message names the key, the value received and what is expected.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from components.prices import INSTANCE_TYPES, memory_mib
from components.storage import retention_days
from home_address import CGNAT, IPV6_MIN_PREFIX, AddressError, classify

NODE_NAMES = ("mqtt", "telegraf", "influx", "grafana")
# `separate`: one instance per service, the original design (each resized, or broken, on its own);
# `compact`: all four services on one instance, the node `compact`.
LAYOUTS = ("separate", "compact")
COMPACT = "compact"
# Below 1 GiB the four services and the system do not fit (README, "Memory on one instance").
COMPACT_MIN_MEMORY_MIB = 1024
MIN_VOLUME_GB = 8  # Ubuntu 24.04's image needs 8 GB for its root file system
MAX_VOLUME_GB = 1024
MAX_DOMAIN = 128 - len("mqtt.")

_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^(\d+(w|d|h|m|s))+$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class ConfigError(ValueError):
    """A stack setting the program refuses; str() is the one-line message for the user."""


@dataclass(frozen=True)
class NodeSpec:
    instance_type: str
    public_ipv4: bool
    volume_gb: int

    @property
    def architecture(self) -> str:
        """The CPU architecture the instance type needs: Graviton (t4g) is arm64."""
        return "arm64" if self.instance_type.split(".")[0].endswith("g") else "x86_64"


# Telegraf runs on Graviton: InfluxData builds arm64 .deb packages for every release into the
# repository we install from (influxdata/telegraf Makefile: `arm64 += ... arm64.deb`; the
# release pages list telegraf_<version>-1_arm64.deb since 1.5), and t4g.nano costs less than
# t3a.nano. Grafana's public IPv4 is the default only for a home without IPv6 (see
# `grafana_reach`); these are an IPv4-only home's defaults.
DEFAULT_NODES = {
    "mqtt": NodeSpec("t4g.nano", True, 8),
    "telegraf": NodeSpec("t4g.nano", False, 8),
    "influx": NodeSpec("t4g.micro", False, 10),  # volumeGb sizes its data volume
    "grafana": NodeSpec("t4g.micro", True, 8),
}
# The compact node: always public (OpenDTU reaches the broker over IPv4); `volumeGb` sizes the
# data volume, which is the influx node's in the separate layout, with the same default, so the
# volume moves between the layouts as it is (EBS volumes only grow).
DEFAULT_COMPACT = NodeSpec("t4g.small", True, DEFAULT_NODES["influx"].volume_gb)
# The compact node's root volume: the system, the four services, the swap file and Telegraf's
# disk buffer. 8 GB, the least Ubuntu's image takes, keeps the default at 19.92 USD a month in
# eu-central-1 (README, "Costs"); a GB more would cross 20.
COMPACT_ROOT_GB = MIN_VOLUME_GB


@dataclass(frozen=True)
class HomeCidrs:
    ipv4: str | None
    ipv6: str | None

    def lambda_event(self) -> dict[str, str]:
        """The IpGuard event that sets the group to exactly these CIDRs."""
        event = {"ipv4": self.ipv4, "ipv6_prefix": self.ipv6}
        return {key: value for key, value in event.items() if value}


@dataclass(frozen=True)
class SolixCloud:
    """The Anker account the Pi's bridge reads Solarbanks from Anker's cloud with."""
    email: str
    country: str
    """ISO 3166 code of the account's country: it picks Anker's EU or COM server."""
    password: str = field(repr=False)
    """From solixCloudPassword, a Pulumi secret: only ever handed on as a secret Output."""


@dataclass(frozen=True)
class Settings:
    region: str
    home_cidrs: HomeCidrs
    nodes: Mapping[str, NodeSpec]
    """The instances, by node: mqtt, telegraf, influx and grafana (separate), or compact."""
    layout: str = "separate"
    grafana_reach: tuple[str, str] = ("ipv4", "the home has no IPv6 prefix")
    """How the home reaches Grafana ("ipv4", "ipv6" or "private"), and why."""
    topic_prefix: str = "solar"
    influx_org: str = "solar"
    influx_bucket: str = "hoymiles"
    influx_retention: str = "0"
    """How long the history (5-minute aggregates, daily energy) is kept; "0" keeps it forever."""
    raw_retention: str = "30d"
    """How long the raw values (every 5 s) are kept."""
    timezone: str = "UTC"
    """The owner's IANA time zone: their day, on the dashboard and in every daily window."""
    energy_price: float = 0.0
    """What a kWh is worth, in `currency` (the dashboard shows the value of the production)."""
    currency: str = "EUR"
    backup_days: int = 7
    mqtt_plaintext: bool = False
    domain: str | None = None
    solix_devices: tuple[tuple[str, str], ...] = ()
    """Anker Solix devices the Pi's bridge reads: (Bluetooth address, SolixBLE model)."""
    solix_cloud: SolixCloud | None = None
    """The Anker account for the bridge's cloud source; None: no cloud source."""
    alert_email: str | None = None
    """Where alerts go (through SNS); None: no alerts."""
    battery_alert_percent: int = 10
    """A Solix battery's state of charge below this alerts (when alerts and batteries are set)."""
    ip_guard_reserve_concurrency: bool = True
    """Cap the Pi's Lambda at one execution at a time; False for a new account that cannot."""

    def node_of(self, service: str) -> str:
        """The node a service (mqtt, telegraf, influx, grafana) runs on."""
        return COMPACT if self.layout == COMPACT else service

    @property
    def data_volume_gb(self) -> int:
        """The size of InfluxDB's data volume."""
        return self.nodes[self.node_of("influx")].volume_gb


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"solarmonitor:{key}: got {value!r}; expected {expected}")


@functools.lru_cache(maxsize=1)
def aws_regions() -> tuple[str, ...]:
    """AWS's regions with EC2, from the installed botocore's endpoint data (offline): the
    standard partition only, as the program's ARNs (`arn:aws:`) are."""
    import botocore.session
    return tuple(botocore.session.get_session().get_available_regions("ec2", "aws"))


@functools.lru_cache(maxsize=1)
def other_partition_regions() -> tuple[str, ...]:
    import botocore.session
    session = botocore.session.get_session()
    return tuple(region for partition in session.get_available_partitions() if partition != "aws"
                 for region in session.get_available_regions("ec2", partition))


def parse_region(value: Any) -> str:
    """An AWS region with EC2; costs use the price table's region or, lacking it, us-east-1."""
    regions = aws_regions()
    if not isinstance(value, str) or value not in regions:
        close = difflib.get_close_matches(str(value), regions, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        if value in other_partition_regions():
            hint = "; AWS China and GovCloud are not supported: the stack writes arn:aws: ARNs"
        raise ConfigError(f"aws:region: got {value!r}; expected an AWS region such as eu-central-1"
                          f" (not among the {len(regions)} in botocore's endpoint data{hint})")
    return value


def parse_home_cidrs(value: Any) -> HomeCidrs:
    expected = ("a list with at most one globally routable IPv4 /32 and at most one IPv6 "
                "prefix /48 to /128, e.g. [\"1.2.3.4/32\", \"2a01:4f8:1:2::/64\"]")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _fail("homeCidrs", value, expected)
    found: dict[str, str] = {}
    for item in value:
        try:
            family, cidr = classify(item)
        except AddressError as error:
            raise _fail("homeCidrs", item, f"{expected} ({error}){address_hint(item)}") from None
        if family in found:
            raise _fail("homeCidrs", value, f"{expected} (two {family} entries)")
        found[family] = cidr
    if "ipv4" not in found:
        # OpenDTU has no IPv6, and provisioning dials the broker's public IPv4: a home without an
        # IPv4 of its own (DS-Lite shares one among many) would never reach the stack.
        # A DS-Lite line does reach IPv4 hosts, from the carrier's address: say which to list.
        raise _fail("homeCidrs", value, "your home's public IPv4 /32 as well: OpenDTU speaks IPv4 "
                    "only and the deploy connects to the broker's public IPv4, so the stack must "
                    "let your home's IPv4 in. A DS-Lite line has no IPv4 of its own, only the "
                    "carrier's, shared with its other customers: ask your provider for a public "
                    "IPv4 (dual stack) and list both, e.g. [\"1.2.3.4/32\", \"2a01:4f8:1:2::/64\"], "
                    "or list the shared one that `curl -4 https://checkip.amazonaws.com` shows "
                    "(the README's part on DS-Lite says what that opens)")
    return HomeCidrs(found.get("ipv4"), found.get("ipv6"))


_FIND_IPV4 = ("find your home's public IPv4 with `curl -4 https://checkip.amazonaws.com` and "
              "write it as x.x.x.x/32")
_FIND_IPV6 = ("your IPv6 prefix is the one your router was delegated (FritzBox: Internet > "
              "Online-Monitor), with its length, e.g. 2a01:4f8:1:2::/64")
_LAN = tuple(ipaddress.ip_network(cidr) for cidr in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))
_DOCUMENTATION = tuple(ipaddress.ip_network(cidr) for cidr in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"))


def address_hint(item: Any) -> str:
    """What to do about a refused home address, to end its one-line error."""
    if isinstance(item, Mapping) and len(item) == 1 and next(iter(item.values())) is None:
        # YAML reads `- 2001:db8:1:2::` as a map: a plain scalar ending in ':' is a key.
        text = f"{next(iter(item))}:"
        return (f" — YAML read {text} as a map because it ends in ':': an IPv6 prefix needs "
                f"its length, e.g. \"{text}/64\" (quoted)")
    find = _FIND_IPV6 if ":" in str(item) else _FIND_IPV4
    try:
        network = ipaddress.ip_network(str(item), strict=False)
    except ValueError:
        return f" — {find}"
    address = network.network_address
    if network.prefixlen < (32 if network.version == 4 else IPV6_MIN_PREFIX):
        return f" — never a range, only your home's own address; {find}"
    if address in CGNAT:
        return (" — that is carrier-grade NAT (100.64.0.0/10): your provider shares one public "
                "IPv4 among many homes (DS-Lite lines work this way), so there is none of your "
                "own to open, and OpenDTU speaks IPv4 only; ask your provider for a public IPv4 "
                "(a dual-stack line)")
    if any(address in lan for lan in _LAN if lan.version == network.version):
        return f" — that is an address inside your home network (LAN), not its public one; {find}"
    if any(address in doc for doc in _DOCUMENTATION if doc.version == network.version):
        return f" — that is an example address from the documentation; {find}"
    return f" — {find}"


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _fail(key, value, "true or false")


def _int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(key, value, f"a whole number from {low} to {high}")
    return value


def parse_node(name: str, value: Any, default: NodeSpec | None = None) -> NodeSpec:
    key = f"nodes.{name}"
    default = default or DEFAULT_NODES[name]
    if not isinstance(value, Mapping):
        raise _fail(key, value, "a map with instanceType, publicIpv4 and/or volumeGb")
    unknown = sorted(set(value) - {"instanceType", "publicIpv4", "volumeGb"})
    if unknown:
        raise _fail(f"{key}.{unknown[0]}", value[unknown[0]],
                    "no such setting; a node takes instanceType, publicIpv4 and volumeGb")
    instance_type = value.get("instanceType", default.instance_type)
    if instance_type not in INSTANCE_TYPES:
        raise _fail(f"{key}.instanceType", instance_type,
                    f"one of {', '.join(INSTANCE_TYPES)}")
    public = _bool(f"{key}.publicIpv4", value.get("publicIpv4", default.public_ipv4))
    if name == "mqtt" and not public:
        raise _fail(f"{key}.publicIpv4", False,
                    "true: OpenDTU has no IPv6, so the broker needs a public IPv4")
    volume = _int(f"{key}.volumeGb", value.get("volumeGb", default.volume_gb),
                  MIN_VOLUME_GB, MAX_VOLUME_GB)
    return NodeSpec(instance_type, public, volume)


def default_nodes(home: HomeCidrs) -> dict[str, NodeSpec]:
    """The defaults for this home: Grafana without a public IPv4 when the home has IPv6."""
    grafana = DEFAULT_NODES["grafana"]
    return {**DEFAULT_NODES, "grafana": NodeSpec(grafana.instance_type, home.ipv6 is None,
                                                 grafana.volume_gb)}


def parse_layout(value: Any) -> str:
    if value in (None, ""):
        return "separate"
    if value not in LAYOUTS:
        raise _fail("layout", value, "separate (one instance per service, the default) or "
                    "compact (all four services on one instance)")
    return value


def parse_compact_node(value: Any) -> NodeSpec:
    key = f"nodes.{COMPACT}"
    if not isinstance(value, Mapping):
        raise _fail(key, value, "a map with instanceType and/or volumeGb")
    if "publicIpv4" in value:
        raise _fail(f"{key}.publicIpv4", value["publicIpv4"],
                    "no such setting in the compact layout: its one instance always has a public "
                    "IPv4 (OpenDTU speaks IPv4 only); remove it")
    unknown = sorted(set(value) - {"instanceType", "volumeGb"})
    if unknown:
        raise _fail(f"{key}.{unknown[0]}", value[unknown[0]],
                    "no such setting; the compact node takes instanceType and volumeGb")
    instance_type = value.get("instanceType", DEFAULT_COMPACT.instance_type)
    if instance_type not in INSTANCE_TYPES:
        # Only those it takes: a type from the whole list may be one refused next for its memory.
        raise _fail(f"{key}.instanceType", instance_type, "one of " + ", ".join(
            t for t in INSTANCE_TYPES if memory_mib(t) >= COMPACT_MIN_MEMORY_MIB))
    if memory_mib(instance_type) < COMPACT_MIN_MEMORY_MIB:
        raise _fail(f"{key}.instanceType", instance_type,
                    f"an instance type with at least 1 GiB of memory for all four services "
                    f"(it has {memory_mib(instance_type)} MiB), e.g. t4g.micro or t4g.small")
    volume = _int(f"{key}.volumeGb", value.get("volumeGb", DEFAULT_COMPACT.volume_gb),
                  MIN_VOLUME_GB, MAX_VOLUME_GB)
    return NodeSpec(instance_type, True, volume)


def _data_volume_moves(nodes: Mapping[str, Any], before: str, now: str) -> str:
    """The hint for an owner switching layouts with the data volume's size set: it moves to the
    other layout's key, or the volume, which moves as it is, would be asked to shrink (EBS
    volumes only grow: ModifyVolume refuses a smaller size)."""
    size = nodes[before].get("volumeGb") if isinstance(nodes.get(before), Mapping) else None
    if size is None:
        return ""
    return (f"; the data volume's size goes with it: nodes.{before}.volumeGb ({size}) is "
            f"nodes.{now}.volumeGb in this layout (a volume never shrinks)")


def parse_nodes(value: Any, home: HomeCidrs | None = None,
                layout: str = "separate") -> dict[str, NodeSpec]:
    defaults = default_nodes(home) if home else DEFAULT_NODES
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        expected = (f"a map with the {COMPACT} node's settings" if layout == COMPACT
                    else f"a map of node settings for {', '.join(NODE_NAMES)}")
        raise _fail("nodes", value, expected)
    if layout == COMPACT:
        service = next((name for name in value if name != COMPACT), None)
        if service is not None:
            raise _fail(f"nodes.{service}", value[service],
                        "no per-service entry in the compact layout (solarmonitor:layout is "
                        f"compact): nodes takes only {COMPACT}: {{instanceType, volumeGb}}"
                        + _data_volume_moves(value, "influx", COMPACT))
        return {COMPACT: parse_compact_node(value.get(COMPACT, {}))}
    if COMPACT in value:
        raise _fail(f"nodes.{COMPACT}", value[COMPACT],
                    f"per-service entries ({', '.join(NODE_NAMES)}) in the separate layout; "
                    "set solarmonitor:layout to compact to run everything on one instance"
                    + _data_volume_moves(value, COMPACT, "influx"))
    unknown = sorted(set(value) - set(NODE_NAMES))
    if unknown:
        raise _fail("nodes", unknown[0], f"a node name: one of {', '.join(NODE_NAMES)}")
    return {
        name: parse_node(name, value[name], defaults[name]) if name in value else defaults[name]
        for name in NODE_NAMES
    }


def grafana_reach(nodes: Mapping[str, NodeSpec], home: HomeCidrs,
                  raw_nodes: Any) -> tuple[str, str]:
    """How the home reaches Grafana ("ipv4", "ipv6" or "private") and why, in a sentence."""
    if COMPACT in nodes:
        return "ipv4", ("the compact layout's one instance has a public IPv4 for the broker, and "
                        "Grafana shares it")
    explicit = isinstance(raw_nodes, Mapping) and "publicIpv4" in (raw_nodes.get("grafana") or {})
    if nodes["grafana"].public_ipv4:
        return "ipv4", ("nodes.grafana.publicIpv4 is true" if explicit and home.ipv6
                        else "the home has no IPv6 prefix")
    if home.ipv6:
        return "ipv6", (f"the home has an IPv6 prefix ({home.ipv6}) and "
                        "nodes.grafana.publicIpv4 is not true")
    return "private", ("nodes.grafana.publicIpv4 is false and the home has no IPv6: Grafana is "
                       "reachable only through an SSH tunnel via the broker")


def parse_topic_prefix(value: Any) -> str:
    # OpenDTU shows the prefix with its trailing slash ("solar/"); accept it as users copy it.
    text = value[:-1] if isinstance(value, str) and value.endswith("/") else value
    # OpenDTU's base topic, trailing slash included, takes 32 characters (MQTT_MAX_TOPIC_STRLEN).
    if not isinstance(text, str) or len(text) + 1 > 32 or not _TOPIC_PREFIX.match(text):
        raise _fail("topicPrefix", value,
                    "OpenDTU's MQTT base topic: at most 31 characters (32 with the trailing "
                    "'/') of letters, digits, '_', '-' and '/' levels, no wildcards, e.g. solar")
    return text


def parse_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _fail(key, value, "a name of 1 to 64 letters, digits, '_', '-' or '.'")
    return value


def parse_retention(value: Any, key: str = "influxRetention", forever: bool = True) -> str:
    """Days as a whole number, or an InfluxDB duration such as 52w; 0 keeps data forever."""
    expected = (("0 (keep forever), " if forever else "")
                + "a number of days, or an InfluxDB duration such as 52w or 90d")
    if isinstance(value, bool):
        raise _fail(key, value, expected)
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        days = int(value)
        if days < 0 or (days == 0 and not forever):
            raise _fail(key, value, expected)
        return "0" if days == 0 else f"{days}d"
    if isinstance(value, str) and _DURATION.match(value):
        days = retention_days(value)
        if days == 0 and forever:
            return "0"
        # InfluxDB refuses a retention under an hour (influxdb v2.9.1 v1/services/meta/data.go:35
        # MinRetentionPolicyDuration, 238-240), and reads one of 0 as forever.
        if days * 24 < 1:
            raise _fail(key, value, expected + ", at least 1h")
        return value
    raise _fail(key, value, expected)


# The shortest raw retention: the daily energy task reads yesterday again from the raw values, and
# the evening before it (components/influx_node.py rewrite_days, MIN_RAW_RETENTION_HOURS).
MIN_RAW_RETENTION_HOURS = 73


def parse_raw_retention(value: Any) -> str:
    retention = parse_retention(value, "rawRetention", forever=False)
    if retention_days(retention) * 24 < MIN_RAW_RETENTION_HOURS:
        raise _fail("rawRetention", value,
                    f"at least 4 days (as a duration {MIN_RAW_RETENTION_HOURS}h): the daily "
                    "energy is read again from the raw values of yesterday and the day before")
    return retention


# The owner's day, where the stack runs: "today" on the dashboard and every daily window.
REGION_TIMEZONES = {
    "eu-central-1": "Europe/Berlin", "eu-central-2": "Europe/Zurich", "eu-west-1": "Europe/Dublin",
    "eu-west-2": "Europe/London", "eu-west-3": "Europe/Paris", "eu-north-1": "Europe/Stockholm",
    "eu-south-1": "Europe/Rome", "eu-south-2": "Europe/Madrid", "us-east-1": "America/New_York",
    "us-east-2": "America/New_York", "us-west-1": "America/Los_Angeles",
    "us-west-2": "America/Los_Angeles", "ca-central-1": "America/Toronto",
    "sa-east-1": "America/Sao_Paulo", "ap-southeast-2": "Australia/Sydney",
    "ap-northeast-1": "Asia/Tokyo", "ap-south-1": "Asia/Kolkata", "ap-southeast-1": "Asia/Singapore",
    "af-south-1": "Africa/Johannesburg"}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TIMEZONE = re.compile(r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$")


def parse_timezone(value: Any, region: str) -> str:
    if value in (None, ""):
        return REGION_TIMEZONES.get(region, "UTC")
    try:
        if isinstance(value, str) and _TIMEZONE.match(value) and ("/" in value or value == "UTC"):
            ZoneInfo(value)
            return value
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise _fail("timezone", value, "an IANA time zone such as Europe/Berlin (default: the "
                "region's, UTC where the region has none)")


def parse_price(value: Any) -> float:
    try:
        price = float(value)
    except (TypeError, ValueError):
        price = -1.0
    if isinstance(value, bool) or not 0 <= price <= 10:
        raise _fail("energyPrice", value, "the price of a kWh in your currency, from 0 to 10, "
                    "e.g. 0.32")
    return price


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value.upper()):
        raise _fail("currency", value, "an ISO 4217 currency code such as EUR, CHF or USD")
    return value.upper()


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def parse_alert_email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value):
        raise _fail("alertEmail", value, "one email address such as you@example.org (AWS sends "
                    "it a confirmation link), or nothing for no alerts")
    return value


def parse_domain(value: Any) -> str | None:
    if value in (None, ""):
        return None
    # OpenDTU's Hostname field takes 128 characters (MQTT_MAX_HOSTNAME_STRLEN): mqtt.<domain>.
    if not isinstance(value, str) or len(value) > MAX_DOMAIN or not _DOMAIN.match(value):
        raise _fail("domain", value, f"a lower-case DNS name of at most {MAX_DOMAIN} characters "
                    "(OpenDTU takes 128 for mqtt.<domain>), such as solar.example.org")
    return value


# SolixBLE's device classes that read a battery or power station (SolixBLE 3.9.0; the Pi's
# bridge keeps the same list, and a test holds both to the pinned SolixBLE).
SOLIX_MODELS = ("C300", "C300DC", "C800", "C1000", "C1000G2", "F2000", "F2600", "F3800",
                "Solarbank2", "Solarbank3", "PrimeCharger160w", "PrimeCharger250w",
                "PrimePowerBank20k", "MagGo3in1")
_BLE_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def parse_solix_devices(value: Any) -> tuple[tuple[str, str], ...]:
    """["AA:BB:CC:DD:EE:FF=Solarbank2", ...] or {"AA:BB:CC:DD:EE:FF": "Solarbank2"}."""
    expected = ('Bluetooth addresses with their SolixBLE model, e.g. '
                '["AA:BB:CC:DD:EE:FF=Solarbank2"]; models: ' + ", ".join(SOLIX_MODELS))
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, Mapping):
        value = [f"{address}={model}" for address, model in value.items()]
    if not isinstance(value, list):
        raise _fail("solixDevices", value, expected)
    devices = []
    for entry in value:
        address, _, model = str(entry).partition("=")
        address, model = address.strip(), model.strip()
        if not _BLE_ADDRESS.match(address) or model not in SOLIX_MODELS:
            raise _fail("solixDevices", entry, expected)
        devices.append((address.upper(), model))
    if len({address for address, _ in devices}) != len(devices):
        raise _fail("solixDevices", value, f"{expected} (an address twice)")
    return tuple(devices)


CLOUD_PASSWORD = "solixCloudPassword"
_SET_PASSWORD = f"pulumi config set --secret {CLOUD_PASSWORD} (it prompts for the password)"


def parse_solix_cloud(value: Any, password: Any,
                      secret_keys: Collection[str] | None = None) -> SolixCloud | None:
    """solixCloud {email, country} and solixCloudPassword, which must be a Pulumi secret when
    the engine says which keys are (`secret_keys`, full keys). Messages never show the password."""
    if value in (None, "", {}) and password in (None, ""):
        return None
    expected = ("a map with the Anker account's email and its ISO country code, e.g. "
                "{email: you@example.org, country: DE}")
    if not isinstance(value, Mapping):
        if password not in (None, ""):
            raise ConfigError(f"solarmonitor:{CLOUD_PASSWORD}: set, but solarmonitor:solixCloud "
                              "is not; set both, or remove the password")
        raise _fail("solixCloud", value, expected)
    unknown = sorted(set(value) - {"email", "country"})
    if unknown:
        hint = (f"; the password goes in {CLOUD_PASSWORD}, as a secret"
                if "password" in unknown else "")
        raise ConfigError(f"solarmonitor:solixCloud.{unknown[0]}: no such setting; solixCloud "
                          f"takes email and country{hint}")
    email = value.get("email")
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.match(email):
        raise _fail("solixCloud.email", email, "the email of the Anker account the app uses")
    country = value.get("country")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2}", country):
        # Norway's code, unquoted, is a boolean to a YAML 1.1 reader (PyYAML: make plan).
        norway = "; YAML reads an unquoted NO as false: write 'NO'" if country is False else ""
        raise _fail("solixCloud.country", country, "the account's ISO 3166 country code, such "
                    f"as DE (it picks Anker's EU or COM server){norway}")
    key = f"{NAMESPACE}:{CLOUD_PASSWORD}"
    if password in (None, ""):
        raise ConfigError(f"{key}: missing; solixCloud needs the account's password: "
                          f"{_SET_PASSWORD}")
    if secret_keys is not None and key not in secret_keys:
        raise ConfigError(f"{key}: stored in plain text in the stack's config; store it as a "
                          f"secret: {_SET_PASSWORD}")
    if not isinstance(password, str) or "\n" in password or "\r" in password \
            or password != password.strip():
        raise ConfigError(f"{key}: the Pi's INI file cannot hold it: a password on one line, "
                          "without spaces at its start or end, is expected")
    return SolixCloud(email=email, country=country.upper(), password=password)


def parse_settings(raw: Mapping[str, Any], region: Any,
                   secret_keys: Collection[str] | None = None) -> Settings:
    """Settings from the raw `solarmonitor:*` values (camelCase keys, namespace stripped)."""
    if raw.get("homeCidrs") is None:
        raise _fail("homeCidrs", None, "your home's public CIDRs; this setting is required")
    home = parse_home_cidrs(raw["homeCidrs"])
    layout = parse_layout(raw.get("layout"))
    nodes = parse_nodes(raw.get("nodes"), home, layout)
    region = parse_region(region)
    return Settings(
        region=region,
        home_cidrs=home,
        nodes=nodes,
        layout=layout,
        grafana_reach=grafana_reach(nodes, home, raw.get("nodes")),
        topic_prefix=parse_topic_prefix(raw.get("topicPrefix", "solar")),
        influx_org=parse_name("influxOrg", raw.get("influxOrg", "solar")),
        influx_bucket=parse_name("influxBucket", raw.get("influxBucket", "hoymiles")),
        influx_retention=parse_retention(raw.get("influxRetention", 0)),
        raw_retention=parse_raw_retention(raw.get("rawRetention", 30)),
        timezone=parse_timezone(raw.get("timezone"), region),
        energy_price=parse_price(raw.get("energyPrice", 0)),
        currency=parse_currency(raw.get("currency", "EUR")),
        backup_days=_int("backupDays", raw.get("backupDays", 7), 1, 365),
        mqtt_plaintext=_bool("mqttPlaintext", raw.get("mqttPlaintext", False)),
        domain=parse_domain(raw.get("domain")),
        solix_devices=parse_solix_devices(raw.get("solixDevices")),
        solix_cloud=parse_solix_cloud(raw.get("solixCloud"), raw.get(CLOUD_PASSWORD), secret_keys),
        alert_email=parse_alert_email(raw.get("alertEmail")),
        battery_alert_percent=_int("batteryAlertPercent", raw.get("batteryAlertPercent", 10), 1, 99),
        ip_guard_reserve_concurrency=_bool("ipGuardReserveConcurrency",
                                           raw.get("ipGuardReserveConcurrency", True)),
    )


NAMESPACE = "solarmonitor"
KNOWN_KEYS = ("homeCidrs", "nodes", "topicPrefix", "influxOrg", "influxBucket", "influxRetention",
              "rawRetention", "backupDays", "mqttPlaintext", "domain", "solixDevices", "timezone",
              "energyPrice", "currency", "alertEmail", "batteryAlertPercent", "solixCloud",
              CLOUD_PASSWORD, "ipGuardReserveConcurrency", "layout")
_STRUCTURED_KEYS = ("homeCidrs", "nodes", "solixDevices", "solixCloud")


def raw_from_strings(values: Mapping[str, str | None]) -> dict[str, Any]:
    """Pulumi hands config over as strings, structured values JSON-encoded; decode those."""
    raw: dict[str, Any] = {}
    for key, text in values.items():
        if text is None:
            continue
        if key in _STRUCTURED_KEYS and text.lstrip()[:1] in ("[", "{"):
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError:
                raise _fail(key, text, "a YAML list or map") from None
        else:
            raw[key] = text
    return raw


def own_keys(configured: Mapping[str, str]) -> dict[str, str]:
    """The `solarmonitor:*` values of the stack's whole config, by key without the namespace.

    A key the program does not know is refused, naming the closest known key: a typo such as
    `influxRetension` would otherwise be ignored and the default applied silently."""
    own = {}
    for full_key, text in configured.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
            hint = (f"did you mean {NAMESPACE}:{close[0]}?" if close
                    else f"the settings are {', '.join(KNOWN_KEYS)}")
            raise ConfigError(f"{full_key}: no such setting; {hint}")
        own[key] = text
    return own


def read_settings(configured: Mapping[str, str], region: Any,
                  secret_keys: Collection[str] | None = None) -> Settings:
    """Settings from the stack's whole config as Pulumi hands it to the program; `secret_keys`
    the keys it says are secrets (None: not said)."""
    return parse_settings(raw_from_strings(own_keys(configured)), region=region,
                          secret_keys=secret_keys)
