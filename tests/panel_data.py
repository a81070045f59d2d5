"""Shared by the worked-dataset tests (tests/test_panels.py, tests/test_alert_data.py): datasets
as Telegraf writes them, the pipeline a rendered query runs, and Grafana's own range, interval and
display code (tests/js/grafana-panel.cjs, one node process for a whole test module)."""

from __future__ import annotations

import json
import re
import select
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import flux_mirror as fx
from flux_contract import code

BERLIN = ZoneInfo("Europe/Berlin")
UTC = fx.UTC
JS = Path(__file__).parent / "js"
SERIAL, OTHER = "116190745400", "116190745401"


# --- what a rendered query runs ---------------------------------------------------------------

def statements(query: str) -> list[str]:
    """The query's top-level statements, comments and blank lines left out."""
    out, current = [], []
    for line in code(query).splitlines():
        if line and not line[0].isspace() and not line.startswith("|>") and current:
            out.append("\n".join(current))
            current = []
        current.append(line)
    out.append("\n".join(current))
    return [s.strip() for s in out if s.strip()]


def main_statements(query: str) -> list[str]:
    """The query's top-level expressions that are not definitions (what it returns)."""
    return [s for s in statements(query) if not re.match(r"(import|option)\b|\w+ = ", s)]


def definition(query: str, name: str) -> str:
    """The body of `name = ...` in the query."""
    (found,) = [s for s in statements(query) if s.startswith(f"{name} = ")]
    return found


def pipeline(statement: str) -> list[str]:
    """The function (or stream) a statement or a definition's body starts with, then every
    function piped to, in order."""
    body = re.sub(r"^\w+ = (\([^)]*\) => )?", "", statement)
    return [re.match(r"\w+(?:\.\w+)?", body).group(0),
            *re.findall(r"\|>\s*(\w+)\(", body)]


# --- datasets, as Telegraf writes them (components/opendtu_data.py) ---------------------------

def at(text: str) -> datetime:
    """A Berlin wall-clock time as an instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def inverter(serial: str, channel: str, field: str, t: datetime, value,
             measurement: str = "mqtt_consumer") -> dict:
    """One value of an inverter as Telegraf stores it: tags serial, channel and topic."""
    return {"_measurement": measurement, "serial": serial, "channel": channel,
            "topic": f"solar/{serial}/{channel}/{field}", "_field": field, "_time": t,
            "_value": value}


def yieldtotal(t: datetime, kwh: float, serial: str = SERIAL, channel: str = "0") -> dict:
    return inverter(serial, channel, "yieldtotal", t, kwh)


def every(start: datetime, stop: datetime, spacing: timedelta):
    t = start
    while t < stop:
        yield t
        t += spacing


def sunny_day(day: str, start_kwh: float, kwh: float, spacing=timedelta(minutes=5),
              silent=(), serial: str = SERIAL, channel: str = "0") -> list[dict]:
    """yieldtotal every `spacing` from 06:00 to 20:30 local, `kwh` produced evenly between 08:00
    and 18:00, nothing published in the `silent` (from, to) stretches."""
    points = []
    first, last = at(f"{day}T08:00"), at(f"{day}T18:00")
    for t in every(at(f"{day}T06:00"), at(f"{day}T20:30") + spacing, spacing):
        share = min(max((t - first) / (last - first), 0.0), 1.0)
        if not any(at(a) <= t < at(b) for a, b in silent):
            points.append(yieldtotal(t, round(start_kwh + kwh * share, 3), serial, channel))
    return points


# --- Grafana's own code ------------------------------------------------------------------------

class Grafana:
    """@grafana/data in one node process (tests/js/grafana-panel.cjs): a panel's time range and
    v.windowPeriod, and what a panel shows of a query's result."""

    def __init__(self):
        self.process = subprocess.Popen(["node", str(JS / "grafana-panel.cjs")], cwd=JS,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, request: dict):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        assert ready, "node did not answer within 60 s"
        line = self.process.stdout.readline()
        assert line, f"node ended: {self.process.wait(timeout=10)}"
        return json.loads(line)

    def ranges(self, now: datetime, panels: list[dict], dashboard_range=("now-24h", "now")):
        """[(from, to, intervalMs)] per panel {timeFrom, width, minInterval}."""
        answer = self.ask({"op": "ranges", "now": now.isoformat(), "timezone": "Europe/Berlin",
                           "dashboard": {"from": dashboard_range[0], "to": dashboard_range[1]},
                           "panels": panels})
        return [(datetime.fromisoformat(r["from"].replace("Z", "+00:00")),
                 datetime.fromisoformat(r["to"].replace("Z", "+00:00")), r["intervalMs"])
                for r in answer]

    def shows(self, panel: dict, *streams: fx.Stream) -> dict:
        """{names: every series' display name (legends, table headers), values: [{title, text,
        color}] as a stat, gauge or bar gauge shows them} for the panel's results."""
        frames = [frame for stream in streams for frame in fx.frames(stream)]
        return self.ask({"op": "display", "timezone": "Europe/Berlin", "frames": frames,
                         "panel": {"fieldConfig": panel.get("fieldConfig", {}),
                                   "options": panel.get("options", {})}})

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def grafana():
    client = Grafana()
    yield client
    client.close()
