"""Every broker credential does its own job only, tried against a real mosquitto started from
the files the program renders (with the plain listener on, so all three listeners are tried):
no user takes over or disconnects another user's session, on any listener; no user publishes a
command OpenDTU would act on, retained or not; each publisher writes its own subtree only.
The users are components/mqtt_users.py's; every pair of them is tried."""

import ssl
import subprocess
import time
import uuid

import paho.mqtt.client as mqtt

import pytest

from broker import MOSQUITTO, Broker, Client, write_etc
from components.mqtt_users import OPENDTU, OPENDTU_COMMANDS, TELEGRAF, users
from components.opendtu_data import PROBE
from conftest import LAYOUTS, dev_config, service_files
from tools.mock_engine import run_program

pytestmark = pytest.mark.skipif(not __import__("os").path.exists(MOSQUITTO),
                                reason="mosquitto is installed by `make test`")

SERIAL = "116190745467"
COMMAND = f"solar/{SERIAL}/cmd/power"  # OpenDTU turns the inverter off on "0"
ALL_USERS = users("solar")
# Each publisher's own topics, and topics nobody of them owns.
SAMPLES = {
    OPENDTU.name: [f"solar/{SERIAL}/0/power", "solar/dtu/uptime"],
    "solix": ["solar/solix/APC1234/Solarbank2/battery_percentage"],
    "check": ["solar/" + PROBE.topic],
    None: [COMMAND, "solar/dtu/cmd/power", "other/x", "$SYS/solarmonitor/x"],
}


@pytest.fixture(scope="module")
def program(layout):
    return run_program(dev_config(**LAYOUTS[layout], mqttPlaintext=True))


@pytest.fixture(scope="module")
def identities(program) -> dict[str, dict]:
    """One real session per user, as it connects in the stack: its username, password, the
    listener it uses and the client id its software sends (which the broker replaces)."""
    def password(user):
        return program.one("random:index/randomPassword:RandomPassword",
                           f"mqtt-{user}-password").outputs["result"]
    telegraf = next(u for u in ALL_USERS if u.name == TELEGRAF.name)
    consumer, check_login = telegraf.logins[0], telegraf.logins[len(telegraf.logins) // 2]
    assert check_login == consumer + "-check" and telegraf.usernames[0] == "telegraf"
    return {
        "opendtu": dict(username="opendtu", password=password("opendtu"), port="home",
                        client_id="OpenDTU-3221224", clean=True),
        "telegraf": dict(username=consumer, password=password("telegraf"), port="internal",
                         client_id=consumer, clean=True),
        "telegraf-check": dict(username=check_login, password=password("telegraf"),
                               port="internal", client_id=check_login, clean=True),
        # Telegraf's own name logs in too (a person debugging with mosquitto_sub), read-only.
        "telegraf-name": dict(username="telegraf", password=password("telegraf"),
                              port="internal", client_id="mosquitto_sub-1", clean=True),
        "solix": dict(username="solix", password=password("solix"), port="home",
                      client_id="solarmonitor-solix-raspberrypi", clean=True),
        "check": dict(username="check", password=password("check"), port="home",
                      client_id="solarmonitor-check-00a1b2", clean=True),
    }


@pytest.fixture
def broker(program, tmp_path):
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "etc")
    subprocess.run(["mosquitto_passwd", "-b", str(etc / "passwd"), "observer", "watch"],
                   check=True, capture_output=True, timeout=10)
    with (etc / "acl").open("a") as acl:  # a test-only user that sees what got through
        acl.write("\nuser observer\ntopic read #\ntopic read $SYS/#\n")
    broker = Broker(etc).start()
    broker.clients = []
    yield broker
    for client in broker.clients:
        client.close()
    broker.cleanup()


def port_of(broker, listener: str) -> int:
    return {"home": broker.tls_port, "internal": broker.internal_port,
            "plain": broker.plain_port}[listener]


def connect(broker, identity: dict, listener: str | None = None, **overrides) -> Client:
    fields = {**identity, **overrides}
    listener = listener or fields["port"]
    client = Client(broker, fields["username"], fields["password"], plain=listener == "plain",
                    client_id=fields["client_id"], clean=fields["clean"],
                    port=port_of(broker, listener))
    broker.clients.append(client)
    client.connect()
    return client


def observe(broker, topic_filter: str = "#") -> Client:
    observer = Client(broker, "observer", "watch", client_id=f"observer-{uuid.uuid4().hex[:6]}")
    broker.clients.append(observer)
    assert observer.connect()
    observer.client.subscribe([(topic_filter, 1), ("$SYS/solarmonitor/#", 1)])
    assert observer.wait_for(lambda: observer.granted)
    return observer


