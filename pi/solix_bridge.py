#!/usr/bin/env python3
"""solarmonitor Solix bridge: Anker Solix batteries, read over Bluetooth or from Anker's cloud,
to the stack's broker.

`python3 solix_bridge.py --config FILE [--once]`, with FILE the Pi's INI (`piAgentConfig`):
    [mqtt]  host, port, ca (the CA's PEM, inline) or ca_file, username, password, topic_prefix
    [solix] devices = AA:BB:CC:DD:EE:FF=Solarbank2, ...    interval = 30 (seconds)
    [solix_cloud] email, password, country (ISO code), and optionally server, server_public_key,
                  ca_file, interval (seconds, default 60)   (see solix_cloud.py)
Either source, or both. The file is read without interpolation: a password may hold `%`.

It publishes each device's latest values every `interval` seconds (and its first ones at once)
over MQTT/TLS, below <topic_prefix>/solix/ (see solix_topics.py), and keeps a retained
`solix/bridge/status` online, offline by its will when it goes away. The cloud's Solarbanks are
published each time they are read, except a Solarbank this bridge reads over Bluetooth (same
serial): with both sources the cloud is first read once every device has given values over
Bluetooth, or after --wait seconds. When the cloud fails, the broker side and Bluetooth keep
running; the problem is logged once, and the cloud is asked again later and later.
--once: waits (at most --wait seconds) for every device's first values, reads the cloud once
(after a login, before anything else), publishes them, exits.

Exit codes: 0 fine; 1 a device (or the cloud's account) gave no values; 2 the broker refused or
could not be reached; 3 bad config; 4 the cloud refused the login or could not be read. One line
says why; a password never appears in what it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import logging
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from solix_cloud import (  # noqa: E402
    CloudClient, CloudError, CloudPoller, CloudSettings, parse_settings as parse_cloud,
)
from solix_source import ADDRESS, BleSource, DeviceSpec, Reading  # noqa: E402
from solix_topics import STATUS, messages  # noqa: E402

LOG = logging.getLogger("solix")
EXIT_OK, EXIT_DEVICE, EXIT_BROKER, EXIT_CONFIG, EXIT_CLOUD = 0, 1, 2, 3, 4
# SolixBLE's device classes that read a battery or power station (SolixBLE 3.9.0).
MODELS = ("C300", "C300DC", "C800", "C1000", "C1000G2", "F2000", "F2600", "F3800",
          "Solarbank2", "Solarbank3", "PrimeCharger160w", "PrimeCharger250w",
          "PrimePowerBank20k", "MagGo3in1")
CONNECT_SECONDS = 15


class BridgeError(Exception):
    """A problem to report in one line; `code` is the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    ca_pem: str
    username: str
    password: str
    prefix: str
    devices: list[DeviceSpec]
    interval: float
    cloud: CloudSettings | None = None


def parse_devices(text: str) -> list[DeviceSpec]:
    devices = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry or entry.lower() == "none":
            continue
        address, _, model = (part.strip() for part in entry.partition("="))
        if not ADDRESS.match(address.upper()):
            raise BridgeError(f"[solix] devices: {address!r} is not a Bluetooth address "
                              "such as AA:BB:CC:DD:EE:FF", EXIT_CONFIG)
        if model not in MODELS:
            raise BridgeError(f"[solix] devices: unknown model {model!r} for {address}; "
                              f"expected one of {', '.join(MODELS)}", EXIT_CONFIG)
        devices.append(DeviceSpec(address.upper(), model))
    return devices


def load_settings(path: str) -> Settings:
    try:
        text = Path(path).read_text(encoding="utf-8")  # as the stack writes it, whatever the locale
    except OSError:
        raise BridgeError(f"cannot read config file {path}", EXIT_CONFIG) from None
    return load_settings_from_text(text, path)


def load_settings_from_text(text: str, path: str = "config") -> Settings:
    ini = configparser.ConfigParser(interpolation=None)
    try:
        ini.read_string(text)
        mqtt, solix = ini["mqtt"], ini["solix"] if ini.has_section("solix") else {}
        ca_pem = mqtt.get("ca", "").strip()
        if not ca_pem and mqtt.get("ca_file"):
            ca_pem = Path(mqtt["ca_file"]).read_text()
        port = int(mqtt.get("port", "8883"))
        interval = float(solix.get("interval", "30"))
        cloud = parse_cloud(ini["solix_cloud"]) if ini.has_section("solix_cloud") else None
        settings = Settings(host=mqtt["host"].strip(), port=port, ca_pem=ca_pem,
                            username=mqtt["username"].strip(), password=mqtt["password"].strip(),
                            prefix=mqtt.get("topic_prefix", "solar").strip().rstrip("/"),
                            devices=parse_devices(solix.get("devices", "")), interval=interval,
                            cloud=cloud)
    except KeyError as missing:
        raise BridgeError(f"{path}: missing setting {missing}", EXIT_CONFIG) from None
    except (ValueError, OSError, configparser.Error) as error:
        raise BridgeError(f"{path}: {error}", EXIT_CONFIG) from None
    if not settings.ca_pem:
        raise BridgeError(f"{path}: [mqtt] needs ca (the CA's PEM) or ca_file", EXIT_CONFIG)
    return settings


