"""The data path through a real mosquitto started from the rendered files: OpenDTU's traffic,
published by the mbedTLS client as the firmware publishes it (QoS 0), and consumers with exactly
the rendered Telegraf consumers' client ids, QoS and session settings (mosquitto_sub and paho;
Telegraf itself cannot run here)."""

import select
import socket
import ssl
import subprocess
import time
import tomllib
import uuid

import pytest

from broker import Broker, Client, OpenDtu, write_etc
from components.opendtu_data import all_topics, topic_matches
from components.queue_sizing import (
    BYTES_PER_QUEUED_MESSAGE, DESIGN_DC_INPUTS, DESIGN_INVERTERS, OUTAGE_HOURS,
    SESSION_EXPIRY_HOURS, queue_limits,
)
from components.opendtu_data import CONSUMERS, INTERVAL_SECONDS
from components.prices import INSTANCE_TYPES, memory_mib
from conftest import dev_config
from tools.mock_engine import run_program
from tools.plan import rendered_files

INVERTERS = {f"1161907454{n:02d}": DESIGN_DC_INPUTS for n in range(DESIGN_INVERTERS)}
ROUNDS_PER_HOUR = 3600 // INTERVAL_SECONDS


@pytest.fixture(scope="module")
def program(dev_run):
    return dev_run


@pytest.fixture(scope="module")
def files(program):
    return rendered_files(program)


def page(run) -> dict:
    return {entry["field"]: entry["value"] for entry in run.outputs["openDtuSettings"]}


def telegraf_password(run) -> str:
    return run.one("random:index/randomPassword:RandomPassword",
                   "mqtt-telegraf-password").outputs["result"]


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


def opendtu_lines(rounds: int) -> tuple[list[str], str]:
    """Every topic of the design installation, `rounds` times, with a payload unique per round."""
    topics = [topic.topic for topic in all_topics(INVERTERS)]
    return topics, "".join(f"{topic}\t{n}\n" for n in range(rounds) for topic in topics)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def test_an_hour_of_telegraf_outage_through_a_broker_restart_loses_nothing(
        program, files, broker, ca_file, mbedtls_client, tmp_path):
    live = consumers(files)
    # Telegraf runs once (its sessions exist), then goes away.
    for consumer in live:
        telegraf_like(broker, program, consumer, ca_file).close()

    topics, lines = opendtu_lines(int(ROUNDS_PER_HOUR * OUTAGE_HOURS))
    before = rss_bytes(broker.process.pid)
    settings = page(program)
    done = OpenDtu(mbedtls_client, broker, ca_file).connect(
        settings["Hostname"], settings["Username"], settings["Password"], retain=True,
        lines=lines)
    assert done.returncode == 0, done.stdout
    # OpenDTU first says "online" on its will topic (src/MqttSettings.cpp, onMqttConnect).
    sent = ["dtu/status\tonline", *lines.splitlines()]
    matching = {c["client_id"]: {topic for topic in ["dtu/status", *topics]
                                 if any(topic_matches(f, f"solar/{topic}") for f in c["topics"])}
                for c in live}
    expected = {client_id: sorted(f"solar/{line}".replace("\t", " ") for line in sent
                                  if line.split("\t")[0] in wanted)
                for client_id, wanted in matching.items()}
    queued = sum(len(messages) for messages in expected.values())
    assert queued >= len(topics) * ROUNDS_PER_HOUR * OUTAGE_HOURS
    time.sleep(0.5)  # the broker has read up to the DISCONNECT; let it finish queueing
    per_message = (rss_bytes(broker.process.pid) - before) / queued
    # The queue is sized with this figure (components/queue_sizing.py): keep it honest.
    assert per_message <= BYTES_PER_QUEUED_MESSAGE, per_message

    broker.stop()  # SIGTERM: mosquitto writes its persistence file
    broker.start()

    receivers = []
    for consumer in live:
        if not expected[consumer["client_id"]]:
            continue  # the Solix bridge's consumers: OpenDTU sends them nothing
        output = tmp_path / f"{consumer['client_id']}.txt"
        command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.internal_port),
                   "--cafile", str(ca_file), "--insecure",  # the certificate names the node
                   "-u", consumer["username"], "-P", telegraf_password(program),
                   "-i", consumer["client_id"], "-c", "-q", str(consumer["qos"]), "-v",
                   "-C", str(len(expected[consumer["client_id"]])), "-W", "120"]
        for topic in consumer["topics"]:
            command += ["-t", topic]
        errors = tmp_path / f"{consumer['client_id']}.err"
        with output.open("w") as out, errors.open("w") as err:
            receivers.append((consumer["client_id"], output, errors,
                              subprocess.Popen(command, stdout=out, stderr=err)))
    for client_id, output, errors, process in receivers:
        status = process.wait(timeout=180)
        got = output.read_text().splitlines()
        assert status == 0, (f"{client_id}: {len(got)} of {len(expected[client_id])} messages; "
                             f"mosquitto_sub: {errors.read_text()[-500:]}; "
                             f"broker: {broker.log.read_text()[-1500:]}")
        assert sorted(got) == expected[client_id], client_id


