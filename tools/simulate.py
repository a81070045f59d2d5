"""make simulate: an OpenDTU without hardware. Publishes the topics of the data description
(components/opendtu_data.py) for N inverters with M inputs every T seconds, the way the firmware
does: QoS 0, the retain flag of openDtuSettings (--retain for the firmware's default), its topic
layout and strings, channel values only while the inverter reports (the sun is up), the DTU's
health, "online" on dtu/status at connect and "offline" as its will (src/MqttSettings.cpp,
include/defaults.h: dtu/status, QoS 2). Power follows the sun over the configured time zone's
day at --latitude; yields grow with it (yieldtotal never falls). Over TLS with the stack's
openDtuSettings (Hostname, Port, CA, Username, Password, Base Topic).

    make simulate                       # 1 inverter x 4 inputs, every 5 s, until Ctrl-C
    make simulate ARGS="--inverters 2 --inputs 2 --once"
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import ssl
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.opendtu_data import NUMBER, all_topics  # noqa: E402
from tools.opendtu_mqtt import connect as opendtu_connect, opendtu_client  # noqa: E402
from tools.stack_outputs import OutputsError, load_outputs, opendtu_settings  # noqa: E402
from tools.stack_file import StackError, add_stack_arguments, stack_from  # noqa: E402

PEAK_WATTS_PER_INPUT = 400.0
YIELD_SINCE = dt.date(2025, 1, 1)  # yieldtotal counts from here (plus a start of 100 kWh)
STRINGS = {"bootloaderversion": "0.1.0", "fwbuildversion": "10012",
           "fwbuilddatetime": "2023-11-02 10:45:00", "hwpartnumber": "269553665",
           "hwversion": "01.00", "ip": "192.168.178.50", "hostname": "OpenDTU-SIM",
           "bssid": "02:00:00:00:00:01"}


def sun_factor(moment: dt.datetime, latitude: float) -> float:
    """sin(solar elevation), 0 when the sun is down, at `moment` (aware, local): the sun's
    declination for the day of the year, solar noon at 12:00 of the zone's standard time."""
    standard = moment - (moment.dst() or dt.timedelta(0))
    hours = standard.hour + standard.minute / 60 + standard.second / 3600
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + moment.timetuple().tm_yday) / 365)
    hour_angle = math.radians(15 * (hours - 12))
    lat = math.radians(latitude)
    elevation = (math.sin(lat) * math.sin(declination)
                 + math.cos(lat) * math.cos(declination) * math.cos(hour_angle))
    return max(0.0, elevation)


