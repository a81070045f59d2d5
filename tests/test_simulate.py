"""make simulate: the stream covers every topic of the data description for N inverters and M
inputs and passes the Telegraf contract (our emulation of Telegraf, tests/telegraf_emulation.py);
the sun and the yields behave; and the command publishes to a real mosquitto started from the
rendered broker files, over TLS with openDtuSettings."""

import datetime as dt
import json
import subprocess
import sys
import tomllib

import pytest

from broker import Broker, Client, signed_by_stack_ca, telegraf_login, write_etc
from components.opendtu_data import NUMBER, all_topics
from components.telegraf_config import telegraf_conf
from conftest import ROOT, service_files
from telegraf_emulation import EmulatedTelegraf
from tools.simulate import Simulation

BERLIN = "Europe/Berlin"
NOON = dt.datetime(2026, 6, 21, 11, 0, tzinfo=dt.timezone.utc)   # 13:00 in Berlin (summer time)
NIGHT = dt.datetime(2026, 6, 21, 23, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("inverters, inputs", [(1, 4), (2, 2), (3, 6)])
def test_a_daytime_round_covers_every_topic_once(inverters, inputs):
    simulation = Simulation(inverters, inputs, BERLIN)
    topics = [topic for topic, _ in simulation.messages(NOON)]
    expected = all_topics({serial: inputs for serial in simulation.serials})
    assert sorted(topics) == sorted(t.topic for t in expected)
    assert len(simulation.serials) == len(set(simulation.serials)) == inverters


def test_at_night_the_inverters_send_status_but_no_values():
    simulation = Simulation(1, 4, BERLIN)
    night = dict(simulation.messages(NIGHT))
    serial = simulation.serials[0]
    assert night[f"{serial}/status/reachable"] == "0" and night[f"{serial}/status/producing"] == "0"
    assert not any(topic.startswith(f"{serial}/0/") or topic.startswith(f"{serial}/1/")
                   for topic in night)
    assert "dtu/uptime" in night and night["ac/power"] == "0.0"


def test_the_stream_passes_the_telegraf_contract():
    telegraf = EmulatedTelegraf(tomllib.loads(telegraf_conf(
        "solar", "ssl://10.42.0.10:8884", "https://10.42.1.12:8086", "solar", "hoymiles")))
    simulation = Simulation(2, 4, BERLIN)
    kinds = {t.topic: t for t in all_topics({s: 4 for s in simulation.serials})}
    for topic, payload in simulation.messages(NOON):
        full = f"solar/{topic}"
        (consumer,) = telegraf.matching(full)
        measurement, tags, field, value = telegraf.process(consumer, full, payload)
        expected = kinds[topic]
        assert (measurement, field) == (expected.landing.measurement, expected.landing.field)
        assert tags == {"topic": full, **expected.landing.tags}
        assert isinstance(value, float if expected.kind == NUMBER else str), topic


def test_power_follows_the_sun_of_the_owners_time_zone():
    simulation = Simulation(1, 4, BERLIN)
    power = {hour: float(dict(simulation.messages(
        dt.datetime(2026, 6, 21, hour, 0, tzinfo=dt.timezone.utc)))["ac/power"]) for hour in range(24)}
    assert max(power, key=power.get) == 11  # solar noon: 12:00 standard time, 13:00 summer time
    assert power[1] == power[21] == 0.0 and power[11] > 1000
    winter = float(dict(simulation.messages(dt.datetime(2026, 12, 21, 11, 0, tzinfo=dt.timezone.utc)))["ac/power"])
    assert 0 < winter < power[11] / 2


def test_yields_grow_and_the_day_starts_at_the_owners_midnight():
    simulation = Simulation(1, 4, BERLIN)
    serial = simulation.serials[0]
    moments = [dt.datetime(2026, 6, 21, 12, 0, tzinfo=dt.timezone.utc) + dt.timedelta(hours=h)
               for h in range(0, 30, 2)]
    totals, days = [], []
    for moment in moments:
        values = dict(simulation.messages(moment))
        if f"{serial}/0/yieldtotal" in values:
            totals.append(float(values[f"{serial}/0/yieldtotal"]))
            days.append((moment.astimezone(dt.timezone(dt.timedelta(hours=2))).date(),
                         float(values[f"{serial}/0/yieldday"])))
        assert float(values["ac/yieldtotal"]) >= (totals[-2] if len(totals) > 1 else 0)
    assert totals == sorted(totals) and totals[-1] > totals[0]
    first_of_next_day = next(wh for day, wh in days if day == dt.date(2026, 6, 22))
    assert first_of_next_day < days[0][1]  # yieldday started again at midnight in Berlin


@pytest.fixture
def program(dev_run):
    """The example stack (read only: its rendered broker files, outputs and CA)."""
    return dev_run


@pytest.fixture
def broker(program, tmp_path):
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "rendered")
    key, cert = signed_by_stack_ca(program)
    (etc / "certs" / "server.key").write_bytes(key)
    (etc / "certs" / "server.crt").write_bytes(cert)
    with Broker(etc) as running:
        running.program = program
        yield running


def listen(broker, topic_filter: str) -> Client:
    """A Telegraf-like subscriber on the broker's VPC listener, subscribed and granted."""
    client = Client(broker, *telegraf_login(broker.program), port=broker.internal_port)
    assert client.connect()
    client.client.subscribe(topic_filter, qos=2)
    assert client.wait_for(lambda: client.granted)
    return client


def test_make_simulate_once_publishes_a_round_as_opendtu_does(broker, tmp_path):
    settings = [{**e, "value": "localhost"} if e["field"] == "Hostname" else
                {**e, "value": broker.tls_port} if e["field"] == "Port" else e
                for e in broker.program.outputs["openDtuSettings"]]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"openDtuSettings": settings}))
    listener = listen(broker, "solar/#")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "simulate.py"), "--once",
                           "--inverters", "2", "--inputs", "3", "--outputs", str(outputs),
                           "--timezone", BERLIN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expected = {f"solar/{t}" for t, _ in Simulation(2, 3, BERLIN).messages()} | {"solar/dtu/status"}
    assert listener.wait_for(lambda: expected <= {m.topic for m in listener.messages}, timeout=10)
    listener.close()
    assert all(m.qos == 0 for m in listener.messages)
    # openDtuSettings: Retain off, so a new subscription gets nothing from before it.
    late = listen(broker, "solar/#")
    assert not late.wait_for(lambda: late.messages, timeout=1)
    late.close()
    assert {m.payload for m in listener.messages if m.topic == "solar/dtu/status"} == {b"online"}
    assert "published" in done.stdout


def test_the_will_says_offline_when_the_simulator_drops(broker):
    from tools.simulate import connect
    settings = {e["field"]: e["value"] for e in broker.program.outputs["openDtuSettings"]}
    settings.update({"Hostname": "localhost", "Port": broker.tls_port})
    listener = listen(broker, "solar/dtu/status")
    client = connect(settings)
    client.loop_stop()
    client.socket().close()  # a power cut: no DISCONNECT, the broker sends the will
    assert listener.wait_for(lambda: any(m.payload == b"offline" for m in listener.messages),
                             timeout=10)
    listener.close()