def test_the_listeners_are_the_ones_the_users_get(program, dev_run):
    """The plain listener is on here; otherwise the files are the stack's default ones."""
    default = service_files(dev_run)["mqtt"]
    files = service_files(program)["mqtt"]
    assert files["/etc/mosquitto/acl"] == default["/etc/mosquitto/acl"]
    conf = files["/etc/mosquitto/mosquitto.conf"]
    assert conf.startswith(default["/etc/mosquitto/mosquitto.conf"].rstrip("\n"))
    assert conf.count("\nlistener ") == 3 == conf.count("use_username_as_clientid true")


@pytest.mark.parametrize("listener", ["home", "internal", "plain"])
def test_no_user_disconnects_another_users_session(broker, identities, listener):
    """Every user, on this listener, connects with every other user's client id (the username
    the broker keys sessions by, and the id the victim's software sends), asking to resume the
    session: each victim stays connected, and the attacker's own login still works (the broker
    gives it its own session)."""
    victims = {name: connect(broker, identity) for name, identity in identities.items()}
    assert all(v.reason is not None and not v.reason.is_failure for v in victims.values())
    for attacker_name, attacker in identities.items():
        victims[attacker_name].close()  # an attacker may end its own session: not tried here
        for victim_name, victim in identities.items():
            if victim_name == attacker_name:
                continue
            for stolen_id in (victim["username"], victim["client_id"]):
                intruder = connect(broker, attacker, listener, client_id=stolen_id, clean=False)
                assert intruder.reason is not None and not intruder.reason.is_failure, (
                    attacker_name, victim_name, intruder.reason)
                intruder.close()
        time.sleep(0.3)
        kicked = [name for name, v in victims.items()
                  if name != attacker_name and (v.disconnects or not v.client.is_connected())]
        assert kicked == [], f"{attacker_name} on {listener} disconnected {kicked}"
        victims[attacker_name] = connect(broker, identities[attacker_name])


def test_no_user_takes_over_a_waiting_session_or_its_messages(broker, identities):
    """A session the broker keeps for a user while it is away (a persistent one, as Telegraf's
    were before its sessions became clean; mosquitto_sub -c makes one), holding a message:
    another user asking for it gets nothing, and its user finds it and the message when back."""
    telegraf = {**identities["telegraf"], "clean": False}
    first = connect(broker, telegraf)
    first.client.subscribe(f"solar/{SERIAL}/0/power", qos=1)
    assert first.wait_for(lambda: first.granted)
    first.close()
    opendtu = connect(broker, identities["opendtu"])
    opendtu.client.publish(f"solar/{SERIAL}/0/power", "231.4", qos=1).wait_for_publish(3)
    for name, attacker in identities.items():
        if name == "telegraf":
            continue
        for listener in ("home", "internal", "plain"):
            thief = connect(broker, attacker, listener, client_id=telegraf["username"],
                            clean=False)
            assert thief.reason is not None and not thief.reason.is_failure, (name, listener)
            time.sleep(0.2)  # a session taken over hands its queue over at once
            assert thief.messages == [], (name, listener)
            thief.close()
    back = connect(broker, telegraf)
    assert back.session_present is True
    assert back.wait_for(lambda: back.messages)
    assert [m.payload for m in back.messages] == [b"231.4"]


def test_a_username_with_another_users_password_is_refused(broker, identities):
    for name, identity in identities.items():
        for other_name, other in identities.items():
            if other["password"] == identity["password"]:
                continue  # Telegraf's logins share Telegraf's password
            client = connect(broker, identity, password=other["password"])
            assert client.reason is None or client.reason.is_failure, (name, other_name)


def test_nobody_can_publish_a_command_opendtu_acts_on(broker, program):
    """Every username the broker knows, on every listener it may use, publishes OpenDTU's power
    command retained and not (QoS 0 and 1): nothing reaches a subscriber, and a fresh
    subscription (OpenDTU's own, after a reconnect, and one that may read everything) finds no
    retained command."""
    observer = observe(broker)
    passwords = {u.name: program.one("random:index/randomPassword:RandomPassword",
                                     f"mqtt-{u.name}-password").outputs["result"]
                 for u in ALL_USERS}
    for user in ALL_USERS:
        for username in user.usernames:
            for listener in ("home", "internal", "plain"):
                client = connect(broker, dict(username=username, password=passwords[user.name],
                                              port=listener, client_id=username, clean=True))
                assert not getattr(client.reason, "is_failure", True), (username, listener, client.reason)
                for retain in (False, True):
                    for qos in (0, 1):
                        client.client.publish(COMMAND, "0", qos=qos, retain=retain)
                        client.client.publish("solar/dtu/cmd/restart", "1", qos=qos, retain=retain)
                client.close()
    time.sleep(0.5)
    assert observer.messages == []
    opendtu = connect(broker, dict(username="opendtu", password=passwords["opendtu"],
                                   port="home", client_id="OpenDTU-3221224", clean=True))
    opendtu.client.subscribe(f"solar/{OPENDTU_COMMANDS}", qos=0)
    fresh = observe(broker)
    time.sleep(0.5)
    assert opendtu.messages == [] and fresh.messages == []


