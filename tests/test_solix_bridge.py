"""The Solix bridge (pi/solix_bridge.py) with SolixBLE, a device emulated by anker-ble-emulator
under bleak (the real key negotiation; `EmulatedConnection` patches SolixBLE's connect path), and
a real mosquitto started from the rendered broker files, with the `solix` user and the Pi config
the stack renders. Only two things are stood in for: bleak's scanner finds the emulated device,
and the host name resolves to loopback."""

import asyncio
import configparser
import importlib
import socket
import subprocess
import sys
import time
import tomllib

import pytest

from broker import Broker, Client, add_observer, observe, self_signed, write_etc
from conftest import ROOT, service_files
from telegraf_emulation import EmulatedTelegraf

sys.path.insert(0, str(ROOT / "pi"))
anker = pytest.importorskip("anker_ble_emulator")
solix_bridge = importlib.import_module("solix_bridge")
solix_source = importlib.import_module("solix_source")
from anker_ble_emulator.testing import EmulatedConnection  # noqa: E402

DEVICE = "AA:12:DE:AD:BE:EF"  # the emulator's default address
# Emulated models SolixBLE 3.9.0 reads as they are recorded (others need other firmware).
MODELS = {"A17C1": "Solarbank2", "A1761": "C1000", "A1722": "C300"}


@pytest.fixture(scope="module")
def program(full_run):
    """The stack with a Solarbank 2 at the emulator's address (and alerts on)."""
    assert f"{DEVICE}=Solarbank2" in full_run.outputs["piAgentConfig"].replace(" ", "")
    return full_run


@pytest.fixture
def broker(program, tmp_path):
    broker = Broker(write_etc(service_files(program)["mqtt"], tmp_path / "etc"))
    add_observer(broker.etc)
    broker.start()
    yield broker
    broker.cleanup()


