"""The Solix bridge's cloud source (pi/solix_cloud.py): Solarbanks read from Anker's cloud.

What runs for real: the bridge as a process, the stack's own Pi config, a real mosquitto started
from the rendered broker files (its certificate re-issued by the stack's CA for `localhost`), the
rendered Telegraf consumers (through our emulation of Telegraf, tests/telegraf_emulation.py), the
rendered dashboard's and alert rule's Flux filters (evaluated here on what Telegraf would write:
no Flux runs on this machine). Stood in for, by us: Anker's cloud (tests/anker_cloud.py), which
follows the protocol anker-solix-api documents and answers with real recorded answers
(tests/fixtures/anker-cloud/), and the Pulumi CLI for the README's `pulumi config set` lines.
"""

import configparser
import json
import logging
import math
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from anker_cloud import FIXTURES, StandInCloud
from broker import Broker, add_observer, observe, signed_by_stack_ca, write_etc
from components.config import ConfigError, parse_solix_cloud
from components.grafana_node import ALERTING_FILE, DASHBOARD_FILE
from conftest import ROOT, dev_config, service_files
from flux_contract import alert_queries, code, filter_bodies
from stack_outputs_fixture import fake_pulumi_env
from telegraf_emulation import EmulatedTelegraf
from tools.mock_engine import SECURE_STAND_IN, run_program

sys.path.insert(0, str(ROOT / "pi"))
import solix_bridge  # noqa: E402
import solix_cloud  # noqa: E402

EMAIL = "owner@example.org"
PASSWORD = "An%ker #pass;1"  # `%`, `#`, `;` and a space: what an INI reader could mangle
SITE_LIST, SCENE_INFO = solix_cloud.SITE_LIST, solix_cloud.SCENE_INFO
RECORDED = ("SB1_NoEnergy", "SB1_DischargePrio")
# What the recordings say, per Solarbank: (model, values). SB1_NoEnergy discharges 190 W at 17 %
# at night; SB1_DischargePrio idles at 75 %. Neither publishes `charging_power` (= output_power).
RECORDED_VALUES = {
    "G55HAP9LVQO2LAPM": ("A17C0", {"battery_percentage": 17, "solar_power_in": 0,
                                   "power_out": 190}),
    "9J7O8O4D8WLG8JQO": ("A17C0", {"battery_percentage": 75, "solar_power_in": 0,
                                   "power_out": 0, "battery_charge_power": 0}),
}
VARIANT_VALUES = {
    "TESTSB2A17C10001": ("A17C1", {"battery_percentage": 92, "solar_power_in": 154,
                                   "power_out": 289, "battery_charge_power": 0}),
    "TESTSB1A17C00001": ("A17C0", {"battery_percentage": 98, "solar_power_in": 0,
                                   "power_out": 75, "battery_charge_power": 0}),
    "TESTSB1A17C00002": ("A17C0", {"battery_percentage": 9, "solar_power_in": 38,
                                   "power_out": 0, "battery_charge_power": 37}),
    "TESTSB3A17C500001": ("A17C5", {"battery_percentage": 40, "solar_power_in": 495,
                                    "power_out": 290, "battery_charge_power": 205,
                                    "battery_discharge_power": 0, "solar_pv_1_power_in": 120,
                                    "solar_pv_2_power_in": 125, "solar_pv_3_power_in": 125,
                                    "solar_pv_4_power_in": 125}),
}
# Held out: other owners' systems as the cloud answered them (tests/fixtures/anker-cloud/README),
# in one account; the values written down from the recordings. Not sent: the Power Panel's site
# has no Solarbank, and the cloud does not display SB2_SM_NoPvEnergy_Invalid's values.
HELD_OUT = ("SB1_Dual_NoEnergy", "SB1_Dual_Old_schedule_NoEnergy", "SB2_SB1_Bypass",
            "SB3_SB2AC_Shelly_Smart_Complete", "Powerpanel_Tou", "SB2_SM_NoPvEnergy_Invalid")
HELD_OUT_VALUES = {
    "W8Z0AY4TF8L03KMS": ("A17C0", {"battery_percentage": 60, "solar_power_in": 0,
                                   "power_out": 120}),
    "XGR9TZEI1N9OO8BN": ("A17C0", {"battery_percentage": 64, "solar_power_in": 0,
                                   "power_out": 136}),
    "M4HZ9WIT677F634H": ("A17C0", {"battery_percentage": 28, "solar_power_in": 262,
                                   "power_out": 0}),
    "F5AAWDBMU83C3TWF": ("A17C0", {"battery_percentage": 24, "solar_power_in": 285,
                                   "power_out": 0}),
    "1CC2UKC60CE16V6T": ("A17C1", {"battery_percentage": 99, "solar_power_in": 64,
                                   "power_out": 0, "battery_charge_power": 64}),
    "B91KD2ROPQVP6MLG": ("A17C0", {"battery_percentage": 64, "solar_power_in": 38,
                                   "power_out": 0, "battery_charge_power": 37}),
    "NEBY5IUHDXTGQKC2": ("A17C0", {"battery_percentage": 59, "solar_power_in": 38,
                                   "power_out": 0, "battery_charge_power": 38}),
    "DRVAACFZ5HDHWL8Q5": ("A17C5", {"battery_percentage": 41, "solar_power_in": 0,
                                    "power_out": 0, "battery_charge_power": 0,
                                    "battery_discharge_power": 0}),
    "2HUES01SE2RX2JIF": ("A17C2", {"battery_percentage": 16, "solar_power_in": 0,
                                   "power_out": 0, "battery_charge_power": 133,
                                   "battery_discharge_power": 0}),
}
ALERT_PERCENT = 20


