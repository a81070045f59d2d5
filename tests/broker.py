"""A real mosquitto started from the files the program renders, on loopback ports."""

from __future__ import annotations

import os
import pwd
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
        self.tls_port = free_port()
        self.plain_port = free_port()
        shutil.copytree(etc_mosquitto, self.etc, dirs_exist_ok=True)
        self.data.mkdir(exist_ok=True)
        conf = (self.etc / "mosquitto.conf").read_text()
        conf = (conf.replace("/etc/mosquitto/", f"{self.etc}/")
                .replace("/var/lib/mosquitto/", f"{self.data}/")
                .replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
                .replace("listener 1883", f"listener {self.plain_port} 127.0.0.1"))
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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2).close()
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
                 clean: bool = True):
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
        self.client.on_connect = lambda c, u, f, reason, p: setattr(self, "reason", reason)
        self.client.on_message = lambda c, u, message: self.messages.append(message)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.extend(codes)
        self.client.on_publish = lambda c, u, mid, codes, p: self.published.add(mid)
        self.port = broker.plain_port if plain else broker.tls_port

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