def leave_with_will(broker, identity: dict, topic: str, payload: str) -> None:
    """Connect as `identity` with a retained will on `topic`, then vanish without DISCONNECT
    (the broker then publishes the will). No network thread: paho's loop, driven here."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=identity["client_id"],
                         clean_session=identity["clean"])
    client.username_pw_set(identity["username"], identity["password"])
    context = ssl.create_default_context(cafile=str(broker.etc / "certs/ca.crt"))
    context.check_hostname = False
    client.tls_set_context(context)
    client.will_set(topic, payload, qos=1, retain=True)
    accepted = []
    client.on_connect = lambda c, u, flags, reason, p: accepted.append(not reason.is_failure)
    client.connect("127.0.0.1", port_of(broker, identity["port"]), keepalive=10)
    deadline = time.monotonic() + 5
    while not accepted and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    assert accepted == [True], identity["username"]
    client.socket().close()


def test_nobody_can_leave_a_command_as_a_last_will(broker, identities):
    """A will is published by the broker when a client goes away without saying so: each user
    leaves one on OpenDTU's power command (retained); none is published. OpenDTU's own will on
    dtu/status is, which shows the wills do go out."""
    observer = observe(broker)
    for identity in identities.values():
        leave_with_will(broker, identity, COMMAND, "0")
    leave_with_will(broker, identities["opendtu"], "solar/dtu/status", "offline")
    assert observer.wait_for(lambda: observer.messages)
    time.sleep(0.5)
    assert [(m.topic, m.payload) for m in observer.messages] == [("solar/dtu/status", b"offline")]
    fresh = observe(broker, "solar/+/cmd/#")
    time.sleep(0.3)
    assert fresh.messages == []


def test_each_publisher_writes_its_own_subtree_and_telegraf_nothing(broker, identities):
    observer = observe(broker)
    owners = {"opendtu": "opendtu", "solix": "solix", "check": "check"}
    for name, identity in identities.items():
        client = connect(broker, identity)
        for topics in SAMPLES.values():
            for topic in topics:
                client.client.publish(topic, f"{name}", qos=1)
        time.sleep(0.2)
        client.close()
    time.sleep(0.3)
    got = {(m.payload.decode(), m.topic) for m in observer.messages}
    expected = {(name, topic) for name, owner in owners.items() for topic in SAMPLES[owner]}
    assert got == expected


def test_a_command_retained_before_the_acl_is_never_replayed(program, tmp_path):
    """A broker that ran the earlier ACL (OpenDTU's user could write everything) holds a
    retained power command in its persistence file; after the update, neither OpenDTU nor
    anyone else gets it (check_retain_source re-checks the publisher's rights)."""
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "etc")
    new_acl = (etc / "acl").read_text()
    (etc / "acl").write_text("user opendtu\ntopic write solar/#\ntopic read solar/+/cmd/#\n"
                             "user observer\ntopic read #\n")
    subprocess.run(["mosquitto_passwd", "-b", str(etc / "passwd"), "observer", "watch"],
                   check=True, capture_output=True, timeout=10)
    password = program.outputs["openDtuMqttPassword"]
    broker = Broker(etc)
    try:
        broker.start()
        planted = Client(broker, "opendtu", password, client_id="attacker")
        assert planted.connect()
        planted.client.publish(COMMAND, "0", qos=1, retain=True).wait_for_publish(3)
        planted.close()
        before = Client(broker, "observer", "watch", client_id="before")
        assert before.connect()
        before.client.subscribe(COMMAND)
        assert before.wait_for(lambda: before.messages)  # the earlier ACL let it in
        before.close()
        broker.stop()  # persists the retained message
        (broker.etc / "acl").write_text(new_acl + "\nuser observer\ntopic read #\n")
        broker.start()
        opendtu = Client(broker, "opendtu", password, client_id="OpenDTU-3221224")
        observer = Client(broker, "observer", "watch", client_id="after")
        assert opendtu.connect() and observer.connect()
        opendtu.client.subscribe(f"solar/{OPENDTU_COMMANDS}")
        observer.client.subscribe("#")
        time.sleep(0.5)
        assert opendtu.messages == [] and observer.messages == []
        opendtu.close(), observer.close()
    finally:
        broker.cleanup()