@pytest.fixture(scope="module")
def program():
    """The stack with the cloud source alone (no solixDevices), alerts on at 20 %."""
    return run_program(dev_config(alertEmail="owner@example.org", batteryAlertPercent=ALERT_PERCENT,
                                  solixCloud={"email": EMAIL, "country": "de"}),
                       secrets={"solarmonitor:solixCloudPassword": PASSWORD})


@pytest.fixture(scope="module")
def certificate(program):
    return signed_by_stack_ca(program)


@pytest.fixture
def broker(program, certificate, tmp_path):
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "etc", certificate)
    add_observer(etc)
    with Broker(etc) as running:
        yield running


@pytest.fixture
def cloud(request, tmp_path):
    folders = getattr(request, "param", RECORDED)
    stand_in = StandInCloud(tmp_path, *folders, email=EMAIL, password=PASSWORD, country="DE")
    yield stand_in
    stand_in.close()


def pi_config(program, broker, cloud, tmp_path, **cloud_settings) -> str:
    """The stack's piAgentConfig, pointed at the test broker and the stand-in cloud."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(program.outputs["piAgentConfig"])
    ini["mqtt"]["host"], ini["mqtt"]["port"] = "localhost", str(broker.tls_port if broker else 1)
    ini["solix_cloud"].update({"server": cloud.url, "server_public_key": cloud.public_key_hex,
                               "ca_file": str(cloud.ca_file), **cloud_settings})
    path = tmp_path / "solarmonitor.ini"
    with path.open("w") as file:
        ini.write(file)
    return str(path)


def run_bridge(config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "pi" / "solix_bridge.py"), "--config",
                           config, *args], capture_output=True, text=True, timeout=120)


def landed(program, messages) -> list[tuple[str, dict, str, object]]:
    """What the rendered Telegraf consumers make of the messages: one point each."""
    telegraf = EmulatedTelegraf(tomllib.loads(
        service_files(program)["telegraf"]["/etc/telegraf/telegraf.conf"]))
    points = []
    for message in messages:
        (consumer,) = telegraf.matching(message.topic)
        points.append(telegraf.process(consumer, message.topic, message.payload.decode()))
    return points


# --- the dashboard's and the alert's Flux filters, evaluated on the points -------------------

def predicate(body: str, serial: str | None = None):
    """A Flux filter body as a Python function of a row (a dict); `${solix_serial}` is `serial`."""
    text = " ".join(body.split()).replace('"${solix_serial}"', json.dumps(serial))
    text = re.sub(r"\br\.(\w+)", r'r.get("\1")', text)
    text = re.sub(r'(r\.get\("\w+"\)) =~ /([^/]*)/', r're.search(r"\2", str(\1))', text)
    return eval(f"lambda r: {text}", {"re": re})  # noqa: S307 - our own repository's files


def rows(points) -> list[dict]:
    return [{"_measurement": measurement, **tags, "_field": field, "_value": value}
            for measurement, tags, field, value in points]


def read_by(query: str, table: list[dict], serial: str | None = None) -> list[dict]:
    """The rows a query's filters let through (its range is "now": these rows are)."""
    bodies = filter_bodies(query)
    assert bodies, query
    return [row for row in table if all(predicate(body, serial)(row) for body in bodies)]


def owner_sees(program, points) -> tuple[dict, set[str]]:
    """{serial: {panel title: {field: latest value}}} for the battery rows, and the serials the
    battery-low rule fires for (its condition; Grafana then waits its `for`, 15 minutes)."""
    table = rows(points)
    dashboard = json.loads(service_files(program)["grafana"][DASHBOARD_FILE])
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "solix_serial")
    tag_predicate = re.search(r"predicate: \(r\) => (.*?), start:", variable["query"]).group(1)
    serials = {row["serial"] for row in table if predicate(tag_predicate)(row)}
    row = next(p for p in dashboard["panels"]
               if p["type"] == "row" and p.get("repeat") == "solix_serial")
    panels = [p for p in dashboard["panels"]
              if p["gridPos"]["y"] > row["gridPos"]["y"] and p["type"] != "row"]
    seen = {}
    for serial in serials:
        seen[serial] = {}
        for panel in panels:
            for target in panel["targets"]:
                values = {r["_field"]: r["_value"] for r in read_by(target["query"], table, serial)}
                if values:
                    seen[serial][panel["title"]] = values
    alerting = yaml.safe_load(service_files(program)["grafana"][ALERTING_FILE])
    ((rule, query),) = [(r, q) for r, q in alert_queries(alerting) if r["uid"] == "battery-low"]
    ((condition,),) = [d["model"]["conditions"] for d in rule["data"] if d["refId"] == "C"]
    assert condition["evaluator"] == {"type": "lt", "params": [ALERT_PERCENT]}
    assert "group(columns: [\"serial\"])" in code(query) and "last()" in code(query)
    last = {r["serial"]: r["_value"] for r in read_by(query, table)}  # grouped by serial, last
    return seen, {serial for serial, value in last.items() if value < ALERT_PERCENT}


# --- end to end: the recorded Solarbanks, and several of mixed generations -------------------

@pytest.mark.parametrize("cloud, expected", [(RECORDED, RECORDED_VALUES),
                                             (("variant_SB2_SB1_SB3",), VARIANT_VALUES),
                                             (HELD_OUT, HELD_OUT_VALUES)],
                         indirect=["cloud"], ids=["recorded-E1600s", "SB2+2xSB1+SB3", "held-out"])
