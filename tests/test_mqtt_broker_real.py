"""A real mosquitto, started from exactly the files the program renders for the mqtt node."""

import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from cryptography import x509

from broker import MOSQUITTO, Broker, Client, self_signed, telegraf_login, write_etc
from components.memory import MQTT_MIB, MQTT_UNCOUNTED_MIB
from conftest import dev_config, host_eip, host_instance, service_files
from tools.mock_engine import run_program

pytestmark = pytest.mark.skipif(not MOSQUITTO or not __import__("os").path.exists(MOSQUITTO),
                                reason="mosquitto is installed by `make test`")

SERIAL = "116190745467"


def add_observer(broker: Broker) -> tuple[str, str]:
    """A test-only user that may read everything, to see what the ACL let through."""
    subprocess.run(["mosquitto_passwd", "-b", str(broker.etc / "passwd"), "observer", "watch"],
                   check=True, capture_output=True, timeout=10)
    with (broker.etc / "acl").open("a") as acl:
        acl.write("\nuser observer\ntopic read #\ntopic read $SYS/#\n")
    return "observer", "watch"


def passwords(run):
    return {"opendtu": run.outputs["openDtuMqttPassword"], "telegraf": telegraf_login(run)[1]}


def telegraf(run):
    """Telegraf's first consumer: its username (= client id) and password."""
    return telegraf_login(run)


@pytest.fixture(scope="module")
def program(dev_run):
    return dev_run


@pytest.fixture
def broker(program, tmp_path):
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "rendered")
    broker = Broker(etc)
    observer = add_observer(broker)
    broker.start()
    clients = []

    def connect(user, password, **kwargs):
        client = Client(broker, user, password, **kwargs)
        clients.append(client)
        return client, client.connect()

    broker.connect = connect
    broker.observer = observer
    yield broker
    for client in clients:
        client.close()
    broker.cleanup()


def test_tls_verifies_against_the_rendered_ca_and_names_the_addresses(program, broker):
    client, ok = broker.connect("opendtu", passwords(program)["opendtu"])
    assert ok, client.reason
    cert = x509.load_pem_x509_certificate((broker.etc / "certs/server.crt").read_bytes())
    addresses = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in addresses.get_values_for_type(x509.IPAddress)}
    names = set(addresses.get_values_for_type(x509.DNSName))
    public_ip = host_eip(program, "mqtt").outputs["publicIp"]
    private_ip = host_instance(program, "mqtt").outputs["privateIp"]
    # On a host it shares with Telegraf, Telegraf connects to the loopback address, named too.
    shared = "compact" in program.outputs["sshNodes"]
    assert ips == {public_ip, private_ip, *(["127.0.0.1"] if shared else [])}
    # OpenDTU's mbedTLS matches DNS-type names only: the name, and the address as a name.
    assert names == {program.outputs["mqttHost"], public_ip}
    assert program.outputs["caCert"] == (broker.etc / "certs/ca.crt").read_text()
    assert len(program.outputs["caCert"]) <= 2560  # OpenDTU's limit for the CA PEM


def test_a_foreign_ca_is_refused(program, broker, tmp_path):
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(self_signed("someone else", ca=True)[1])
    _, ok = broker.connect("opendtu", passwords(program)["opendtu"], ca_file=ca_file)
    assert not ok


def test_anonymous_and_wrong_passwords_are_refused(program, broker):
    assert not broker.connect(None, None)[1]
    assert not broker.connect("opendtu", "wrong")[1]
    assert not broker.connect(telegraf(program)[0], passwords(program)["opendtu"])[1]
    assert not broker.connect("nobody", "x")[1]


def test_no_plain_listener_by_default(broker):
    assert "listener 1883" not in (broker.etc / "mosquitto.conf").read_text()
    _, ok = broker.connect("observer", "watch", plain=True)
    assert not ok


def test_opendtu_publishes_its_prefix_only_and_telegraf_reads_it(program, broker):
    pw = passwords(program)
    observer, _ = broker.connect(*broker.observer)
    observer.client.subscribe([("#", 0), ("$SYS/solarmonitor/#", 0)])
    consumer, ok = broker.connect(*telegraf(program))
    assert ok
    consumer.client.subscribe("solar/#", qos=1)
    assert consumer.wait_for(lambda: consumer.granted)
    assert not consumer.granted[0].is_failure
    opendtu, ok = broker.connect("opendtu", pw["opendtu"])
    assert ok
    time.sleep(0.2)
    for topic in ("other/x", "$SYS/solarmonitor/x", f"solar/{SERIAL}/0/power"):
        opendtu.client.publish(topic, "231.4", qos=1)
    assert consumer.wait_for(lambda: consumer.messages)
    assert [m.topic for m in consumer.messages] == [f"solar/{SERIAL}/0/power"]
    assert consumer.messages[0].payload == b"231.4"
    time.sleep(0.3)
    assert {m.topic for m in observer.messages} == {f"solar/{SERIAL}/0/power"}


def test_telegraf_cannot_publish(program, broker):
    observer, _ = broker.connect(*broker.observer)
    observer.client.subscribe("#")
    consumer, ok = broker.connect(*telegraf(program))
    assert ok
    time.sleep(0.2)
    info = consumer.client.publish(f"solar/{SERIAL}/cmd/limit_persistent_relative", "10", qos=1)
    info.wait_for_publish(timeout=3)
    time.sleep(0.3)
    assert observer.messages == []


