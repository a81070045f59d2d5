"""Contract tests: every OpenDTU topic, through the rendered Telegraf file, lands where the data
description says (Telegraf's behaviour emulated on the parsed TOML: tests/telegraf_emulation.py)."""

import re
import tomllib

import pytest

from components.opendtu_data import (
    CONSUMERS, NUMBER, PROBE, STRING, all_topics, fields_of, measurements, metrics_per_day,
    solix_bridge_topics, solix_topics,
)
from components.telegraf_config import telegraf_conf
from telegraf_emulation import EmulatedTelegraf

INVERTERS = {"116190745467": 4, "114184020874": 6}  # an HM-1500 and an HMT-6T
# Everything the stack consumes: two inverters, a Solarbank 2 through the Pi's bridge.
TOPICS = [*all_topics(INVERTERS), *solix_topics("APCGQ80E00000001", "Solarbank2"),
          *solix_bridge_topics(), PROBE]
BROKER, INFLUX = "ssl://10.42.0.10:8884", "https://10.42.1.12:8086"


def payload(topic: str, kind: str) -> str:
    """A realistic payload for a topic (relative to the prefix), as OpenDTU sends it."""
    last = topic.rsplit("/", 1)[-1]
    if topic == PROBE.topic:
        return "1764171234.5"
    if topic.startswith("solix/"):
        return "48" if kind == NUMBER else "CONNECTING"
    if kind == NUMBER:
        return {"reachable": "1", "producing": "0", "is_valid": "1", "last_update": "1732443000",
                "uptime": "86400", "rssi": "-67", "yieldtotal": "1234.567"}.get(last, "231.4")
    return {"status": "online", "ip": "192.168.1.5", "hostname": "OpenDTU-1A2B3C",
            "bssid": "AA:BB:CC:DD:EE:FF", "hwpartnumber": "269553665", "hwversion": "01.00",
            "fwbuildversion": "10007", "fwbuilddatetime": "2023-11-02 10:45:00",
            "bootloaderversion": "0.1.0"}.get(last, "HM-800" if topic.count("/") == 1 else "Panel Ost")


@pytest.fixture(scope="module", params=["solar", "home/pv"])
def setup(request):
    text = telegraf_conf(request.param, BROKER, INFLUX, "solar", "hoymiles")
    return request.param, text, EmulatedTelegraf(tomllib.loads(text))


def test_every_topic_is_matched_by_exactly_one_consumer(setup):
    prefix, _, telegraf = setup
    for topic in TOPICS:
        matched = telegraf.matching(f"{prefix}/{topic.topic}")
        assert len(matched) == 1, f"{topic.topic}: {[c['client_id'] for c in matched]}"


def test_strings_never_reach_a_numeric_consumer(setup):
    prefix, _, telegraf = setup
    for topic in TOPICS:
        (consumer,) = telegraf.matching(f"{prefix}/{topic.topic}")
        expected = "string" if topic.kind == STRING else "float"
        assert consumer["data_type"] == expected, topic.topic


def test_each_message_lands_as_described(setup):
    prefix, _, telegraf = setup
    for topic in TOPICS:
        full = f"{prefix}/{topic.topic}"
        (consumer,) = telegraf.matching(full)
        measurement, tags, field, value = telegraf.process(consumer, full, payload(topic.topic, topic.kind))
        assert measurement == topic.landing.measurement, topic.topic
        assert tags == {"topic": full, **topic.landing.tags}, topic.topic
        assert field == topic.landing.field, topic.topic
        assert isinstance(value, float if topic.kind == NUMBER else str)


def test_inverter_values_match_dashboard_18819(setup):
    prefix, _, telegraf = setup
    full = f"{prefix}/116190745467/0/power"
    (consumer,) = telegraf.matching(full)
    assert telegraf.process(consumer, full, "231.4") == (
        "mqtt_consumer", {"topic": full, "serial": "116190745467", "channel": "0"}, "power", 231.4)
    status = f"{prefix}/116190745467/status/limit_relative"
    (consumer,) = telegraf.matching(status)
    assert telegraf.process(consumer, status, "100")[1]["channel"] == "status"


