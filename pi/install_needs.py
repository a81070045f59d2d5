#!/usr/bin/env python3
"""What pi/install.sh sets up for a Pi config (`piAgentConfig`): the one place that decides it.

`python3 install_needs.py CONFIG` prints the optional parts the config asks for, one per line:
    bridge      the battery bridge: its venv and solarmonitor-solix-bridge.service
    bluetooth   BlueZ, and the service user in group `bluetooth` (the bridge reads batteries
                over Bluetooth)
The IP agent is always installed. A config that cannot be read is one line on stderr, exit 2.
It runs on the system's python3 before any venv exists: standard library only.
"""

from __future__ import annotations

import configparser
import sys


def devices(ini: configparser.ConfigParser) -> list[str]:
    """The `[solix] devices` entries (`none` or empty: no battery over Bluetooth)."""
    entries = (entry.strip() for entry in ini.get("solix", "devices", fallback="").split(","))
    return [entry for entry in entries if entry and entry.lower() != "none"]


def needs(ini: configparser.ConfigParser) -> list[str]:
    """The parts to install; every other optional part is removed (see pi/install.sh)."""
    bluetooth = bool(devices(ini))
    # Anker's cloud, for batteries without a local interface: the same bridge, no Bluetooth.
    cloud = bool(ini.get("solix_cloud", "email", fallback="").strip())
    parts = []
    if bluetooth or cloud:
        parts.append("bridge")
    if bluetooth:
        parts.append("bluetooth")
    return parts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: install_needs.py CONFIG", file=sys.stderr)
        return 2
    ini = configparser.ConfigParser(interpolation=None)
    try:
        with open(argv[0], encoding="utf-8") as file:
            ini.read_file(file)
    except (OSError, UnicodeDecodeError, configparser.Error) as error:
        reason = str(error).splitlines()[0]
        print(f"{argv[0]} is not a Pi config (the piAgentConfig output): {reason}",
              file=sys.stderr)
        return 2
    for part in needs(ini):
        print(part)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
