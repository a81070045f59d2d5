"""The single description of what OpenDTU (and the Pi's Solix bridge) publish, and where each
value lands in InfluxDB.

Telegraf's configuration is rendered from it, the Grafana dashboard is checked against it, and
the contract tests hold both to it. Topics are relative to the configured prefix.

Where values land:
- Inverter numbers: measurement `mqtt_consumer`, tags `serial`, `channel` (`0` = AC, `1`..`6` =
  DC inputs, `status`, `radio`) and `topic`, one field per name (`power`, `yieldday`, …). This is
  the layout grafana.com dashboard 18819 expects, so it can be imported unchanged.
- Inverter strings (names, device versions): `opendtu_inverter_info`, same tags, string fields.
- DTU numbers (`uptime`, `rssi`, `temperature`, heap): `opendtu_dtu`; DTU strings (`status`,
  `ip`, `hostname`, `bssid`): `opendtu_dtu_info`.
- Totals over all inverters (`ac/*`, `dc/*`): `opendtu_total`, tag `group` (ac or dc).
- Anker Solix batteries, from the Pi's bridge (pi/solix_topics.py): numbers in `solix`, tags
  `serial` and `model`, one field per SolixBLE property (`battery_percentage`, ...); names and
  versions in `solix_info`, same tags; the bridge's online/offline in `solix_info`, field
  `status`, without tags. No OpenDTU consumer matches a Solix topic, and no Solix consumer an
  OpenDTU topic.
Strings never share a measurement with numbers, so a numeric query never meets a string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

NUMBER, STRING = "number", "string"
INTERVAL_SECONDS = 5  # OpenDTU's default publish interval
MAX_DC_INPUTS = 6  # HMT-6T

AC_FIELDS = {"power": "W", "powerdc": "W", "voltage": "V", "current": "A", "frequency": "Hz",
             "reactivepower": "var", "temperature": "°C", "efficiency": "%", "powerfactor": "",
             "yieldday": "Wh", "yieldtotal": "kWh"}
DC_FIELDS = {"power": "W", "voltage": "V", "current": "A", "irradiation": "%", "yieldday": "Wh",
             "yieldtotal": "kWh"}
STATUS_FIELDS = {"reachable": "bool", "producing": "bool", "last_update": "s",
                 "limit_relative": "%", "limit_absolute": "W"}
RADIO_FIELDS = {"tx_request": "", "tx_re_request": "", "rx_success": "", "rx_fail_nothing": "",
                "rx_fail_partial": "", "rx_fail_corrupt": "", "rssi": "dBm"}
DEVICE_FIELDS = ("bootloaderversion", "fwbuildversion", "fwbuilddatetime", "hwpartnumber",
                 "hwversion")
DTU_NUMBERS = {"uptime": "s", "rssi": "dBm", "temperature": "°C"}
DTU_STRINGS = ("status", "ip", "hostname", "bssid")
HEAP_FIELDS = {"size": "B", "free": "B", "minfree": "B", "maxalloc": "B"}
AC_TOTAL_FIELDS = {"power": "W", "yieldday": "Wh", "yieldtotal": "kWh", "is_valid": "bool"}
DC_TOTAL_FIELDS = {"power": "W", "irradiation": "%", "is_valid": "bool"}


@dataclass(frozen=True)
class Landing:
    """Where one message lands: measurement, tags (besides `topic`) and field."""
    measurement: str
    tags: dict
    field: str


@dataclass(frozen=True)
class Consumer:
    """One Telegraf `mqtt_consumer`: the topics it subscribes, how they parse, what it makes.

    `patterns` are (topic filter relative to the prefix, names of its levels), where a level
    named "_" is dropped, "field" becomes the field name and any other name becomes a tag.
    """
    name: str
    kind: str
    measurement: str
    topics: tuple[str, ...]
    patterns: tuple[tuple[str, str], ...]


CONSUMERS = (
    Consumer("inverter_numbers", NUMBER, "mqtt_consumer",
             topics=tuple(f"+/+/{field}" for field in
                          sorted({*AC_FIELDS, *DC_FIELDS, *STATUS_FIELDS, *RADIO_FIELDS})),
             patterns=(("+/+/+", "serial/channel/field"),)),
    Consumer("inverter_strings", STRING, "opendtu_inverter_info",
             topics=("+/name", "+/device/+", "+/+/name"),
             patterns=(("+/+", "serial/field"), ("+/+/+", "serial/channel/field"))),
    Consumer("dtu_numbers", NUMBER, "opendtu_dtu",
             topics=(*(f"dtu/{f}" for f in DTU_NUMBERS), "dtu/heap/+"),
             patterns=(("dtu/+", "_/field"), ("dtu/heap/+", "_/group/field"))),
    Consumer("dtu_strings", STRING, "opendtu_dtu_info",
             topics=tuple(f"dtu/{f}" for f in DTU_STRINGS),
             patterns=(("dtu/+", "_/field"),)),
    Consumer("totals", NUMBER, "opendtu_total",
             topics=("ac/+", "dc/+"),
             patterns=(("+/+", "group/field"),)),
    Consumer("solix_numbers", NUMBER, "solix",
             topics=("solix/+/+/+",),
             patterns=(("solix/+/+/+", "_/serial/model/field"),)),
    # `make check`'s probe (tools/check.py): published the way OpenDTU publishes, written by a
    # consumer of its own into a measurement of its own, so real data is never polluted.
    Consumer("probe", NUMBER, "solarmonitor_probe",
             topics=("solarmonitor/probe",),
             patterns=(("solarmonitor/probe", "_/field"),)),
    Consumer("solix_texts", STRING, "solix_info",
             topics=("solix/+/+/text/+", "solix/bridge/status"),
             patterns=(("solix/+/+/text/+", "_/serial/model/_/field"),
                       ("solix/bridge/status", "_/_/field"))),
)

# The bridge publishes each device's latest values every this many seconds (pi/solix_bridge.py
# `interval`, written into the Pi's config by the stack).
SOLIX_INTERVAL_SECONDS = 30
# Values a Solarbank 2 reports (SolixBLE's Solarbank2), the panels' fields among them.
SOLIX_NUMBERS = ("battery_percentage", "battery_percentage_aggregate", "solar_power_in",
                 "solar_pv_1_power_in", "solar_pv_2_power_in", "solar_pv_3_power_in",
                 "solar_pv_4_power_in", "battery_charge_power", "battery_discharge_power",
                 "ac_power_out", "ac_power_out_sockets", "power_out", "house_demand",
                 "grid_to_home_power", "pv_to_grid_power", "pv_yield", "charged_energy",
                 "output_energy", "consumed_energy", "grid_import_energy", "grid_export_energy",
                 "temperature", "error_code", "battery_heating", "light_on", "home_load_preset",
                 "lowpower_input_data", "last_update")
SOLIX_TEXTS = ("software_version", "software_version_controller", "software_version_expansion",
               "grid_status", "usage_mode", "temperature_unit", "light_mode", "max_load",
               "output_cutoff_data", "input_cutoff_data")


@dataclass(frozen=True)
class Topic:
    """One topic OpenDTU publishes (relative to the prefix), its payload kind and unit."""
    topic: str
    kind: str
    unit: str
    landing: Landing


def inverter_topics(serial: str, dc_inputs: int) -> Iterator[Topic]:
    def numbers(channel: str, fields: dict) -> Iterator[Topic]:
        for field, unit in fields.items():
            yield Topic(f"{serial}/{channel}/{field}", NUMBER, unit, Landing(
                "mqtt_consumer", {"serial": serial, "channel": channel}, field))

    info = "opendtu_inverter_info"
    yield Topic(f"{serial}/name", STRING, "", Landing(info, {"serial": serial}, "name"))
    for field in DEVICE_FIELDS:
        yield Topic(f"{serial}/device/{field}", STRING, "",
                    Landing(info, {"serial": serial, "channel": "device"}, field))
    yield from numbers("radio", RADIO_FIELDS)
    yield from numbers("status", STATUS_FIELDS)
    yield from numbers("0", AC_FIELDS)
    for channel in range(1, dc_inputs + 1):
        yield from numbers(str(channel), DC_FIELDS)
        yield Topic(f"{serial}/{channel}/name", STRING, "",
                    Landing(info, {"serial": serial, "channel": str(channel)}, "name"))


def dtu_topics() -> Iterator[Topic]:
    for field, unit in DTU_NUMBERS.items():
        yield Topic(f"dtu/{field}", NUMBER, unit, Landing("opendtu_dtu", {}, field))
    for field, unit in HEAP_FIELDS.items():
        yield Topic(f"dtu/heap/{field}", NUMBER, unit,
                    Landing("opendtu_dtu", {"group": "heap"}, field))
    for field in DTU_STRINGS:
        yield Topic(f"dtu/{field}", STRING, "", Landing("opendtu_dtu_info", {}, field))
    for group, fields in (("ac", AC_TOTAL_FIELDS), ("dc", DC_TOTAL_FIELDS)):
        for field, unit in fields.items():
            yield Topic(f"{group}/{field}", NUMBER, unit,
                        Landing("opendtu_total", {"group": group}, field))


# Made by the stack's InfluxDB tasks (files/influx/tasks/), in the history bucket: every numeric
# measurement above as 5-minute means and every string one as 5-minute last values, same tags
# and fields; and the energy of each inverter's day (in the owner's time zone), robust to
# OpenDTU's glitches (files/flux/robust-energy.flux).
DERIVED = {"energy_daily": {"tags": {"serial"}, "fields": {"energy_wh", "total_kwh"}}}
MAX_INVERTER_WATTS = 3000  # above any Hoymiles inverter's output: a step beyond it is a glitch


def solix_topics(serial: str, model: str, numbers=SOLIX_NUMBERS, texts=SOLIX_TEXTS,
                 ) -> Iterator[Topic]:
    """A Solix device's topics, relative to the prefix (as pi/solix_topics.py lays them out)."""
    tags = {"serial": serial, "model": model}
    for field in numbers:
        yield Topic(f"solix/{serial}/{model}/{field}", NUMBER, "", Landing("solix", tags, field))
    for field in texts:
        yield Topic(f"solix/{serial}/{model}/text/{field}", STRING, "",
                    Landing("solix_info", tags, field))


