"""The data path through a real mosquitto started from the rendered files: OpenDTU's traffic,
published by the mbedTLS client as the firmware publishes it (QoS 0), the Solix bridge's (QoS 1,
pi/solix_bridge.py), and consumers with exactly the rendered Telegraf consumers' client ids, QoS
and session settings (paho; Telegraf itself cannot run here).

A value published while Telegraf is away must never reach it later: Telegraf's value parser
stamps each value with its arrival, so a late value lands at the wrong time (issue 21)."""

import select
import socket
import ssl
import time
import tomllib
import uuid

import pytest

from broker import Broker, Client, OpenDtu, write_etc
from components.opendtu_data import all_topics, solix_topics
from conftest import dev_config, service_files
from tools.mock_engine import run_program

INVERTERS = {f"1161907454{n:02d}": 6 for n in range(4)}


@pytest.fixture(scope="module")
def program(dev_run):
    return dev_run


@pytest.fixture(scope="module")
def files(program):
    return service_files(program)


def page(run) -> dict:
    return {entry["field"]: entry["value"] for entry in run.outputs["openDtuSettings"]}


def password(run, user: str) -> str:
    return run.one("random:index/randomPassword:RandomPassword",
                   f"mqtt-{user}-password").outputs["result"]


def telegraf_password(run) -> str:
    return password(run, "telegraf")


def consumers(files, config="/etc/telegraf/telegraf.conf") -> list[dict]:
    return tomllib.loads(files["telegraf"][config])["inputs"]["mqtt_consumer"]


@pytest.fixture
def broker(files, tmp_path):
    broker = Broker(write_etc(files["mqtt"], tmp_path / "etc")).start()
    yield broker
    broker.cleanup()