def test_solarbanks_from_the_cloud_land_in_solix_and_show_in_the_battery_rows_and_alerts(
        program, broker, cloud, tmp_path, expected):
    observer = observe(broker)
    done = run_bridge(pi_config(program, broker, cloud, tmp_path), "--once")
    assert done.returncode == solix_bridge.EXIT_OK, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stdout + done.stderr
    assert observer.wait_for(lambda: any(m.payload == b"offline" for m in observer.messages), 5)
    # The stand-in decrypted the password the bridge sent, once, and saw nothing off-protocol.
    assert cloud.violations == [] and cloud.passwords == [PASSWORD]
    assert cloud.paths[:2] == ["/passport/login", SITE_LIST]

    values = [m for m in observer.messages if "/bridge/" not in m.topic]
    assert all(m.topic.startswith("solar/solix/") for m in values)
    points = landed(program, values)
    found = {}
    for measurement, tags, field, value in points:
        assert measurement == "solix" and isinstance(value, float)  # numbers only, as numbers
        model, numbers = found.setdefault(tags["serial"], (tags["model"], {}))
        assert model == tags["model"]
        numbers[field] = value
    assert found == expected

    seen, alerting = owner_sees(program, points)
    assert set(seen) == set(expected)  # one battery row per Solarbank
    for serial, (_, numbers) in expected.items():
        # Every value the cloud gave is on a panel of its row: its charge on the charge panel.
        shown = {field: value for panel in seen[serial].values() for field, value in panel.items()}
        assert shown == numbers, serial
        (charge,) = [p for p in seen[serial].values() if "battery_percentage" in p]
        assert charge == {"battery_percentage": numbers["battery_percentage"]}
    low = {s for s, (_, n) in expected.items() if n["battery_percentage"] < ALERT_PERCENT}
    assert alerting == low
    assert alerting  # each account has a Solarbank below 20 %: the rule fires for it alone


def test_odd_answers_are_left_out_with_a_reason_and_never_become_numbers(tmp_path):
    cloud = StandInCloud(tmp_path, "variant_odd_answers", email=EMAIL, password=PASSWORD)
    try:
        client = solix_cloud.CloudClient(cloud_settings(cloud))
        result = client.read()
    finally:
        cloud.close()
    assert cloud.violations == [] and result.errors == []
    # Only the shared Solarbank, once; not the invalid site's 0 %, not the offline one's last 55 %.
    assert [(r.serial, r.numbers) for r in result.readings] == [
        ("TESTSHARED000001", {"battery_percentage": 33, "solar_power_in": 0, "power_out": 120})]
    notes = "\n".join(result.notes)
    for reason in ("marks its Solarbank values invalid", "TESTOFFLINE00001 (A17C0) is offline",
                   "TESTHIDDEN000001 (A17C1): the cloud does not display its values",
                   "'TEST/+#/00000001' cannot be a topic", "TESTEMPTY0000001 (A17C0): no values"):
        assert reason in notes


@pytest.mark.parametrize("value", ["", "  ", True, False, None, "nan", "inf", "-inf", "1e999",
                                   10 ** 400, "75%", "abc", {"a": 1}, [1]])
def test_what_is_not_a_finite_number_is_no_number(value):
    assert solix_cloud.number(value) is None


def odd_variants(value, path=()):
    """(path, odd value) for every place below `value`: what a changed cloud might answer."""
    for odd in (True, 5, "", None, {}, [], "x"):
        yield path, odd
    children = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from odd_variants(child, (*path, key))


def test_any_odd_value_in_a_scene_is_left_out_never_a_crash_or_a_wrong_number():
    """Every recorded scene, with each part of its Solarbank info replaced in turn by a boolean,
    a number, an empty string, null, an empty map or list, or a word: the reading never fails
    (in service mode that would end the bridge) and gives finite numbers only."""
    scenes = [json.loads(path.read_text())["data"] for path in FIXTURES.glob("*/scene_*.json")]
    tried = 0
    for scene in scenes:
        for path, odd in odd_variants(scene["solarbank_info"]):
            changed = json.loads(json.dumps(scene))
            target = changed
            for key in (["solarbank_info", *path])[:-1]:
                target = target[key]
            target[(["solarbank_info", *path])[-1]] = odd
            readings, _ = solix_cloud.scene_readings("site", changed)
            tried += 1
            for reading in readings:
                assert all(type(v) in (int, float) and math.isfinite(v)
                           for v in reading.numbers.values()), (path, odd, reading)
    assert tried > 1000


def test_numbers_stay_numbers():
    assert solix_cloud.number("75") == 75 and isinstance(solix_cloud.number("75"), int)
    assert solix_cloud.number("0.00") == 0 and solix_cloud.number(" 12.5 ") == 12.5
    assert solix_cloud.number(10) == 10


def test_charging_power_is_not_published_because_it_is_the_output():
    """In the recordings a gen 1's device-list `charging_power` equals `output_power` (190 W while
    discharging with no sun): anker-solix-api's poller.py:383 says so too."""
    for folder in RECORDED:
        for scene in (FIXTURES / folder).glob("scene_*.json"):
            for entry in json.loads(scene.read_text())["data"]["solarbank_info"]["solarbank_list"]:
                assert entry["charging_power"] == entry["output_power"]
                reading, _ = solix_cloud.solarbank_reading(entry)
                assert "charging_power" not in reading.numbers
                assert reading.numbers.get("battery_charge_power") == solix_cloud.number(
                    entry.get("bat_charge_power"))