PROBE = Topic("solarmonitor/probe", NUMBER, "", Landing("solarmonitor_probe", {}, "probe"))


def solix_bridge_topics() -> Iterator[Topic]:
    yield Topic("solix/bridge/status", STRING, "", Landing("solix_info", {}, "status"))


def all_topics(inverters: dict[str, int]) -> list[Topic]:
    """Every topic for inverters {serial: number of DC inputs}, plus the DTU's own."""
    topics = list(dtu_topics())
    for serial, dc_inputs in inverters.items():
        topics += inverter_topics(serial, dc_inputs)
    return topics


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 matching of a topic against a filter with `+` and `#` wildcards."""
    levels = topic.split("/")
    for index, part in enumerate(topic_filter.split("/")):
        if part == "#":
            return True
        if index >= len(levels) or part not in ("+", levels[index]):
            return False
    return len(topic_filter.split("/")) == len(levels)


def example_topics() -> list[Topic]:
    """One of everything the description knows: an inverter with every input, a Solarbank."""
    return [*all_topics({"1": MAX_DC_INPUTS}), *solix_topics("S1", "Solarbank2"),
            *solix_bridge_topics(), PROBE]


def fields_of(measurement: str) -> set[str]:
    """Every field name the description lands in a measurement (for dashboard checks)."""
    if measurement in DERIVED:
        return set(DERIVED[measurement]["fields"])
    example = example_topics()
    return {t.landing.field for t in example if t.landing.measurement == measurement}


def tags_of(measurement: str) -> set[str]:
    if measurement in DERIVED:
        return set(DERIVED[measurement]["tags"])
    example = example_topics()
    return {"topic"} | {tag for t in example if t.landing.measurement == measurement
                        for tag in t.landing.tags}


def measurements() -> set[str]:
    """The measurements Telegraf writes (the raw bucket's; the history has them and DERIVED)."""
    return {consumer.measurement for consumer in CONSUMERS}


def measurements_of(kind: str) -> list[str]:
    """Telegraf's measurements holding numbers (NUMBER) or strings (STRING)."""
    return sorted({c.measurement for c in CONSUMERS if c.kind == kind})


def metrics_per_day(inverters: int = 1, dc_inputs: int = MAX_DC_INPUTS) -> int:
    """Messages a day: every topic once per publish interval."""
    per_round = len(list(dtu_topics())) + inverters * len(list(inverter_topics("x", dc_inputs)))
    return per_round * 24 * 3600 // INTERVAL_SECONDS
