"""A real mosquitto started from the files the program renders, on loopback ports."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MBEDTLS_CLIENT_SOURCE = Path(__file__).resolve().parent / "mbedtls" / "opendtu_client.c"


def self_signed(common_name: str, sans: list | None = None, ca: bool = False):
    """A throwaway key and self-signed certificate (PEM bytes of each), valid for a day."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(1).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=1)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    cert = builder.sign(key, hashes.SHA256())
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def self_signed_leaf(name: str = "localhost", days: int = 1) -> tuple[bytes, bytes]:
    """A key and a self-signed certificate for `name` that is no CA: what Grafana's certificate
    is (components/certificates.py), for a name that resolves here."""
    return _server_certificate(name, days)


def write_etc(rendered: dict[str, str], target: Path,
              certificate: tuple[bytes, bytes] | None = None) -> Path:
    """The mqtt node's /etc/mosquitto, from a plan's rendered files, as a directory; with
    `certificate` (key, certificate PEM), the server's own replaced by it."""
    for path, content in rendered.items():
        if path.startswith("/etc/mosquitto/"):
            file = target / path.removeprefix("/etc/mosquitto/")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(content)
    if certificate:
        (target / "certs" / "server.key").write_bytes(certificate[0])
        (target / "certs" / "server.crt").write_bytes(certificate[1])
    return target


def add_observer(etc: Path) -> None:
    """A user `observer` (password `watch`) who may read every topic, for a test to watch."""
    subprocess.run(["mosquitto_passwd", "-b", str(etc / "passwd"), "observer", "watch"],
                   check=True, capture_output=True, timeout=10)
    with (etc / "acl").open("a") as acl:
        acl.write("\nuser observer\ntopic read #\n")


def build_mbedtls_client(target: Path) -> Path:
    """Compile the OpenDTU-like client against Debian's libmbedtls (installed by `make test`)."""
    binary = target / "opendtu_client"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(MBEDTLS_CLIENT_SOURCE),
                    "-lmbedtls", "-lmbedx509", "-lmbedcrypto"],
                   check=True, capture_output=True, text=True, timeout=120)
    return binary