def pi_config(program, broker, tmp_path, devices: str) -> str:
    """The stack's piAgentConfig, its [mqtt] port pointed at the test broker."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(program.outputs["piAgentConfig"])
    ini["mqtt"]["port"] = str(broker.tls_port)
    ini["solix"]["devices"] = devices
    path = tmp_path / "solarmonitor.ini"
    with path.open("w") as file:
        ini.write(file)
    return str(path)


@pytest.fixture
def resolve_to_loopback(program, monkeypatch):
    """The broker's public name (in its certificate) resolves to this machine."""
    host, real = program.outputs["mqttHost"], socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        return real("127.0.0.1" if name == host else name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def bridge_once(config: str, device, monkeypatch, wait: float = 20, quiet: bool = False) -> int:
    """Run the bridge's --once path in this process against the emulated `device`; like a real
    device, the emulated one pushes its recorded telemetry every 0.2 s once connected."""
    from bleak import BleakScanner

    async def find(address, timeout=10.0, **kwargs):
        return device.ble_device if device is not None and address == device.address else None

    monkeypatch.setattr(BleakScanner, "find_device_by_address", find)
    settings = solix_bridge.load_settings(config)
    publisher = solix_bridge.Publisher(settings)
    publisher.connect()

    async def scenario() -> int:
        async def push():
            while True:
                await asyncio.sleep(0.2)
                if device is not None and not quiet:
                    device.press_button()
                    for code in device.profile.pushes:
                        device.push(code)

        pusher = asyncio.create_task(push())
        try:
            if device is None:
                return await solix_bridge.run(settings, True, wait, publisher)
            async with EmulatedConnection(device):
                return await solix_bridge.run(settings, True, wait, publisher)
        finally:
            pusher.cancel()

    try:
        return asyncio.run(scenario())
    finally:
        publisher.stop(say_offline=True)


@pytest.mark.parametrize("product", MODELS)
def test_an_emulated_device_reaches_the_broker_and_lands_as_described(
        program, broker, tmp_path, monkeypatch, resolve_to_loopback, product):
    model = MODELS[product]
    config = pi_config(program, broker, tmp_path, f"{DEVICE}={model}")
    observer = observe(broker)
    assert bridge_once(config, getattr(anker, product)(), monkeypatch) == solix_bridge.EXIT_OK
    assert observer.wait_for(lambda: any(m.topic.endswith("/status") and m.payload == b"offline"
                                         for m in observer.messages), timeout=5)
    values = [m for m in observer.messages if "/bridge/" not in m.topic]
    assert values and all(m.topic.startswith("solar/solix/") for m in values)
    statuses = [m.payload for m in observer.messages if m.topic == "solar/solix/bridge/status"]
    assert statuses[0] == b"online" and statuses[-1] == b"offline"

    # SolixBLE's own property names are the fields; nothing unknown is published.
    import SolixBLE
    names = set(solix_source.value_names(getattr(SolixBLE, model)))
    for message in values:
        assert message.topic.rsplit("/", 1)[1] in names, message.topic
        assert message.payload not in (b"-1", b"-1.0", b"None", b"Unknown", b"UNKNOWN")

    # Through the rendered Telegraf configuration: one consumer each, one field each.
    telegraf = EmulatedTelegraf(tomllib.loads(
        service_files(program)["telegraf"]["/etc/telegraf/telegraf.conf"]))
    fields = set()
    for message in observer.messages:
        (consumer,) = telegraf.matching(message.topic)
        measurement, tags, field, value = telegraf.process(
            consumer, message.topic, message.payload.decode())
        if "/bridge/" in message.topic:
            assert (measurement, field) == ("solix_info", "status")
            continue
        assert measurement in ("solix", "solix_info") and tags["model"] == model
        assert (measurement == "solix") == isinstance(value, float)
        fields.add((tags["serial"], measurement, field))
    assert len(fields) == len({m.topic for m in values})  # every topic is one field
    assert any(field == "battery_percentage" for _, _, field in fields)
    if model == "Solarbank2":  # an enum by name, in the strings; a number in the numbers
        by_field = {m.topic.rsplit("/", 2)[-2:][-1]: m for m in values}
        assert by_field["grid_status"].topic.endswith("/text/grid_status")
        assert by_field["grid_status"].payload == b"CONNECTING"
        assert by_field["battery_percentage"].payload == b"48"


@pytest.mark.parametrize("model", ["Solarbank2", "Solarbank3", "C1000", "C1000G2", "C300", "F2000",
                                   "F3800"])
def test_a_device_that_knows_nothing_yet_gives_no_values(model):
    """Before its first telemetry, SolixBLE reports every value as unknown (-1, "Unknown", an
    UNKNOWN member): none of them may be published."""
    import SolixBLE
    from bleak.backends.device import BLEDevice
    device = getattr(SolixBLE, model)(BLEDevice(DEVICE, None, {}))
    assert solix_source.value_names(type(device))  # it has values to read...
    reading = solix_source.read(device, model)
    assert reading.numbers == {} and reading.texts == {}  # ...and none is known


def test_enums_and_versions_are_texts_and_numbers_are_numbers():
    from SolixBLE.states import GridStatus
    assert solix_source.classify(GridStatus.CONNECTING) == ("text", "CONNECTING")
    assert solix_source.classify(True) == ("number", 1)
    assert solix_source.classify(48) == ("number", 48) and solix_source.classify(-1) is None
    assert solix_source.classify("1.6.8") == ("text", "1.6.8")


def test_a_device_that_never_answers_fails_once_naming_it(
        program, broker, tmp_path, monkeypatch, resolve_to_loopback, caplog):
    config = pi_config(program, broker, tmp_path, f"{DEVICE}=Solarbank2")
    quiet = anker.A17C1()
    assert bridge_once(config, quiet, monkeypatch, wait=3, quiet=True) == solix_bridge.EXIT_DEVICE
    assert f"no values within 3 s from {DEVICE} (Solarbank2)" in caplog.text


def test_a_device_not_found_fails_once_naming_it(
        program, broker, tmp_path, monkeypatch, resolve_to_loopback, caplog):
    config = pi_config(program, broker, tmp_path, "AA:BB:CC:DD:EE:01=C1000")
    started = time.monotonic()
    assert bridge_once(config, None, monkeypatch, wait=2) == solix_bridge.EXIT_DEVICE
    assert time.monotonic() - started < 15
    assert "AA:BB:CC:DD:EE:01 (C1000)" in caplog.text


def test_values_read_while_the_broker_is_away_are_dropped_not_sent_late(
        program, broker, tmp_path, resolve_to_loopback):
    """Telegraf stamps a value with the time it arrives: a reading the bridge could not send
    when it was made must never arrive later. A persistent observer session, subscribed at QoS 1,
    would receive whatever the bridge sent late (at QoS 1 paho keeps it and sends it on
    reconnecting, and the broker queues it for the absent observer)."""
    settings = solix_bridge.load_settings(pi_config(program, broker, tmp_path, f"{DEVICE}=Solarbank2"))
    observer = Client(broker, "observer", "watch", clean=False)
    assert observer.connect()
    observer.client.subscribe("#", qos=1)
    assert observer.wait_for(lambda: observer.granted)
    observer.close()  # its session and subscription stay on the broker
    publisher = solix_bridge.Publisher(settings)
    publisher.connect()
    reading = lambda value: solix_source.Reading("S1", "Solarbank2", {"battery_percentage": value})
    try:
        broker.stop()
        deadline = time.monotonic() + 10
        while publisher.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        publisher.publish(reading(11))  # read while the broker is away
        broker.start()
        deadline = time.monotonic() + 20
        while not publisher.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publisher.client.is_connected(), "the bridge did not reconnect"
        time.sleep(0.5)  # what it would send late goes out right after its CONNACK
        back = Client(broker, "observer", "watch", clean=False)
        assert back.connect()
        publisher.publish(reading(22))  # read now
        topic = "solar/solix/S1/Solarbank2/battery_percentage"
        assert back.wait_for(lambda: any(m.topic == topic for m in back.messages), timeout=10)
        time.sleep(0.5)
        assert [m.payload for m in back.messages if m.topic == topic] == [b"22"]
        back.close()
    finally:
        publisher.stop()


def test_the_solix_user_may_publish_its_subtree_only_and_read_nothing(program, broker):
    observer = observe(broker)
    solix = Client(broker, "solix", program.one(
        "random:index/randomPassword:RandomPassword", "mqtt-solix-password").outputs["result"])
    assert solix.connect()
    # mosquitto grants a wildcard subscription and checks the ACL on each delivery (2.0).
    solix.client.subscribe("solar/#", qos=1)
    assert solix.wait_for(lambda: solix.granted)
    for topic in ("solar/116190745400/0/power", "elsewhere/x", "solar/solix/S1/Solarbank2/x"):
        solix.client.publish(topic, b"1", qos=1)
    assert observer.wait_for(lambda: observer.messages)
    time.sleep(0.3)
    assert [m.topic for m in observer.messages] == ["solar/solix/S1/Solarbank2/x"]
    assert solix.messages == []  # it reads nothing, not even its own
    solix.close(), observer.close()


# --- bad input, as a process: one line, a non-zero exit, never a traceback -------------------

def run_bridge(config_text: str, tmp_path, *args) -> subprocess.CompletedProcess:
    path = tmp_path / "bridge.ini"
    path.write_text(config_text)
    return subprocess.run([sys.executable, str(ROOT / "pi" / "solix_bridge.py"), "--config",
                           str(path), *args], capture_output=True, text=True, timeout=60)


def ini(devices: str, port: int = 1, ca: str = "", host: str = "127.0.0.1") -> str:
    ca_lines = "\n".join(f"    {line}" for line in ca.strip().splitlines())
    return (f"[mqtt]\nhost = {host}\nport = {port}\nusername = solix\npassword = secret-pw\n"
            f"topic_prefix = solar\nca =\n{ca_lines}\n\n[solix]\ndevices = {devices}\n")


@pytest.fixture(scope="module")
def some_ca():
    return self_signed("a CA", ca=True)[1].decode()


@pytest.mark.parametrize("devices, message", [
    ("AA:BB:CC:DD:EE:FF=Solarbank9", "unknown model 'Solarbank9'"),
    ("AA:BB:CC:DD:EE=Solarbank2", "'AA:BB:CC:DD:EE' is not a Bluetooth address"),
])
def test_bad_devices_are_refused_in_one_line(tmp_path, some_ca, devices, message):
    done = run_bridge(ini(devices, ca=some_ca), tmp_path, "--once")
    assert done.returncode == solix_bridge.EXIT_CONFIG
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith(f"solix bridge: [solix] devices: {message}")
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unreachable_broker_is_one_line(tmp_path, some_ca):
    done = run_bridge(ini(f"{DEVICE}=Solarbank2", port=1, ca=some_ca), tmp_path, "--once")
    assert done.returncode == solix_bridge.EXIT_BROKER
    assert len(done.stdout.strip().splitlines()) == 1 and "unreachable" in done.stdout
    assert "Traceback" not in done.stderr and "secret-pw" not in done.stdout + done.stderr


def test_a_broker_whose_certificate_does_not_verify_is_one_line(tmp_path, broker, some_ca):
    done = run_bridge(ini(f"{DEVICE}=Solarbank2", port=broker.tls_port, ca=some_ca), tmp_path,
                      "--once")
    assert done.returncode == solix_bridge.EXIT_BROKER
    assert "does not verify" in done.stdout and len(done.stdout.strip().splitlines()) == 1


def test_no_devices_means_nothing_to_bridge(tmp_path, some_ca):
    done = run_bridge(ini("none", ca=some_ca), tmp_path)
    assert done.returncode == 0 and "nothing to bridge" in done.stdout


# --- the stack's side -------------------------------------------------------------------------

def test_the_pi_config_carries_the_bridge_and_its_secrets(program):
    config = configparser.ConfigParser(interpolation=None)
    config.read_string(program.outputs["piAgentConfig"])
    password = program.one("random:index/randomPassword:RandomPassword",
                           "mqtt-solix-password").outputs["result"]
    assert config["mqtt"]["username"] == "solix" and config["mqtt"]["password"] == password
    assert config["mqtt"]["host"] == program.outputs["mqttHost"]
    assert config["mqtt"]["ca"].strip() == program.outputs["caCert"].strip()
    assert config["solix"]["devices"] == f"{DEVICE}=Solarbank2"
    assert "piAgentConfig" in program.secret_outputs
    settings = solix_bridge.load_settings_from_text(program.outputs["piAgentConfig"])
    assert settings.devices == [solix_source.DeviceSpec(DEVICE, "Solarbank2")]


def test_both_sides_know_the_same_models_and_solixble_has_them():
    import SolixBLE
    from components.config import SOLIX_MODELS
    assert solix_bridge.MODELS == SOLIX_MODELS
    assert all(isinstance(getattr(SolixBLE, model), type) for model in SOLIX_MODELS)