def test_the_dc_input_count_covers_an_hmt_6t():
    topics = {t.topic for t in all_topics({"1": 6})}
    assert {f"1/{n}/power" for n in range(1, 7)} <= topics and "1/6/name" in topics


def test_no_string_field_shares_a_measurement_with_numbers():
    kinds = {}
    for topic in TOPICS:
        kinds.setdefault(topic.landing.measurement, set()).add(topic.kind)
    assert all(len(k) == 1 for k in kinds.values()), kinds
    assert "power" in fields_of("mqtt_consumer") and measurements() == set(kinds)


def test_rendered_file_is_toml_with_qos_clean_sessions_and_tls(setup):
    prefix, text, telegraf = setup
    conf = tomllib.loads(text)
    client_ids = [c["client_id"] for c in telegraf.consumers]
    assert len(set(client_ids)) == len(client_ids) == len(CONSUMERS)
    for consumer in telegraf.consumers:
        assert consumer["qos"] == 1 and consumer["persistent_session"] is False
        assert consumer["servers"] == [BROKER]
        assert consumer["tls_ca"] == "/etc/telegraf/solarmonitor-ca.crt"
        # The broker makes the username the client id: they must be the same.
        assert consumer["username"] == consumer["client_id"]
        assert consumer["password"] == "${MQTT_PASSWORD}"
        for topic_filter in consumer["topics"]:
            assert topic_filter.startswith(prefix + "/")
    output = conf["outputs"]["influxdb_v2"][0]
    assert output["token"] == "${INFLUX_TOKEN}" and output["urls"] == [INFLUX]
    assert output["tls_ca"] == "/etc/telegraf/solarmonitor-ca.crt"
    assert (output["organization"], output["bucket"]) == ("solar", "hoymiles")
    # No metric_buffer_limit: with the disk buffer it would suggest a bound that does not exist.
    assert conf["agent"]["buffer_strategy"] == "disk" and "metric_buffer_limit" not in conf["agent"]
    assert conf["processors"]["pivot"][0]["namepass"]


def test_no_literal_secret_in_the_rendered_file(dev_run):
    from conftest import service_files
    files = service_files(dev_run)["telegraf"]
    conf = files["/etc/telegraf/telegraf.conf"]
    tomllib.loads(conf)
    env = files["/etc/default/telegraf"]
    secrets = dict(line.split("=", 1) for line in env.splitlines() if re.match(r"^[A-Z_]+=", line))
    assert set(secrets) == {"MQTT_PASSWORD", "INFLUX_TOKEN"}
    for value in secrets.values():
        assert value and value not in conf
    assert dev_run.outputs["influxAdminToken"] not in conf


def test_the_disk_buffer_lasts_what_the_readme_and_the_configuration_say(dev_run, layout):
    """Telegraf's disk buffer has no limit of its own: how long it lasts is the root volume's free
    space over the values a day (components/telegraf_config.py); the README and the rendered
    configuration say the same. On the compact layout's node the other services and the swap
    file take their part of the root volume first."""
    from components.memory import SWAP_MIB
    from components.telegraf_config import (BUFFER_BYTES_PER_METRIC, SHARED_HOST_GIB, SYSTEM_GIB,
                                            buffer_hours)
    from conftest import ROOT, service_files
    reserved = SHARED_HOST_GIB + SWAP_MIB / 1024 if layout == "compact" else 0
    design_days = buffer_hours(8, reserved_gib=reserved) / 24
    one_days = buffer_hours(8, inverters=1, dc_inputs=4, reserved_gib=reserved) / 24
    assert design_days == pytest.approx((8 - SYSTEM_GIB - reserved) * 2**30 / (
        metrics_per_day(4, 6) * BUFFER_BYTES_PER_METRIC))
    readme = " ".join((ROOT / "README.md").read_text().split())
    said = "on the compact node " if layout == "compact" else ""
    assert f"{said}about {design_days:.1f} days at the design load" in readme
    assert f"about {one_days:.0f} days for one inverter with 4 inputs" in readme
    conf = " ".join(service_files(dev_run)["telegraf"]["/etc/telegraf/telegraf.conf"]
                    .replace("#", " ").split())
    assert f"about {design_days:.1f} days" in conf and f"about {one_days:.0f} days" in conf