@dataclass
class Simulation:
    inverters: int = 1
    inputs: int = 4
    timezone: str = "UTC"
    latitude: float = 50.0
    started: float = field(default_factory=time.monotonic)
    _day_kwh: dict = field(default_factory=dict)

    @property
    def serials(self) -> list[str]:
        return [f"1161900000{index + 1:02d}" for index in range(self.inverters)]

    def input_share(self, channel: int) -> float:
        """Inputs differ a little (orientation, shade)."""
        return 1.0 - 0.07 * (channel - 1)

    def input_watts(self, moment: dt.datetime, channel: int) -> float:
        return PEAK_WATTS_PER_INPUT * self.input_share(channel) * sun_factor(moment, self.latitude)

    def day_kwh_per_unit(self, day: dt.date, until: dt.datetime | None = None) -> float:
        """kWh one input of share 1.0 makes on `day` (until `until`), in 5-minute steps."""
        zone = ZoneInfo(self.timezone)
        start = dt.datetime.combine(day, dt.time(), zone)
        steps = 288 if until is None else int((until - start).total_seconds() // 300)
        if until is None and day in self._day_kwh:
            return self._day_kwh[day]
        energy = sum(PEAK_WATTS_PER_INPUT * sun_factor(start + dt.timedelta(minutes=5 * i),
                                                       self.latitude) for i in range(steps))
        kwh = energy * 300 / 3600 / 1000
        if until is None:
            self._day_kwh[day] = kwh
        return kwh

    def input_yields(self, moment: dt.datetime, channel: int) -> tuple[float, float]:
        """(Wh today, kWh in total) of a DC input: today's sun so far, every day since
        YIELD_SINCE before it, and a start of 100 kWh."""
        share = self.input_share(channel)
        today = self.day_kwh_per_unit(moment.date(), until=moment)
        before = sum(self.day_kwh_per_unit(YIELD_SINCE + dt.timedelta(days=d))
                     for d in range((moment.date() - YIELD_SINCE).days))
        return today * share * 1000, (100.0 / self.inputs + before + today) * share

    def messages(self, when: dt.datetime | None = None) -> list[tuple[str, str]]:
        """One round: (topic below the base topic, payload) for every topic of the data
        description; an inverter's channel values only while it reports."""
        moment = (when or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(self.timezone))
        reporting = sun_factor(moment, self.latitude) > 0.02
        values = self.values(moment, reporting)
        out = []
        for topic in all_topics({serial: self.inputs for serial in self.serials}):
            parts = topic.topic.split("/")
            live = len(parts) == 3 and parts[1] not in ("status", "radio", "device")
            if live and not reporting:
                continue  # OpenDTU publishes channel values only with new statistics
            out.append((topic.topic, values(topic)))
        return out

    def values(self, moment: dt.datetime, reporting: bool):
        """The payload of each topic at `moment`, as OpenDTU formats it."""
        per_input = {c: (self.input_watts(moment, c), *self.input_yields(moment, c))
                     for c in range(1, self.inputs + 1)}
        dc_watts = sum(w for w, _, _ in per_input.values())
        ac_watts = dc_watts * 0.955
        day_wh = sum(d for _, d, _ in per_input.values())
        total_kwh = sum(t for _, _, t in per_input.values())
        uptime = int(time.monotonic() - self.started) + 3600
        epoch = int(moment.timestamp())

        def payload(topic) -> str:
            parts = topic.topic.split("/")
            name = parts[-1]
            if topic.kind != NUMBER:
                if name == "status":
                    return "online"
                if name == "name":
                    return f"Panel {parts[1]}" if len(parts) == 3 else f"Simulated HM-{parts[0][-2:]}"
                return STRINGS[name]
            group = parts[0] if parts[0] in ("dtu", "ac", "dc") else parts[1]
            if parts[0] == "dtu":
                return {"uptime": str(uptime), "rssi": "-61", "temperature": "41.5",
                        "size": "327680", "free": "180000", "minfree": "150000",
                        "maxalloc": "110000"}[name]
            if parts[0] in ("ac", "dc"):
                return {"power": f"{ac_watts if group == 'ac' else dc_watts:.1f}",
                        "yieldday": f"{day_wh * 0.955:.0f}", "yieldtotal": f"{total_kwh * 0.955:.3f}",
                        "irradiation": f"{dc_watts / (PEAK_WATTS_PER_INPUT * self.inputs) * 100:.3f}",
                        "is_valid": "1"}[name]
            if group == "status":
                return {"reachable": str(int(reporting)), "producing": str(int(ac_watts > 1)),
                        "last_update": str(epoch if reporting else epoch - 3600),
                        "limit_relative": "100.00",
                        "limit_absolute": f"{PEAK_WATTS_PER_INPUT * self.inputs:.2f}"}[name]
            if group == "radio":
                rounds = uptime // 5
                return {"tx_request": str(rounds), "tx_re_request": str(rounds // 50),
                        "rx_success": str(rounds - rounds // 40), "rx_fail_nothing": str(rounds // 60),
                        "rx_fail_partial": str(rounds // 200), "rx_fail_corrupt": str(rounds // 500),
                        "rssi": "-72"}[name]
            if group == "0":
                return {"power": f"{ac_watts:.1f}", "powerdc": f"{dc_watts:.1f}",
                        "voltage": "230.4", "current": f"{ac_watts / 230.4:.2f}",
                        "frequency": "50.01", "reactivepower": "1.2", "temperature": "38.9",
                        "efficiency": "95.500", "powerfactor": "0.999",
                        "yieldday": f"{day_wh * 0.955:.0f}",
                        "yieldtotal": f"{total_kwh * 0.955:.3f}"}[name]
            watts, wh, kwh = per_input[int(group)]
            return {"power": f"{watts:.1f}", "voltage": "34.20", "current": f"{watts / 34.2:.2f}",
                    "irradiation": f"{watts / PEAK_WATTS_PER_INPUT * 100:.3f}",
                    "yieldday": f"{wh:.0f}", "yieldtotal": f"{kwh:.3f}"}[name]

        return payload


def connect(settings: dict, client_id: str = "opendtu-simulator", timeout: float = 10):
    """A client connected as OpenDTU is, with its will set and "online" said; raises on failure."""
    client = opendtu_client(settings, client_id, will=True)
    problem = opendtu_connect(client, settings, timeout)
    if problem:
        raise ConnectionError(problem)
    client.publish(settings["Base Topic"] + settings["LWT Topic"], settings["LWT Online message"],
                   qos=0, retain=settings["Enable Retain Flag"])
    return client


def publish_round(client, settings: dict, simulation: Simulation, retain: bool | None = None) -> int:
    """Publishes one round at QoS 0; returns how many messages."""
    flag = settings["Enable Retain Flag"] if retain is None else retain
    messages = simulation.messages()
    sent = [client.publish(settings["Base Topic"] + topic, payload, qos=0, retain=flag)
            for topic, payload in messages]
    if sent:
        sent[-1].wait_for_publish(timeout=10)  # QoS 0: written to the socket, in order
    return len(messages)


def stack_timezone(config: Path) -> str:
    """The stack's `timezone` setting (or its region's default), UTC when unreadable."""
    from components.config import ConfigError, read_settings
    from tools.stack_file import DEFAULT_REGION, StackError, configured_strings, load_config
    try:
        values = load_config(config)
        return read_settings(configured_strings(values),
                             values.get("aws:region", DEFAULT_REGION)).timezone
    except (OSError, ValueError, ConfigError, KeyError, StackError):
        return "UTC"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inverters", type=int, default=1)
    parser.add_argument("--inputs", type=int, default=4, choices=range(1, 7), metavar="1-6")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    parser.add_argument("--latitude", type=float, default=50.0)
    parser.add_argument("--timezone", help="default: the stack's setting in --config")
    add_stack_arguments(parser)
    parser.add_argument("--once", action="store_true", help="publish one round and stop")
    parser.add_argument("--retain", action="store_true",
                        help="set the retain flag, as OpenDTU does by default")
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi)")
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options)
        settings = opendtu_settings(load_outputs(options.outputs, stack.name))
    except (OutputsError, StackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    simulation = Simulation(options.inverters, options.inputs,
                            options.timezone or stack_timezone(stack.config_file), options.latitude)
    try:
        client = connect(settings)
    except (OSError, ConnectionError, ssl.SSLError) as error:
        print(f"error: cannot connect to {settings['Hostname']}:{settings['Port']}: {error}",
              file=sys.stderr)
        return 1
    try:
        while True:
            count = publish_round(client, settings, simulation, options.retain or None)
            print(f"{dt.datetime.now():%H:%M:%S} published {count} messages for "
                  f"{options.inverters} inverter(s) x {options.inputs} input(s)", flush=True)
            if options.once:
                break
            time.sleep(options.interval)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