@pytest.fixture
def ca_file(program, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text(program.outputs["caCert"])
    return path


def telegraf_like(broker, run, consumer, ca_file, skip_subscribe_if_session=False) -> Client:
    """A paho client with a rendered consumer's client id, QoS and session setting, connected to
    the VPC listener and subscribed as Telegraf subscribes. `skip_subscribe_if_session` is what
    Telegraf before 1.38 did (plugins/inputs/mqtt_consumer, connect(), before #18452)."""
    client = Client(broker, consumer["username"], telegraf_password(run), ca_file=ca_file,
                    client_id=consumer["client_id"], clean=not consumer["persistent_session"],
                    port=broker.internal_port)
    assert client.connect(), client.reason
    if not (skip_subscribe_if_session and client.session_present):
        client.client.subscribe([(topic, consumer["qos"]) for topic in consumer["topics"]])
        assert client.wait_for(lambda: client.granted)
    return client


def opendtu_lines(round_: int) -> str:
    """Every topic of a 4-inverter, 6-input installation once, the payload naming the round."""
    return "".join(f"{topic.topic}\t{round_}\n" for topic in all_topics(INVERTERS))


def publish_while_away(program, broker, ca_file, mbedtls_client, round_: int) -> None:
    """One round of OpenDTU (QoS 0, as the firmware) and one of the Solix bridge, acknowledged by
    the broker. The bridge publishes its values at QoS 0 (pi/solix_bridge.py, Publisher.publish);
    this round is sent at QoS 1 all the same, so that a broker which queued QoS 1 for an absent
    Telegraf would show it here."""
    settings = page(program)
    done = OpenDtu(mbedtls_client, broker, ca_file).connect(
        settings["Hostname"], settings["Username"], settings["Password"],
        lines=opendtu_lines(round_))
    assert done.returncode == 0, done.stdout
    bridge = Client(broker, "solix", password(program, "solix"), ca_file=ca_file)
    assert bridge.connect(), bridge.reason
    sent = [bridge.client.publish(f"solar/{topic.topic}", str(round_), qos=1).mid
            for topic in solix_topics("S1", "Solarbank2")]
    assert bridge.wait_for(lambda: set(sent) <= bridge.published)
    bridge.close()


def test_nothing_published_while_telegraf_is_away_arrives_later_through_a_broker_restart(
        program, files, broker, ca_file, mbedtls_client):
    live = consumers(files)
    # Telegraf runs (its consumers connect and subscribe), then goes away.
    for consumer in live:
        telegraf_like(broker, program, consumer, ca_file).close()
    publish_while_away(program, broker, ca_file, mbedtls_client, 1)
    broker.stop()  # SIGTERM: mosquitto writes its persistence file ...
    broker.start()  # ... and restores it
    publish_while_away(program, broker, ca_file, mbedtls_client, 2)

    back = [telegraf_like(broker, program, consumer, ca_file) for consumer in live]
    time.sleep(1.5)  # what a broker would hand over comes at once after the SUBACK
    late = [f"{m.topic}={m.payload.decode()}" for client in back for m in client.messages]
    assert late == [], f"{len(late)} values of the outage delivered late: {late[:5]}"

    # The sessions work: what is published now arrives, once, to its consumer.
    publish_while_away(program, broker, ca_file, mbedtls_client, 3)
    assert back[0].wait_for(lambda: sum(len(c.messages) for c in back) >= 10, timeout=10)
    time.sleep(0.5)
    # OpenDTU says "online" on dtu/status when it connects (src/MqttSettings.cpp, onMqttConnect).
    payloads = {m.payload for client in back for m in client.messages
                if not m.topic.endswith("/dtu/status")}
    assert payloads == {b"3"}, payloads
    for client in back:
        client.close()


def test_the_broker_queues_nothing_for_an_absent_telegraf(files):
    conf = [line.split() for line in files["mqtt"]["/etc/mosquitto/mosquitto.conf"].splitlines()
            if line.strip() and not line.startswith("#")]
    settings = {words[0]: words[1:] for words in conf}
    assert "queue_qos0_messages" not in settings  # mosquitto's default: false
    assert not any(c["persistent_session"] for c in consumers(files))
    assert settings["persistence"] == ["true"]  # retained values (the bridge's status) survive
    assert int(settings["autosave_interval"][0]) <= 30


# --- a changed subscription, retained values, the configuration check ------------------------

def test_changed_subscriptions_are_received_even_under_an_old_client_id(tmp_path, mbedtls_client):
    changed = run_program(dev_config(topicPrefix="home/pv"))
    with Broker(write_etc(service_files(changed)["mqtt"], tmp_path / "etc")) as broker:
        (tmp_path / "ca.pem").write_text(changed.outputs["caCert"])
        ca = tmp_path / "ca.pem"
        numbers = next(c for c in consumers(service_files(changed))
                       if c["client_id"].startswith("solarmonitor-telegraf-totals"))
        # The same id subscribed to the old prefix's topics once; Telegraf before 1.38 skips
        # subscribing when the broker says it still has the session. A clean one never has.
        telegraf_like(broker, changed, dict(numbers, topics=["solar/ac/+", "solar/dc/+"]),
                      ca).close()
        again = telegraf_like(broker, changed, numbers, ca, skip_subscribe_if_session=True)
        assert again.session_present is False
        settings = page(changed)
        done = OpenDtu(mbedtls_client, broker, ca).connect(
            settings["Hostname"], "opendtu", settings["Password"], prefix=settings["Base Topic"],
            lines="ac/power\t1234.5\n")
        assert done.returncode == 0, done.stdout
        assert again.wait_for(lambda: again.messages)
        assert [m.topic for m in again.messages] == ["home/pv/ac/power"]
        again.close()


def test_with_opendtus_settings_nothing_stale_is_replayed_to_a_new_session(
        program, files, broker, ca_file, mbedtls_client):
    settings = page(program)
    opendtu = OpenDtu(mbedtls_client, broker, ca_file)
    # The afternoon: OpenDTU publishes as openDtuSettings says (Retain off) ...
    assert opendtu.connect(settings["Hostname"], "opendtu", settings["Password"],
                           retain=settings["Enable Retain Flag"],
                           lines="116190745400/0/power\t812.4\n").returncode == 0
    # ... at night a new consumer session starts (first deploy, changed subscriptions).
    numbers = consumers(files)[0]
    fresh = telegraf_like(broker, program, dict(numbers, client_id="night-deploy"), ca_file)
    time.sleep(0.5)
    assert fresh.messages == []
    fresh.close()


def test_why_retain_is_off_a_retained_value_would_be_replayed_as_now(
        program, files, broker, ca_file, mbedtls_client):
    settings = page(program)
    assert OpenDtu(mbedtls_client, broker, ca_file).connect(
        settings["Hostname"], "opendtu", settings["Password"], retain=True,
        lines="116190745400/0/power\t812.4\n").returncode == 0
    fresh = telegraf_like(broker, program, dict(consumers(files)[0], client_id="night-deploy"),
                          ca_file)
    assert fresh.wait_for(lambda: fresh.messages)
    assert fresh.messages[0].payload == b"812.4" and fresh.messages[0].retain
    fresh.close()


def test_the_configuration_check_does_not_touch_the_live_sessions(program, files, broker, ca_file):
    live, check = consumers(files), consumers(files, "/etc/telegraf/telegraf-check.conf")
    assert not {c["client_id"] for c in live} & {c["client_id"] for c in check}
    check_conf = tomllib.loads(files["telegraf"]["/etc/telegraf/telegraf-check.conf"])
    assert check_conf["agent"]["buffer_strategy"] == "memory"
    running = telegraf_like(broker, program, live[0], ca_file)
    checker = telegraf_like(broker, program, check[0], ca_file)
    time.sleep(0.3)
    assert running.client.is_connected()  # same id would have kicked it off the broker
    running.close(), checker.close()


# --- abuse ---------------------------------------------------------------------------------

def tls_socket(port: int, ca_file) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


def closed_by_peer(sock, seconds: float = 3) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def count_closed_by_peer(sockets: list[socket.socket], seconds: float = 3) -> int:
    """How many of `sockets` the other side closed within `seconds` (waiting on all at once)."""
    closed, open_ = 0, set(sockets)
    deadline = time.monotonic() + seconds
    while open_ and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_), [], [], max(0.0, deadline - time.monotonic()))
        for sock in readable:
            open_.discard(sock)
            closed += closed_by_peer(sock, 0.1)
    return closed