def test_the_solar_input_is_the_pv_total_where_the_cloud_gives_one():
    """Newer answers carry `pv_power` per input with a `total`; in multisystems their
    `photovoltaic_power` is wrong, and anker-solix-api takes the total (poller.py:375-377)."""
    entry = {"device_sn": "TESTSB3A17C500001", "device_pn": "A17C5", "battery_power": "40",
             "photovoltaic_power": "0", "output_power": "290",
             "pv_power": {"pv1": "120", "pv2": "125", "pv3": "125", "pv4": "125", "total": "495"}}
    reading, _ = solix_cloud.solarbank_reading(entry)
    assert reading.numbers["solar_power_in"] == 495
    assert [reading.numbers[f"solar_pv_{n}_power_in"] for n in (1, 2, 3, 4)] == [120, 125, 125, 125]
    for total in ("", None, "n/a"):  # no total: the entry's own value
        entry["pv_power"]["total"] = total
        assert solix_cloud.solarbank_reading(entry)[0].numbers["solar_power_in"] == 0


def test_values_the_cloud_stopped_updating_are_not_sent_as_now(cloud, caplog):
    client = solix_cloud.CloudClient(cloud_settings(cloud))
    assert len(client.read().readings) == 2
    site = "9e40dc42-adac-7fba-dead-a1bba7bff34e"  # SB1_NoEnergy: updated 2024-04-24 01:33:08
    stamp, _ = client.stamps[site]
    # The service says so once, not once a minute while the Solarbank sleeps: the note is the
    # same in every round (no running count of minutes in it).
    caplog.set_level(logging.INFO, logger="solix")
    poller = solix_cloud.CloudPoller(client, lambda reading: None)
    for minutes_later in (0, 1, 2):
        client.stamps[site] = (stamp, time.monotonic() - solix_cloud.STALE_SECONDS - 60
                               - 60 * minutes_later)
        result = client.read()
        poller.settle(result, None)
    assert caplog.text.count("have not changed since") == 1, caplog.text
    assert [r.serial for r in result.readings] == ["9J7O8O4D8WLG8JQO"]
    assert result.notes == [f"site {site}: its Solarbank values have not changed since "
                            "2024-04-24 01:33:08 (15 min or more); not sent until they do"]
    cloud.scenes[site]["data"]["solarbank_info"]["updated_time"] = "2024-04-24 01:34:08"
    assert len(client.read().readings) == 2  # it reports again
    # A time that says nothing ("1970-...", as anker-solix-api sees with valid values) never ages.
    cloud.scenes[site]["data"]["solarbank_info"]["updated_time"] = "1970-01-01 00:00:00"
    client.stamps[site] = ("1970-01-01 00:00:00", 0.0)
    assert len(client.read().readings) == 2


# --- the login, the token, failing answers ---------------------------------------------------

def cloud_settings(cloud: StandInCloud, **overrides) -> solix_cloud.CloudSettings:
    return solix_cloud.parse_settings({
        "email": EMAIL, "password": PASSWORD, "country": "DE", "server": cloud.url,
        "server_public_key": cloud.public_key_hex, "ca_file": str(cloud.ca_file), **overrides})


def test_the_password_is_encrypted_to_the_servers_key_as_the_cloud_decrypts_it(tmp_path):
    cloud = StandInCloud(tmp_path, *RECORDED)
    try:
        first = solix_cloud.encrypt_password(PASSWORD, cloud.public_key_hex)
        second = solix_cloud.encrypt_password(PASSWORD, cloud.public_key_hex)
        assert cloud.decrypt(*first) == cloud.decrypt(*second) == PASSWORD
        assert first[0] != second[0] and first[1] != second[1]  # a fresh key pair each login
        assert PASSWORD not in json.dumps(first)
    finally:
        cloud.close()
    # Anker's published key is a point on P-256; another key is refused before any login.
    solix_cloud.public_key(solix_cloud.ANKER_PUBLIC_KEY)
    with pytest.raises(ValueError):
        solix_cloud.public_key("04" + "00" * 64)


@pytest.mark.parametrize("country, server", [("DE", solix_cloud.EU_SERVER),
                                             ("ch", solix_cloud.EU_SERVER),
                                             ("US", solix_cloud.COM_SERVER),
                                             ("AU", solix_cloud.COM_SERVER),
                                             ("XK", solix_cloud.EU_SERVER)])
def test_the_server_follows_the_country(country, server):
    settings = solix_cloud.parse_settings({"email": EMAIL, "password": "x", "country": country})
    assert settings.server == server and settings.interval == 60
    assert settings.server_public_key == solix_cloud.ANKER_PUBLIC_KEY


@pytest.mark.parametrize("refusal", [(200, 26108), (401, 401)], ids=["code", "http-401"])
def test_a_refused_login_is_one_line_naming_the_server_and_its_message(
        program, cloud, tmp_path, refusal):
    cloud.refusal = refusal
    done = run_bridge(pi_config(program, None, cloud, tmp_path, password="wrong"), "--once")
    assert done.returncode == solix_bridge.EXIT_CLOUD
    (line,) = done.stdout.strip().splitlines()  # before the broker (port 1) is even tried
    assert line == (f"solix bridge: cloud {cloud.url} refused the login of {EMAIL}: Wrong "
                    f"account or password (code {refusal[1]}, HTTP {refusal[0]})")
    assert done.stderr == "" and "wrong" not in line.replace("Wrong", "")
    assert cloud.passwords == ["wrong"] and cloud.violations == []