def test_what_the_sessions_can_hold_until_they_expire_fits_every_broker_node():
    # Recomputed here from the topics: every message of the design installation goes to one
    # consumer, and costs at most BYTES_PER_QUEUED_MESSAGE (measured in the test above).
    per_hour = len(all_topics(INVERTERS)) * ROUNDS_PER_HOUR * BYTES_PER_QUEUED_MESSAGE
    for instance_type in INSTANCE_TYPES:
        limits = queue_limits(CONSUMERS, instance_type)
        assert per_hour * SESSION_EXPIRY_HOURS <= limits.memory_limit_bytes
        assert limits.memory_limit_bytes <= memory_mib(instance_type) * 2**20 // 2
    assert SESSION_EXPIRY_HOURS >= 2 * OUTAGE_HOURS


def test_the_rendered_broker_configuration_carries_the_sizing(files):
    conf = dict(line.split(" ", 1) for line in files["mqtt"]["/etc/mosquitto/mosquitto.conf"]
                .splitlines() if line and not line.startswith("#") and " " in line)
    assert conf["queue_qos0_messages"] == "true"
    assert int(conf["memory_limit"]) == queue_limits(CONSUMERS, "t4g.nano").memory_limit_bytes
    assert conf["persistent_client_expiration"] == f"{SESSION_EXPIRY_HOURS}h"
    assert int(conf["autosave_interval"]) <= 30


# --- a changed subscription, retained values, the configuration check ------------------------

def test_changed_subscriptions_get_a_new_session_that_receives(program, tmp_path, ca_file,
                                                              mbedtls_client):
    before = {c["client_id"] for c in consumers(rendered_files(program))}
    changed = run_program(dev_config(topicPrefix="home/pv"))
    after = consumers(rendered_files(changed))
    assert not before & {c["client_id"] for c in after}

    with Broker(write_etc(rendered_files(changed)["mqtt"], tmp_path / "etc")) as broker:
        (tmp_path / "ca.pem").write_text(changed.outputs["caCert"])
        ca = tmp_path / "ca.pem"
        numbers = next(c for c in after if c["client_id"].startswith("solarmonitor-telegraf-totals"))
        # The old id, its session holding the old prefix's subscriptions; an old Telegraf with
        # the new topics skips subscribing because the broker has the session. The broker keys
        # sessions by username (use_username_as_clientid): the consumer's check login stands in
        # for the old id's username, a login the rendered broker knows.
        old = dict(numbers, username=numbers["username"] + "-check",
                   client_id=numbers["client_id"].replace("totals", "old"),
                   topics=["solar/ac/+", "solar/dc/+"])
        telegraf_like(broker, changed, old, ca).close()
        stuck = telegraf_like(broker, changed, dict(old, topics=numbers["topics"]), ca,
                              skip_subscribe_if_session=True)
        fresh = telegraf_like(broker, changed, numbers, ca, skip_subscribe_if_session=True)
        settings = page(changed)
        done = OpenDtu(mbedtls_client, broker, ca).connect(
            settings["Hostname"], "opendtu", settings["Password"], prefix=settings["Base Topic"],
            lines="ac/power\t1234.5\n")
        assert done.returncode == 0, done.stdout
        assert fresh.wait_for(lambda: fresh.messages)
        assert [m.topic for m in fresh.messages] == ["home/pv/ac/power"]
        assert stuck.messages == []  # why the id changes with the subscriptions
        stuck.close(), fresh.close()


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
    assert all(c["persistent_session"] for c in live)
    assert not any(c["persistent_session"] for c in check)
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
