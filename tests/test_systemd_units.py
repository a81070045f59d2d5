"""Every systemd unit the stack installs (the Pi's agent, timer and battery bridge, the broker
host's NAT unit, InfluxDB's drop-in), read by systemd's own parser: `systemd-analyze verify`
(Debian's systemd 252). systemd ignores an unknown key or a bad value with only a log line, so a
misspelt `RestartSec` or `ProtectSystem` would quietly drop a setting. The programs a unit starts
are installed on the node, not here, so "is not executable" is the one message allowed."""

import subprocess
from pathlib import Path

from components.provisioning import slug
from conftest import ROOT
from tools.plan import rendered_files

PI_UNITS = [ROOT / "pi" / "solarmonitor-ip-agent.service", ROOT / "pi" / "solarmonitor-ip-agent.timer",
            ROOT / "pi" / "solarmonitor-solix-bridge.service"]
SYSTEMD = "/etc/systemd/system/"


def systemd_complaints(units: dict[str, str], work: Path) -> list[str]:
    """What systemd-analyze says about the units {file name: text}, minus missing programs."""
    work.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (work / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify",
                           "--man=no", *sorted(units)], cwd=work, capture_output=True, text=True,
                          timeout=60, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    return [line for line in lines if line.strip() and "is not executable" not in line]


def installed_units(run) -> dict[str, str]:
    """The Pi's units as installed, and every unit and drop-in the program writes on a node,
    rendered; a drop-in is checked as a unit that carries it."""
    units = {unit.name: unit.read_text() for unit in PI_UNITS}
    for node, files in rendered_files(run).items():
        for path, text in files.items():
            if not path.startswith(SYSTEMD):
                continue
            name = path.removeprefix(SYSTEMD)
            if ".d/" in name:
                name, text = (f"{node}-{slug(name)}.service",
                              text + "\n[Service]\nExecStart=/bin/true\n")
            units[name] = text
    return units


def test_systemd_reads_every_unit_without_a_complaint(dev_run, tmp_path):
    units = installed_units(dev_run)
    influx = [name for name in units if "influxdb-service-d-solarmonitor-conf" in name]
    assert influx and ("solarmonitor-nat.service" in units) == ("mqtt" in dev_run.outputs["sshNodes"])
    if "compact" in dev_run.outputs["sshNodes"]:  # a memory share for each service
        assert sum("solarmonitor-memory-conf" in name for name in units) == 4
    assert systemd_complaints(units, tmp_path) == []


def test_a_misspelt_key_and_a_bad_value_are_reported(tmp_path):
    unit = (ROOT / "pi" / "solarmonitor-solix-bridge.service").read_text()
    broken = unit.replace("RestartSec=30", "RestartSecs=30").replace(
        "ProtectSystem=strict", "ProtectSystem=strictt")
    complaints = "\n".join(systemd_complaints({"bridge.service": broken}, tmp_path))
    assert "Unknown key 'RestartSecs'" in complaints and "strictt" in complaints