def test_opendtu_reads_nothing_and_cannot_command_itself(program, broker):
    """OpenDTU's password is readable in its web API on the home network: with it, nobody may
    write a command OpenDTU acts on, nor read anything (tests/test_mqtt_acl_real.py tries every
    user)."""
    observer, _ = broker.connect(*broker.observer)
    observer.client.subscribe("#")
    opendtu, ok = broker.connect("opendtu", passwords(program)["opendtu"])
    assert ok
    opendtu.client.subscribe("solar/#")
    time.sleep(0.2)
    opendtu.client.publish(f"solar/{SERIAL}/cmd/power", "0", retain=True)
    opendtu.client.publish(f"solar/{SERIAL}/0/power", "100")
    assert observer.wait_for(lambda: observer.messages)
    time.sleep(0.3)
    assert [m.topic for m in observer.messages] == [f"solar/{SERIAL}/0/power"]
    assert opendtu.messages == []


def test_retained_values_survive_a_restart(program, broker):
    pw = passwords(program)
    opendtu, ok = broker.connect("opendtu", pw["opendtu"])
    assert ok
    opendtu.client.publish(f"solar/{SERIAL}/0/yieldtotal", "1234.5", qos=1, retain=True)
    assert opendtu.wait_for(lambda: opendtu.published)
    opendtu.close()
    broker.stop()
    broker.start()
    consumer, ok = broker.connect(*telegraf(program))
    assert ok
    consumer.client.subscribe("solar/#", qos=1)
    assert consumer.wait_for(lambda: consumer.messages)
    assert consumer.messages[0].payload == b"1234.5" and consumer.messages[0].retain


def test_plaintext_listener_when_asked_still_needs_passwords(tmp_path):
    run = run_program(dev_config(mqttPlaintext=True))
    broker = Broker(write_etc(service_files(run)["mqtt"], tmp_path / "rendered"))
    with broker:
        anonymous = Client(broker, None, None, plain=True)
        assert not anonymous.connect()
        anonymous.close()
        opendtu = Client(broker, "opendtu", passwords(run)["opendtu"], plain=True)
        assert opendtu.connect(), opendtu.reason
        opendtu.close()
    function = run.one("aws:lambda/function:Function", "ipguard-function")
    assert function.raw_inputs["environment"]["variables"]["PORTS"] == "22,8883,3000,1883"


def test_the_broker_certificate_chains_to_the_ca(program):
    files = service_files(program)["mqtt"]
    ca = x509.load_pem_x509_certificate(files["/etc/mosquitto/certs/ca.crt"].encode())
    server = x509.load_pem_x509_certificate(files["/etc/mosquitto/certs/server.crt"].encode())
    server.verify_directly_issued_by(ca)


def test_the_broker_stays_far_inside_its_memory_share(program, broker):
    """mosquitto with the stack's clients (OpenDTU, and each of Telegraf's consumers subscribed
    at QoS 1) and a flow of values, measured: its resident memory, shared libraries included,
    is half its share of a shared host at most (components/memory.py, MQTT_MIB); there its
    configuration also refuses to allocate past the share less what its count leaves out
    (memory_limit; the flood test below)."""
    conf = (broker.etc / "mosquitto.conf").read_text()
    shared = "compact" in program.outputs["sshNodes"]
    assert (f"\nmemory_limit {(MQTT_MIB - MQTT_UNCOUNTED_MIB) * 2**20}\n" in conf) == shared
    opendtu, ok = broker.connect("opendtu", passwords(program)["opendtu"])
    assert ok
    consumers = len(tomllib.loads(service_files(program)["telegraf"][
        "/etc/telegraf/telegraf.conf"])["inputs"]["mqtt_consumer"])
    for number in range(consumers):
        consumer, ok = broker.connect(*telegraf_login(program, number), port=broker.internal_port)
        assert ok, consumer.reason
        consumer.client.subscribe(f"solar/{SERIAL}/#", qos=1)
    for number in range(2000):
        opendtu.client.publish(f"solar/{SERIAL}/0/power", f"{number}.5", qos=0)
    time.sleep(1)
    status = (Path("/proc") / str(broker.process.pid) / "status").read_text()
    resident_kib = int(status.split("VmRSS:")[1].split()[0])
    assert resident_kib < MQTT_MIB * 1024 / 2, resident_kib


def test_a_flood_of_retained_messages_is_refused_inside_the_brokers_share(program, broker):
    """A publisher with the broker's password that floods it with retained messages (each
    kept in memory: README, "Who can do what") is disconnected by mosquitto itself before the
    broker's resident memory, libraries and TLS included, passes its share of a shared host:
    past the share the kernel would throttle and swap the broker (MemoryHigh) instead, and the
    home's connections would stall rather than the flood be refused."""
    if "compact" not in program.outputs["sshNodes"]:
        pytest.skip("the broker has its instance to itself: nothing limits it")
    opendtu, ok = broker.connect("opendtu", passwords(program)["opendtu"])
    assert ok
    payload = b"x" * 12000  # below max_packet_size
    for number in range(4 * MQTT_MIB * 2**20 // len(payload)):  # bounded: 4 shares' worth
        if opendtu.disconnects:
            break
        info = opendtu.client.publish(f"solar/{SERIAL}/flood/{number}", payload, qos=1,
                                      retain=True)
        if number % 64 == 0:
            opendtu.wait_for(lambda: info.mid in opendtu.published or opendtu.disconnects, 10)
    assert opendtu.disconnects, "the flood was never refused"
    time.sleep(0.5)
    status = (Path("/proc") / str(broker.process.pid) / "status").read_text()
    resident_kib = int(status.split("VmRSS:")[1].split()[0])
    assert resident_kib <= MQTT_MIB * 1024, resident_kib
    assert "out of memory" in broker.log.read_text()
