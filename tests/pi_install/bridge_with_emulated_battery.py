"""The installed Solix bridge with an emulated battery in place of Bluetooth, for
tests/test_pi_install.py, which puts this file and the emulator (next to it, in `site/`) into a
Debian root for the test only and runs it with the bridge venv's python, as the unit's user:

    python bridge_with_emulated_battery.py /opt/solarmonitor-ip-agent/solix_bridge.py --config FILE --once

Real: the bridge as installed (its code, and SolixBLE, bleak, paho-mqtt and cryptography from its
venv, on the root's Python), its `main()` with the installed config. Emulated, as in
tests/test_solix_bridge.py: the battery (anker-ble-emulator's Solarbank 2, A17C1, behind bleak
with the real key negotiation; `EmulatedConnection` patches SolixBLE's connect path) and BlueZ's
scan (bleak's `BleakScanner.find_device_by_address` finds the emulated device).
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "site"))
bridge = Path(sys.argv[1])
sys.path.insert(0, str(bridge.parent))

import solix_bridge  # noqa: E402
from anker_ble_emulator import A17C1  # noqa: E402
from anker_ble_emulator.testing import EmulatedConnection  # noqa: E402
from bleak import BleakScanner  # noqa: E402

device = A17C1()


async def find_device_by_address(address, timeout=10.0, **kwargs):
    return device.ble_device if address == device.address else None


real_run = solix_bridge.run


async def run_with_the_battery(*args, **kwargs):
    async def push():  # like a real device, it sends its telemetry every 0.2 s once connected
        while True:
            await asyncio.sleep(0.2)
            device.press_button()
            for code in device.profile.pushes:
                device.push(code)

    pusher = asyncio.create_task(push())
    try:
        async with EmulatedConnection(device):
            return await real_run(*args, **kwargs)
    finally:
        pusher.cancel()


BleakScanner.find_device_by_address = find_device_by_address
solix_bridge.run = run_with_the_battery
sys.exit(solix_bridge.main(sys.argv[2:]))