@pytest.mark.parametrize("answer, said", [
    ((502, {"code": 502, "msg": "Bad Gateway"}), "Bad Gateway (code 502, HTTP 502)"),
    ((504, "<html>Gateway Timeout</html>"), "not a JSON answer (HTTP 504)"),
    ((429, {"code": 429, "msg": "Too Many Requests"}), "Too Many Requests (code 429, HTTP 429)"),
    ((200, {"code": 21105, "msg": "busy"}), "busy (code 21105, HTTP 200)"),
    ((200, {"code": 999, "msg": "server error"}), "server error (code 999, HTTP 200)"),
], ids=["502", "504-html", "429", "busy-21105", "server-999"])
def test_a_login_the_server_could_not_answer_is_not_a_refused_password(cloud, answer, said):
    """A gateway, a busy or failing server at the login says nothing about the password
    (anker-solix-api retries 502/504/522 and busy 21105 at once: session.py:698, :734; errors.py
    :95-105): the service asks again as after any cloud error, not only an hour later."""
    cloud.faults["/passport/login"] = answer
    client = solix_cloud.CloudClient(cloud_settings(cloud, interval="10"))
    with pytest.raises(solix_cloud.CloudError) as failed:
        client.read()
    assert not isinstance(failed.value, solix_cloud.LoginRefused)
    assert str(failed.value) == f"cloud {cloud.url}: the login of {EMAIL} failed: {said}"
    poller = solix_cloud.CloudPoller(client, lambda reading: None)
    assert poller.settle(None, failed.value) == 20  # backing off from the interval
    del cloud.faults["/passport/login"]
    assert len(client.read().readings) == 2


@pytest.mark.parametrize("expired", [(401, 401), (200, 26084)], ids=["http-401", "code-26084"])
def test_an_expired_token_means_one_login_more_and_the_values_still_come(cloud, expired):
    cloud.expired = expired
    client = solix_cloud.CloudClient(cloud_settings(cloud))
    assert len(client.read().readings) == 2 and client.logins == 1
    cloud.expire_tokens()
    assert len(client.read().readings) == 2 and client.logins == 2
    assert cloud.passwords == [PASSWORD, PASSWORD] and cloud.violations == []
    # Before it expires the client renews it by itself: no request is refused.
    refused = len(cloud.paths)
    client.expires_at = time.time() + 5
    assert len(client.read().readings) == 2 and client.logins == 3
    assert cloud.paths[refused] == "/passport/login"


def test_a_failing_site_list_is_one_line_and_exit_4(program, broker, cloud, tmp_path):
    cloud.faults[SITE_LIST] = (502, {"code": 502, "msg": "Bad Gateway"})
    done = run_bridge(pi_config(program, broker, cloud, tmp_path), "--once")
    assert done.returncode == solix_bridge.EXIT_CLOUD
    errors = [line for line in done.stdout.splitlines() if line.startswith("solix bridge:")]
    assert errors == [f"solix bridge: cloud {cloud.url}: {SITE_LIST} failed: Bad Gateway "
                      "(code 502, HTTP 502)"]
    assert "Traceback" not in done.stderr