def test_an_unauthenticated_giant_connect_is_dropped_before_it_is_read(broker, ca_file):
    sock = tls_socket(broker.tls_port, ca_file)
    sock.sendall(bytes([0x10, 0xFF, 0xFF, 0xFF, 0x7F]))  # CONNECT claiming 256 MB
    assert closed_by_peer(sock)


def test_a_10_mb_payload_is_refused_while_the_traffic_goes_on(program, files, broker, ca_file):
    listener = telegraf_like(broker, program, consumers(files)[0], ca_file)
    settings = page(program)
    abuser = Client(broker, "opendtu", settings["Password"], ca_file=ca_file)
    assert abuser.connect()
    abuser.client.publish("solar/116190745400/0/power", b"9" * 10_000_000)
    assert abuser.wait_for(lambda: not abuser.client.is_connected(), timeout=10)
    opendtu = Client(broker, "opendtu", settings["Password"], ca_file=ca_file)
    assert opendtu.connect()
    opendtu.client.publish("solar/116190745400/0/power", b"231.4")
    assert listener.wait_for(lambda: listener.messages)
    assert [m.payload for m in listener.messages] == [b"231.4"]
    listener.close(), opendtu.close(), abuser.close()


def test_wrong_passwords_and_topics_outside_the_acl_are_refused(program, files, broker, ca_file):
    listener = telegraf_like(broker, program, consumers(files)[0], ca_file)
    assert not Client(broker, "opendtu", "wrong", ca_file=ca_file).connect()
    assert not Client(broker, consumers(files)[1]["username"], "wrong", ca_file=ca_file,
                      port=broker.internal_port).connect()
    opendtu = Client(broker, "opendtu", page(program)["Password"], ca_file=ca_file)
    assert opendtu.connect()
    opendtu.client.publish("elsewhere/0/power", b"1")
    opendtu.client.publish("solar/116190745400/0/power", b"2")
    assert listener.wait_for(lambda: listener.messages)
    time.sleep(0.3)
    assert [m.payload for m in listener.messages] == [b"2"]
    listener.close(), opendtu.close()


def test_a_flood_of_connections_is_refused_while_opendtu_and_telegraf_go_on(
        program, files, broker, ca_file):
    from components.mqtt_broker import HOME_CONNECTIONS
    listener = telegraf_like(broker, program, consumers(files)[0], ca_file)
    opendtu = Client(broker, "opendtu", page(program)["Password"], ca_file=ca_file)
    assert opendtu.connect()
    flood = [socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5)
             for _ in range(300)]
    try:
        refused = count_closed_by_peer(flood)
        assert refused >= 300 - HOME_CONNECTIONS
        # OpenDTU's connection and Telegraf's go on; Telegraf can even connect anew.
        opendtu.client.publish("solar/116190745400/0/power", b"42")
        assert listener.wait_for(lambda: listener.messages)
        again = Client(broker, consumers(files)[1]["username"], telegraf_password(program),
                       ca_file=ca_file,
                       client_id=f"again-{uuid.uuid4().hex[:6]}", port=broker.internal_port)
        assert again.connect(), again.reason
        again.close()
    finally:
        for sock in flood:
            sock.close()
    listener.close(), opendtu.close()