class Publisher:
    """MQTT over TLS to the broker, verified against the stack's CA, with a retained status."""

    def __init__(self, settings: Settings, client_id: str | None = None,
                 connect_to: tuple[str, int] | None = None):
        import paho.mqtt.client as mqtt

        self.settings = settings
        self.connect_to = connect_to or (settings.host, settings.port)
        self.status = f"{settings.prefix}/{STATUS}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, clean_session=True,
                                  client_id=client_id or f"solarmonitor-solix-{socket.gethostname()}")
        self.client.username_pw_set(settings.username, settings.password)
        try:
            context = ssl.create_default_context(cadata=settings.ca_pem)
        except ssl.SSLError as error:
            raise BridgeError(f"[mqtt] ca is not a usable CA certificate ({error})",
                              EXIT_CONFIG) from None
        context.check_hostname = connect_to is None  # a test connects to loopback
        self.client.tls_set_context(context)
        self.client.will_set(self.status, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=120)
        self.refused: str | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            return
        LOG.info("broker %s:%d: connected", *self.connect_to)
        client.publish(self.status, "online", qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        LOG.info("broker %s:%d: disconnected (%s)", *self.connect_to, reason)

    def connect(self) -> None:
        """Connect now, or raise BridgeError saying why (name, CA, password, address)."""
        host, port = self.connect_to
        try:
            self.client.connect(host, port, keepalive=60)
        except ssl.SSLCertVerificationError as error:
            raise BridgeError(f"broker {host}:{port}: its certificate does not verify against "
                              f"[mqtt] ca ({error.verify_message})", EXIT_BROKER) from None
        except (OSError, ssl.SSLError) as error:
            raise BridgeError(f"broker {host}:{port} unreachable: {error}", EXIT_BROKER) from None
        self.client.loop_start()
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self.client.is_connected() and self.refused is None:
            if time.monotonic() > deadline:
                self.stop()
                raise BridgeError(f"broker {host}:{port}: no answer to CONNECT", EXIT_BROKER)
            time.sleep(0.05)
        if self.refused:
            self.stop()
            raise BridgeError(f"broker {host}:{port} refused {self.settings.username!r}: "
                              f"{self.refused}", EXIT_BROKER)

    def publish(self, reading: Reading) -> None:
        # QoS 0: a value the broker cannot take now is dropped, never sent later. Telegraf stamps
        # each value with the time it arrives (its value parser), so a late value is a wrong one;
        # paho keeps QoS 1 messages published while disconnected and sends them, and those in
        # flight again, after it reconnects (client.py: publish() queues, _messages_reconnect_reset).
        # At QoS 0 a disconnected client refuses them (_send_publish: MQTT_ERR_NO_CONN).
        for topic, payload in messages(self.settings.prefix, reading):
            self.client.publish(topic, payload, qos=0)

    def stop(self, say_offline: bool = False) -> None:
        if say_offline and self.client.is_connected():
            self.client.publish(self.status, "offline", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


class ReadOverBluetooth:
    """The serials the Bluetooth source reads, for the cloud to leave those Solarbanks to it:
    a Solarbank 2 or 3 in the account would otherwise land twice, as two series (model tag
    Solarbank2 over Bluetooth, A17C1 from the cloud). The serial SolixBLE reads is the device_sn
    the cloud lists (the device's `a2` value: anker-solix-api mqttmap.py:1875)."""

    def __init__(self, devices: int):
        self.devices = devices
        self.serials: set[str] = set()
        self.each_once = asyncio.Event()
        """Set when every configured device has given values (the cloud waits for it first)."""

    def add(self, reading: Reading) -> None:
        self.serials.add(reading.serial)
        if len(self.serials) >= self.devices:
            self.each_once.set()


async def run(settings: Settings, once: bool, wait: float, publisher: Publisher,
              cloud: CloudClient | None = None) -> int:
    """Read every source and publish; with `once`, until each has been published once."""
    sources, bluetooth = [], ReadOverBluetooth(len(settings.devices))
    if settings.devices:
        sources.append(run_bluetooth(settings, once, wait, publisher, bluetooth))
    if settings.cloud:
        sources.append(run_cloud(cloud or CloudClient(settings.cloud), once, publisher,
                                 bluetooth if settings.devices else None, wait))
    codes = await asyncio.gather(*sources)
    return next((code for code in codes if code), EXIT_OK)


async def run_bluetooth(settings: Settings, once: bool, wait: float, publisher: Publisher,
                        bluetooth: ReadOverBluetooth | None = None) -> int:
    latest: dict[str, Reading] = {}

    def on_reading(spec: DeviceSpec, reading: Reading) -> None:
        first = spec.address not in latest
        latest[spec.address] = reading
        if bluetooth:
            bluetooth.add(reading)
        if first:  # the first values go out at once, the others every `interval`
            publisher.publish(reading)

    source = BleSource(settings.devices, on_reading)
    await source.start()
    try:
        if once:
            deadline = time.monotonic() + wait
            while len(latest) < len(settings.devices) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            missing = [f"{spec.address} ({spec.model})" for spec in settings.devices
                       if spec.address not in latest]
            if missing:
                LOG.error("solix bridge: no values within %g s from %s", wait, ", ".join(missing))
                return EXIT_DEVICE
            return EXIT_OK
        while True:
            await asyncio.sleep(settings.interval)
            for reading in list(latest.values()):
                publisher.publish(reading)
    finally:
        await source.stop()


async def run_cloud(client: CloudClient, once: bool, publisher: Publisher,
                    bluetooth: ReadOverBluetooth | None = None, wait: float = 60) -> int:
    left_out: set[str] = set()

    def publish(reading: Reading) -> None:
        if bluetooth and reading.serial in bluetooth.serials:
            if reading.serial not in left_out:
                LOG.info("%s: %s (%s) is read over Bluetooth: its cloud values are left out",
                         client.name, reading.serial, reading.model)
                left_out.add(reading.serial)
            return
        publisher.publish(reading)

    if bluetooth:  # Bluetooth's first values first, so the cloud knows what to leave out
        try:
            await asyncio.wait_for(bluetooth.each_once.wait(), wait)
        except asyncio.TimeoutError:
            pass  # a device that gives nothing does not hold back the cloud
    if not once:
        await CloudPoller(client, publish).run()  # runs until the bridge stops
        return EXIT_OK
    try:
        result = await asyncio.to_thread(client.read)
    except CloudError as error:
        LOG.error("solix bridge: %s", error)
        return EXIT_CLOUD
    for reading in result.readings:
        publish(reading)
    for note in result.notes:
        LOG.warning("solix bridge: %s", note)
    for error in result.errors:
        LOG.error("solix bridge: %s", error)
    if result.errors:
        return EXIT_CLOUD
    if not result.readings:
        LOG.error("solix bridge: %s: no Solarbank values in %s's sites", client.name,
                  client.settings.email)
        return EXIT_DEVICE
    LOG.info("%s: published %s", client.name,
             ", ".join(f"{r.serial} ({r.model})" for r in result.readings
                       if r.serial not in left_out) or "none")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the Pi's INI file")
    parser.add_argument("--once", action="store_true",
                        help="publish every device's first values, then exit")
    parser.add_argument("--wait", type=float, default=60,
                        help="with --once: how long to wait for them; with Bluetooth and the "
                        "cloud: how long the cloud waits for them (seconds, default 60)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("SolixBLE").setLevel(logging.CRITICAL)  # its own retries, in tracebacks
    try:
        settings = load_settings(options.config)
        if not settings.devices and not settings.cloud:
            print("no [solix] devices and no [solix_cloud] configured: nothing to bridge")
            return EXIT_OK
        cloud = CloudClient(settings.cloud) if settings.cloud else None
        if cloud and options.once:  # a refused login says so before anything else happens
            cloud.login()
        publisher = Publisher(settings)
        publisher.connect()
    except BridgeError as error:
        print(f"solix bridge: {error}")
        return error.code
    except ValueError as error:  # the cloud's CA file
        print(f"solix bridge: {options.config}: {error}")
        return EXIT_CONFIG
    except CloudError as error:
        print(f"solix bridge: {error}")
        return EXIT_CLOUD
    try:
        return asyncio.run(run(settings, options.once, options.wait, publisher, cloud))
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        publisher.stop(say_offline=True)


if __name__ == "__main__":
    sys.exit(main())