class OpenDtu:
    """The mbedTLS 2.28 client, connecting as OpenDTU does (see tests/mbedtls/opendtu_client.c)."""

    def __init__(self, binary: Path, broker: "Broker", ca_file: Path):
        self.binary, self.broker, self.ca_file = binary, broker, ca_file

    def connect(self, hostname: str, user: str, password: str, prefix: str = "solar/",
                retain: bool = False, client_id: str = "OpenDTU-3221224", lines: str | None = None,
                port: int | None = None, timeout: float = 120,
                ciphersuites: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """Connect with `hostname` as OpenDTU's "Hostname" (the TLS name it verifies), to the
        broker's loopback port; publish "topic<TAB>payload" `lines` when given; offer only
        `ciphersuites` (mbedTLS names) when given."""
        arguments = [str(self.binary), "127.0.0.1", str(port or self.broker.tls_port), hostname,
                     str(self.ca_file), user, client_id, prefix, "1" if retain else "0"]
        if lines is not None:
            arguments.append("--stdin")
        return subprocess.run(arguments, input=lines or "", capture_output=True, text=True,
                              timeout=timeout, env={"MQTT_PASSWORD": password,
                                                    "MBEDTLS_CIPHERSUITES": ",".join(ciphersuites)})


def telegraf_login(run, consumer: int = 0) -> tuple[str, str]:
    """The username of a rendered Telegraf consumer (its client id: the broker keys sessions by
    username) and Telegraf's password: what a Telegraf-like test client connects with."""
    import tomllib

    from conftest import service_files
    conf = tomllib.loads(service_files(run)["telegraf"]["/etc/telegraf/telegraf.conf"])
    password = run.one("random:index/randomPassword:RandomPassword",
                       "mqtt-telegraf-password").outputs["result"]
    return conf["inputs"]["mqtt_consumer"][consumer]["username"], password


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto running on `etc_mosquitto` (a copy of the node's /etc/mosquitto)."""

    def __init__(self, etc_mosquitto: Path):
        # Not under pytest's tmp_path: mosquitto drops root for its own user before it reads
        # the password file, and pytest's base directory is private to root.
        self.workdir = workdir = Path(tempfile.mkdtemp(prefix="solarmonitor-mqtt-"))
        self.etc = workdir / "etc"
        self.data = workdir / "data"
        # The node's ports, each on a free loopback port here.
        self.ports = {8883: free_port(), 8884: free_port(), 1883: free_port()}
        self.tls_port, self.internal_port, self.plain_port = (
            self.ports[8883], self.ports[8884], self.ports[1883])
        shutil.copytree(etc_mosquitto, self.etc, dirs_exist_ok=True)
        self.data.mkdir(exist_ok=True)
        conf = (self.etc / "mosquitto.conf").read_text()
        conf = (conf.replace("/etc/mosquitto/", f"{self.etc}/")
                .replace("/var/lib/mosquitto/", f"{self.data}/"))
        for node_port, port in self.ports.items():
            # Every listener on loopback here, the one a shared host binds there too.
            conf = re.sub(rf"^listener {node_port}( 127\.0\.0\.1)?$", f"listener {port} 127.0.0.1",
                          conf, flags=re.MULTILINE)
        (self.etc / "mosquitto.conf").write_text(conf)
        if os.geteuid() == 0:  # mosquitto drops root for its own user, as on the node
            user = pwd.getpwnam("mosquitto")
            for path in [workdir, *workdir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        self.process: subprocess.Popen | None = None
        self.log = workdir / "mosquitto.log"

    def start(self) -> "Broker":
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.etc / "mosquitto.conf")],
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        # Every listener, not only the first: mosquitto binds them one after the other, and a
        # client of the second could otherwise be refused right after a restart.
        conf = (self.etc / "mosquitto.conf").read_text()
        waiting = [port for port in self.ports.values() if f"listener {port} " in conf]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            try:
                for port in list(waiting):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    waiting.remove(port)
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen within 10 s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


class Client:
    """A paho client that connects, or says why it could not; every wait is bounded."""

    def __init__(self, broker: Broker, user: str | None, password: str | None,
                 ca_file: Path | None = None, plain: bool = False, client_id: str | None = None,
                 clean: bool = True, port: int | None = None):
        self.messages: list[mqtt.MQTTMessage] = []
        self.granted: list = []
        self.published: set[int] = set()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean)
        if user is not None:
            self.client.username_pw_set(user, password)
        if not plain:
            context = ssl.create_default_context(cafile=str(ca_file or broker.etc / "certs/ca.crt"))
            context.check_hostname = False  # the certificate names the node's addresses
            self.client.tls_set_context(context)
        self.reason = None
        self.session_present = None
        self.disconnects: list = []

        def on_connect(client, userdata, flags, reason, properties):
            self.session_present = flags.session_present
            self.reason = reason

        self.client.on_connect = on_connect
        self.client.on_disconnect = lambda c, u, flags, reason, p: self.disconnects.append(reason)
        self.client.on_message = lambda c, u, message: self.messages.append(message)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.extend(codes)
        self.client.on_publish = lambda c, u, mid, codes, p: self.published.add(mid)
        self.port = port or (broker.plain_port if plain else broker.tls_port)

    def connect(self, timeout: float = 5) -> bool:
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10)
        except (ssl.SSLError, OSError) as error:
            self.reason = error
            return False
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while self.reason is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.reason is not None and not getattr(self.reason, "is_failure", True)

    def wait_for(self, condition, timeout: float = 3) -> bool:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)
        return condition()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def issued_by(issuer_cert, issuer_key, name: str, days: int = 1) -> tuple[bytes, bytes]:
    """A key and a server certificate (no CA) for `name`, signed with `issuer_key` under
    `issuer_cert`'s name (PEM bytes of each)."""
    return _server_certificate(name, days, issuer_cert.subject, issuer_key)


def _server_certificate(name: str, days: int, issuer_name=None, issuer_key=None):
    """A new key and a certificate (no CA) for `name`, valid `days`: self-signed, or signed with
    `issuer_key` under `issuer_name` (PEM bytes of each)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer_name or subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(issuer_key or key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def signed_by_stack_ca(run, name: str = "localhost", days: int = 1) -> tuple[bytes, bytes]:
    """A key and a certificate for `name`, signed by the stack's own CA (from the mock engine's
    run): what a node's certificate is, for a name that resolves here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca_key = serialization.load_pem_private_key(
        next(r for r in run.resources if r.name == "ca-key").outputs["privateKeyPem"].encode(),
        password=None)
    ca_cert = x509.load_pem_x509_certificate(run.outputs["caCert"].encode())
    return issued_by(ca_cert, ca_key, name, days)


def observe(broker: Broker) -> Client:
    """The `observer` (add_observer), connected and subscribed to every topic."""
    observer = Client(broker, "observer", "watch")
    assert observer.connect()
    observer.client.subscribe("#", qos=1)
    assert observer.wait_for(lambda: observer.granted)
    return observer