def test_an_unreachable_or_garbled_cloud_is_a_cloud_error_naming_the_server(cloud):
    unreachable = solix_cloud.CloudClient(cloud_settings(cloud, server="https://localhost:1"))
    with pytest.raises(solix_cloud.CloudError, match=r"^cloud https://localhost:1 unreachable: "):
        unreachable.read()
    cloud.faults[SITE_LIST] = (302, {"code": 0, "msg": "elsewhere"})  # with a Location below
    cloud.redirect = "https://localhost:1/"
    with pytest.raises(solix_cloud.CloudError, match=r"failed: elsewhere \(code 0, HTTP 302\)"):
        solix_cloud.CloudClient(cloud_settings(cloud)).read()
    assert cloud.paths.count(SITE_LIST) == 1  # not followed
    cloud.faults[SITE_LIST] = (502, "<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(solix_cloud.CloudError) as garbled:
        solix_cloud.CloudClient(cloud_settings(cloud)).read()
    assert str(garbled.value) == (f"cloud {cloud.url}: {SITE_LIST} failed: not a JSON answer "
                                  "(HTTP 502)")
    cloud.faults[SITE_LIST] = (200, "[" * 100_000)  # JSON nested deeper than Python's decoder
    with pytest.raises(solix_cloud.CloudError, match=r"failed: not a JSON answer \(HTTP 200\)"):
        solix_cloud.CloudClient(cloud_settings(cloud)).read()


def test_a_site_whose_scene_fails_does_not_hold_back_the_others(program, broker, tmp_path):
    cloud = StandInCloud(tmp_path, *RECORDED, email=EMAIL, password=PASSWORD)
    try:
        failing = next(iter(cloud.scenes))
        cloud.scenes[failing] = {"code": 999, "msg": "server error"}
        observer = observe(broker)
        done = run_bridge(pi_config(program, broker, cloud, tmp_path), "--once")
    finally:
        cloud.close()
    assert done.returncode == solix_bridge.EXIT_CLOUD
    assert f"solix bridge: site {failing}: cloud {cloud.url}: {SCENE_INFO} failed: server " \
           "error (code 999, HTTP 200)" in done.stdout.splitlines()
    assert observer.wait_for(lambda: any(m.payload == b"offline" for m in observer.messages), 5)
    serials = {m.topic.split("/")[2] for m in observer.messages if "/bridge/" not in m.topic}
    assert len(serials) == 1 and serials < set(RECORDED_VALUES)


def test_a_site_that_keeps_failing_does_not_slow_down_the_others(cloud, caplog):
    """A shared site the account lost, say: the cloud answers for the other site, so that one
    is read every interval as before, and the failing one is named once."""
    caplog.set_level(logging.INFO, logger="solix")
    failing = next(iter(cloud.scenes))
    cloud.scenes[failing] = {"code": 160003, "msg": "no access permission"}
    client = solix_cloud.CloudClient(cloud_settings(cloud, interval="10"))
    published = []
    poller = solix_cloud.CloudPoller(client, published.append)
    waits = [poller.settle(client.read(), None) for _ in range(3)]
    assert waits == [10, 10, 10] and len(published) == 3
    assert caplog.text.count("no access permission") == 1
    # When no site answers, the cloud is failing: then it backs off.
    cloud.scenes = {site: {"code": 999, "msg": "server error"} for site in cloud.scenes}
    assert poller.settle(client.read(), None) == 20


@pytest.mark.parametrize("folder", ["MI80_Standalone", "Powerpanel_Tou"])
def test_an_account_without_solarbanks_gives_exit_1(program, broker, tmp_path, folder):
    """Recorded: an account whose one device is in no site (an empty site list), and a site with
    a Power Panel and no Solarbank. An empty list is also what the server of the other region
    answers (session.py:103): the bridge says which setting to check."""
    cloud = StandInCloud(tmp_path, folder, email=EMAIL, password=PASSWORD)
    try:
        done = run_bridge(pi_config(program, broker, cloud, tmp_path), "--once")
    finally:
        cloud.close()
    assert done.returncode == solix_bridge.EXIT_DEVICE
    assert f"no Solarbank values in {EMAIL}'s sites" in done.stdout
    hint = (f"solix bridge: cloud {cloud.url} lists no site (system) for {EMAIL}: share one "
            "with this account in the Anker app, or check its country (solixCloud.country): "
            "the other region's server lists none")
    assert (hint in done.stdout.splitlines()) == (folder == "MI80_Standalone"), done.stdout


# --- service mode --------------------------------------------------------------------------

def test_the_service_keeps_the_broker_side_logs_once_backs_off_and_logs_in_again(
        program, broker, cloud, tmp_path):
    cloud.faults[SITE_LIST] = (502, {"code": 502, "msg": "Bad Gateway"})
    observer = observe(broker)
    log = tmp_path / "bridge.log"
    with log.open("w") as out:
        bridge = subprocess.Popen([sys.executable, str(ROOT / "pi" / "solix_bridge.py"),
                                   "--config", pi_config(program, broker, cloud, tmp_path,
                                                         interval="0.1")],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        def until(condition, seconds=15.0):
            deadline = time.monotonic() + seconds
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.05)
            return condition()

        def asked(path):
            return cloud.paths.count(path)

        started = time.monotonic()
        assert until(lambda: asked(SITE_LIST) >= 4)  # backing off: 0.2, 0.4, 0.8 s apart
        assert time.monotonic() - started >= 1.4
        assert bridge.poll() is None
        statuses = [m.payload for m in observer.messages if m.topic.endswith("bridge/status")]
        assert statuses == [b"online"] and len(observer.messages) == 1  # alive, nothing else
        del cloud.faults[SITE_LIST]
        assert until(lambda: any("/power_out" in m.topic for m in observer.messages))
        cloud.expire_tokens()
        before = len(observer.messages)
        assert until(lambda: cloud.passwords.count(PASSWORD) == 2
                     and len(observer.messages) > before + 5)
    finally:
        bridge.send_signal(signal.SIGINT)
        bridge.wait(timeout=30)
    text = log.read_text()
    assert text.count("Bad Gateway") == 1, text  # once, not once per try
    assert text.count("read again without problems") == 1
    assert text.count("rejected the token") == 1 and "Traceback" not in text
    assert observer.wait_for(lambda: observer.messages[-1].payload == b"offline", 5)
    assert cloud.violations == []


def test_the_waits_double_to_a_cap_and_a_refused_login_waits_an_hour(cloud, caplog):
    caplog.set_level(logging.INFO, logger="solix")
    client = solix_cloud.CloudClient(cloud_settings(cloud, interval="10"))
    published = []
    poller = solix_cloud.CloudPoller(client, published.append)
    fine = client.read()
    assert poller.settle(fine, None) == 10 and len(published) == 2
    failure = solix_cloud.CloudError("cloud x: site list failed")
    waits = [poller.settle(None, failure) for _ in range(8)]
    assert waits == [20, 40, 80, 160, 320, 640, 900, 900]
    assert caplog.text.count("site list failed") == 1
    assert poller.settle(fine, None) == 10 and "read again without problems" in caplog.text
    refused = solix_cloud.LoginRefused("cloud x refused the login")
    assert poller.settle(None, refused) == solix_cloud.LOGIN_RETRY_SECONDS == 3600


# --- Bluetooth and the cloud in one bridge --------------------------------------------------

SB2_SERIAL = "APCGQ80E00000001"  # anker-ble-emulator's A17C1 telemetry (devices/a17c1.py)


@pytest.mark.parametrize("cloud", [("SB2_SB1_Bypass",)], indirect=True)
def test_one_bridge_reads_bluetooth_and_the_cloud_and_each_solarbank_once(
        program, broker, cloud, tmp_path, monkeypatch, caplog):
    """The recorded site of a Solarbank 2 with two E1600; the Solarbank 2 is also read over
    Bluetooth (emulated). It lands once, as Bluetooth reads it: the cloud's copy (model tag
    A17C1 instead of Solarbank2) would make two series of one battery. Its Bluetooth serial is
    the cloud's device_sn: both are the device's `a2` value (SolixBLE
    Solarbank2.serial_number; anker-solix-api mqttmap.py:1875 names it device_sn), so the
    recorded device_sn becomes the emulated device's (its recorded telemetry's a2)."""
    anker = pytest.importorskip("anker_ble_emulator")
    from test_solix_bridge import DEVICE, bridge_once
    config = Path(pi_config(program, broker, cloud, tmp_path))
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(config)
    ini["solix"]["devices"] = f"{DEVICE}=Solarbank2"
    with config.open("w") as file:
        ini.write(file)
    observer = observe(broker)
    caplog.set_level(logging.INFO, logger="solix")
    site = "f3edf80e-0c97-1eff-d675-ec87ec9b1b36"
    (entry,) = [e for e in cloud.scenes[site]["data"]["solarbank_info"]["solarbank_list"]
                if e["device_pn"] == "A17C1"]
    entry["device_sn"] = SB2_SERIAL
    solarbank2 = anker.A17C1()
    assert bridge_once(str(config), solarbank2, monkeypatch) == solix_bridge.EXIT_OK
    assert observer.wait_for(lambda: any(m.payload == b"offline" for m in observer.messages), 5)
    landed_as = {tuple(m.topic.split("/")[2:4]) for m in observer.messages
                 if "/bridge/" not in m.topic}
    assert landed_as == {(SB2_SERIAL, "Solarbank2"), ("B91KD2ROPQVP6MLG", "A17C0"),
                         ("NEBY5IUHDXTGQKC2", "A17C0")}
    assert f"{SB2_SERIAL} (A17C1) is read over Bluetooth: its cloud values are left out" \
        in caplog.text


# --- the bridge's config --------------------------------------------------------------------

def ini_text(cloud_lines: str) -> str:
    return ("[mqtt]\nhost = localhost\nport = 1\nusername = solix\npassword = pw\nca =\n"
            "    x\n\n[solix_cloud]\n" + cloud_lines)


def test_the_password_is_read_as_written_percent_and_all():
    settings = solix_bridge.load_settings_from_text(ini_text(
        f"email = {EMAIL}\npassword = {PASSWORD}\ncountry = DE\n"))
    assert settings.cloud.password == PASSWORD and settings.devices == []
    assert PASSWORD not in repr(settings.cloud)


def test_a_non_ascii_password_is_read_as_utf_8_whatever_the_locale(tmp_path):
    """The stack writes the INI in UTF-8; a Pi whose locale is not UTF-8 (here: plain ASCII,
    Python's C locale without coercion) must still read `Pässwort€` as it is, not refuse its
    config. The login then fails for the unreachable server (exit 4), not for the file (3)."""
    path = tmp_path / "bridge.ini"
    path.write_bytes(ini_text(f"email = {EMAIL}\npassword = Pässwort€\ncountry = DE\n"
                              "server = https://localhost:1\n").encode())
    done = subprocess.run([sys.executable, str(ROOT / "pi" / "solix_bridge.py"), "--config",
                           str(path), "--once"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONUTF8": "0",
                               "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == solix_bridge.EXIT_CLOUD, done.stdout + done.stderr
    assert "unreachable" in done.stdout and "Traceback" not in done.stderr


def test_the_ip_agent_reads_the_same_file_with_a_percent_in_the_cloud_password(program, tmp_path):
    import ip_agent
    path = tmp_path / "pi.ini"
    path.write_text(program.outputs["piAgentConfig"])
    assert ip_agent.load_settings(str(path)).function_name


@pytest.mark.parametrize("lines, message", [
    ("password = x\ncountry = DE\n", "[solix_cloud] email: got ''"),
    (f"email = {EMAIL}\ncountry = DE\n", "[solix_cloud] password: missing"),
    (f"email = {EMAIL}\npassword = x\ncountry = Germany\n", "[solix_cloud] country: got 'Germany'"),
    (f"email = {EMAIL}\npassword = x\ncountry = DE\ninterval = 0\n", "[solix_cloud] interval"),
    (f"email = {EMAIL}\npassword = x\ncountry = DE\ninterval = nan\n", "[solix_cloud] interval"),
    (f"email = {EMAIL}\npassword = x\ncountry = DE\nserver = http://x.org\n",
     "[solix_cloud] server: got 'http://x.org'"),
    (f"email = {EMAIL}\npassword = x\ncountry = DE\nserver_public_key = 04ab\n",
     "[solix_cloud] server_public_key: not an uncompressed P-256 point"),
    (f"email = {EMAIL}\npassword = x\ncountry = DE\nca_file = /nonexistent\n",
     "[solix_cloud] ca_file: /nonexistent: not a readable CA bundle"),
])
def test_a_bad_cloud_setting_is_one_line_and_exit_3(tmp_path, lines, message):
    path = tmp_path / "bridge.ini"
    path.write_text(ini_text(lines))
    done = run_bridge(str(path), "--once")
    assert done.returncode == solix_bridge.EXIT_CONFIG
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith(f"solix bridge: {path}: {message}"), line
    assert "Traceback" not in done.stderr


def test_an_interval_may_be_any_positive_number_of_seconds():
    assert solix_cloud.parse_settings({"email": EMAIL, "password": "x", "country": "DE",
                                       "interval": "0.5"}).interval == 0.5


# --- the stack's side ------------------------------------------------------------------------

def test_the_pi_config_carries_the_account_and_the_password_only_as_a_secret(program):
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(program.outputs["piAgentConfig"])
    assert dict(ini["solix_cloud"]) == {"email": EMAIL, "password": PASSWORD, "country": "DE"}
    assert ini["solix"]["devices"] == "none"
    assert "piAgentConfig" in program.secret_outputs
    # Nowhere else: no other output, no resource input holds the password.
    others = {k: v for k, v in program.outputs.items() if k != "piAgentConfig"}
    assert PASSWORD not in json.dumps(others, default=str)
    assert all(PASSWORD not in json.dumps(r.raw_inputs, default=str) for r in program.resources)
    # The bridge reads it as the stack wrote it.
    settings = solix_bridge.load_settings_from_text(program.outputs["piAgentConfig"])
    assert (settings.cloud.email, settings.cloud.password, settings.cloud.country,
            settings.cloud.server) == (EMAIL, PASSWORD, "DE", solix_cloud.EU_SERVER)


def test_the_cloud_alone_turns_the_battery_alerts_on(program):
    alerting = yaml.safe_load(service_files(program)["grafana"][ALERTING_FILE])
    uids = {rule["uid"] for rule in alerting["groups"][0]["rules"]}
    assert {"battery-low", "bridge-offline"} <= uids


def test_without_the_cloud_there_is_no_cloud_section(dev_run):
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(dev_run.outputs["piAgentConfig"])
    assert not ini.has_section("solix_cloud")
    assert solix_bridge.load_settings_from_text(dev_run.outputs["piAgentConfig"]).cloud is None


@pytest.mark.parametrize("cloud_value, password, secret, message", [
    ({"email": EMAIL}, "S3cretPW", True, "solixCloud.country: got None"),
    # Norway written unquoted in the stack file: YAML 1.1 (PyYAML, make plan) reads NO as false.
    ({"email": EMAIL, "country": False}, "S3cretPW", True,
     "solixCloud.country: got False; expected the account's ISO 3166 country code, such as DE "
     "(it picks Anker's EU or COM server); YAML reads an unquoted NO as false: write 'NO'"),
    ({"email": "owner", "country": "DE"}, "S3cretPW", True, "solixCloud.email: got 'owner'"),
    ({"email": EMAIL, "country": "DE", "password": "S3cretPW"}, None, True,
     "solixCloud.password: no such setting"),
    ({"email": EMAIL, "country": "DE"}, None, True, "solixCloudPassword: missing"),
    (None, "S3cretPW", True, "solixCloudPassword: set, but solarmonitor:solixCloud is not"),
    ({"email": EMAIL, "country": "DE"}, "S3cretPW", False, "stored in plain text"),
    ({"email": EMAIL, "country": "DE"}, " S3cretPW", True, "cannot hold it"),
    ({"email": EMAIL, "country": "DE"}, "S3cret\nPW", True, "cannot hold it"),
])
def test_bad_cloud_config_is_refused_without_showing_the_password(
        cloud_value, password, secret, message):
    keys = ["solarmonitor:solixCloudPassword"] if secret else []
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        parse_solix_cloud(cloud_value, password, keys)
    assert "S3cret" not in str(refused.value)


def test_a_plain_text_password_stops_the_program_before_any_resource(run):
    from pulumi import RunError
    with pytest.raises(RunError, match="stored in plain text"):
        run(solixCloud={"email": EMAIL, "country": "DE"}, solixCloudPassword="plain-pw")


# --- the README's commands, with the fake Pulumi CLI's `config set` (tests/fakes/pulumi) -------


def readme_blocks() -> list[list[str]]:
    """The README's fenced code blocks, as lists of lines."""
    blocks, current = [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.lstrip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_cloud_commands() -> list[str]:
    (block,) = [b for b in readme_blocks() if any("solixCloud.email" in line for line in b)]
    assert all(line.startswith("pulumi config set") for line in block), block
    return [line.split("#")[0].strip() for line in block]


def test_the_readmes_config_commands_make_a_stack_the_program_takes(tmp_path, capsys):
    commands = readme_cloud_commands()
    assert len(commands) == 3 and any("--secret solixCloudPassword" in c for c in commands)
    env = fake_pulumi_env(tmp_path, {}, [])
    # The fake's `config set` writes YAML with PyYAML: this interpreter's, whatever python3 is.
    env["PATH"] = f"{tmp_path / 'fake-bin'}:{Path(sys.executable).parent}:{env['PATH']}"
    (tmp_path / "Pulumi.dev.yaml").write_text((ROOT / "Pulumi.example.yaml").read_text())
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, input=PASSWORD + "\n", text=True,
                              capture_output=True, timeout=30, env=env)
        assert done.returncode == 0, done.stderr
    calls = (tmp_path / "pulumi-calls").read_text().splitlines()
    assert calls == [command.split(" ", 1)[1] for command in commands]
    config = yaml.safe_load((tmp_path / "Pulumi.dev.yaml").read_text())["config"]
    assert config["solarmonitor:solixCloud"] == {"email": "you@example.org", "country": "DE"}
    assert set(config["solarmonitor:solixCloudPassword"]) == {"secure"}
    assert PASSWORD not in (tmp_path / "Pulumi.dev.yaml").read_text()
    # The program takes that file (offline, the encrypted password is a stand-in) ...
    ran = run_program(config)
    assert f"password = {SECURE_STAND_IN}" in ran.outputs["piAgentConfig"]
    # ... and make plan refuses it in one line when the password was set without --secret.
    config["solarmonitor:solixCloudPassword"] = PASSWORD
    (tmp_path / "Pulumi.plain.yaml").write_text(yaml.safe_dump({"config": config}))
    from tools import plan
    assert plan.main(["--config", str(tmp_path / "Pulumi.plain.yaml"),
                      "--out", str(tmp_path / "plan")]) == 2
    said = capsys.readouterr()
    assert PASSWORD not in said.out + said.err and not (tmp_path / "plan").exists()
    assert said.err == ("error: solarmonitor:solixCloudPassword: stored in plain text in the "
                        "stack's config; store it as a secret: pulumi config set --secret "
                        "solixCloudPassword (it prompts for the password)\n")


def test_the_installer_turns_the_bridge_on_for_a_cloud_only_config(program, tmp_path):
    """The installer's own decision (pi/install_needs.py, run on the stack's cloud-only config):
    no devices, but a cloud account, so the bridge is installed and enabled, without BlueZ.
    tests/test_pi_install.py installs and runs the bridge, solix_cloud.py and all, for real."""
    config = tmp_path / "pi.ini"
    config.write_text(program.outputs["piAgentConfig"])
    done = subprocess.run([sys.executable, str(ROOT / "pi" / "install_needs.py"), str(config)],
                          capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.split() == ["bridge"]
