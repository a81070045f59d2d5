"""The reading side of the Solix bridge: Anker Solix devices over Bluetooth, through SolixBLE.

It knows nothing of MQTT: it hands `Reading`s (one device's values at one moment) to whoever
started it. Another source (Anker's cloud API, for the Solarbank E1600, which has no local
interface) can hand over the same `Reading`s without touching topics, users or Telegraf.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

LOG = logging.getLogger("solix")
ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
FIND_SECONDS = 20
RETRY_SECONDS = 60
# SolixBLE's own bookkeeping, not the device's values (SolixBLE/device.py).
NOT_VALUES = {"address", "name", "connected", "negotiated", "available", "serial_number"}
# What SolixBLE reports for a value it does not know (SolixBLE/const.py: DEFAULT_METADATA_*).
UNKNOWN = (-1, -1.0, None, "Unknown")


@dataclass(frozen=True)
class DeviceSpec:
    address: str
    """The device's Bluetooth address, upper case (AA:BB:CC:DD:EE:FF)."""
    model: str
    """The SolixBLE class that reads it (Solarbank2, C1000, ...)."""


@dataclass(frozen=True)
class Reading:
    """One device's known values at one moment: numbers, and texts (enums by name, strings)."""
    serial: str
    model: str
    numbers: dict[str, float] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


def value_names(device_class: type) -> list[str]:
    """The device's values: the public properties of its SolixBLE class."""
    return sorted(name for name, member in inspect.getmembers(device_class)
                  if isinstance(member, property) and not name.startswith("_")
                  and name not in NOT_VALUES)


def classify(value: Any) -> tuple[str, float | str] | None:
    """("number", n) or ("text", s) for a value worth publishing; None for an unknown one.

    Numbers stay numbers (booleans as 0/1, times as Unix seconds); enums go by name, to the
    texts, so a float parser never sees them."""
    if isinstance(value, enum.Enum):
        if value.value in UNKNOWN or value.name == "UNKNOWN":
            return None
        return "text", value.name
    if isinstance(value, bool):
        return "number", int(value)
    if isinstance(value, datetime):
        return "number", round(value.timestamp(), 3)
    if isinstance(value, (int, float)):
        return None if value in UNKNOWN else ("number", value)
    if isinstance(value, str):
        return None if value in UNKNOWN or not value.strip() else ("text", value.strip())
    return None


def read(device: Any, model: str) -> Reading:
    """A `Reading` of a connected SolixBLE device; values it cannot parse are left out."""
    numbers, texts = {}, {}
    for name in value_names(type(device)):
        try:
            kind_value = classify(getattr(device, name))
        except Exception as error:  # SolixBLE raises on undocumented states, per value
            LOG.debug("%s: %s unreadable (%s)", device.address, name, error)
            continue
        if kind_value is not None:
            (numbers if kind_value[0] == "number" else texts)[name] = kind_value[1]
    serial = getattr(device, "serial_number", None)
    if serial in UNKNOWN or not re.fullmatch(r"[A-Za-z0-9_-]+", str(serial)):
        serial = device.address.replace(":", "")
    return Reading(serial=str(serial), model=model, numbers=numbers, texts=texts)


class BleSource:
    """Connects every configured device through SolixBLE and hands over its spec and a `Reading`
    on each telemetry update. SolixBLE reconnects by itself after a lost connection; a device not found
    or not connected at the start is tried again every `RETRY_SECONDS`."""

    def __init__(self, devices: list[DeviceSpec],
                 on_reading: Callable[[DeviceSpec, Reading], None]):
        import SolixBLE  # on the Pi only in the bridge's venv

        self.solixble = SolixBLE
        self.devices, self.on_reading = devices, on_reading
        self.connected: dict[str, bool] = {}
        self.tasks: list[asyncio.Task] = []
        self.clients: list[Any] = []

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(spec)) for spec in self.devices]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.disconnect()

    async def _run(self, spec: DeviceSpec) -> None:
        from bleak import BleakScanner

        device_class = getattr(self.solixble, spec.model)
        while True:
            found = await BleakScanner.find_device_by_address(spec.address, timeout=FIND_SECONDS)
            if found is None:
                LOG.warning("%s (%s): not found over Bluetooth; trying again in %d s",
                            spec.address, spec.model, RETRY_SECONDS)
            else:
                device = device_class(found)
                device.add_callback(lambda device=device: self._changed(device, spec))
                if await device.connect():
                    self.clients.append(device)
                    return
                LOG.warning("%s (%s): could not connect; trying again in %d s",
                            spec.address, spec.model, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)

    def _changed(self, device: Any, spec: DeviceSpec) -> None:
        if device.connected != self.connected.get(spec.address):
            self.connected[spec.address] = device.connected
            LOG.info("%s (%s): %s", spec.address, spec.model,
                     "connected" if device.connected else "disconnected")
        if device.available:
            self.on_reading(spec, read(device, spec.model))
