"""What the owner sees: small worked datasets (a normal day, dusk zero, a spike, a multi-hour gap,
Wi-Fi down overnight, a fresh install, DST days) through the dashboard's queries, the alert rules
and the tasks, with Flux mirrored in Python (tests/flux_mirror.py, each function citing the Flux
source it follows) and Grafana's own time-range and interval code from npm (tests/js/
grafana-time.cjs). Each mirror is tied to the rendered query: the query's pipeline must be the
one the mirror runs, so a changed query fails here until its mirror changes too."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

import flux_mirror as fx
from components.alert_rules import RULES, query as alert_query
from components.grafana_node import DATASOURCE_FILE, dashboard
from components.opendtu_data import MAX_INVERTER_WATTS
from components.templates import render
from flux_contract import code
from tools.plan import rendered_files

BERLIN = ZoneInfo("Europe/Berlin")
UTC = fx.UTC
JS = Path(__file__).parent / "js"
DASHBOARD = json.loads(dashboard("hoymiles", timezone="Europe/Berlin"))
SERIAL = "116190745400"


def panel(title: str) -> dict:
    return next(p for p in DASHBOARD["panels"] if p["title"] == title)


def main_statements(query: str) -> list[str]:
    """The query's top-level expressions that are not definitions (what it returns)."""
    statements, current = [], []
    for line in code(query).splitlines():
        if line and not line[0].isspace() and not line.startswith("|>") and current:
            statements.append("\n".join(current))
            current = []
        current.append(line)
    statements.append("\n".join(current))
    return [s.strip() for s in statements if s.strip() and not re.match(
        r"(import|option)\b|\w+ = ", s.strip())]


def pipeline(statement: str) -> list[str]:
    """The function a statement starts with, then every function piped to, in order."""
    return [re.match(r"(\w+)\(", statement).group(1),
            *re.findall(r"\|>\s*(\w+)\(", statement)]


def grafana_ranges(now: datetime, panels: list[dict], dashboard_range=("now-24h", "now")):
    """Grafana's panel time range and interval (its own code, tests/js/grafana-time.cjs)."""
    request = {"now": now.isoformat(), "timezone": "Europe/Berlin",
               "dashboard": {"from": dashboard_range[0], "to": dashboard_range[1]},
               "panels": panels}
    done = subprocess.run(["node", str(JS / "grafana-time.cjs")], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, cwd=JS)
    assert done.returncode == 0, done.stderr
    return [(datetime.fromisoformat(r["from"].replace("Z", "+00:00")),
             datetime.fromisoformat(r["to"].replace("Z", "+00:00")), r["intervalMs"])
            for r in json.loads(done.stdout)]


# --- datasets ---------------------------------------------------------------------------------

def at(text: str) -> datetime:
    """A Berlin wall-clock time as an instant."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def yieldtotal(t: datetime, kwh: float, serial: str = SERIAL, channel: str = "0") -> dict:
    return {"_measurement": "mqtt_consumer", "serial": serial, "channel": channel,
            "topic": f"solar/{serial}/{channel}/yieldtotal", "_field": "yieldtotal",
            "_time": t, "_value": kwh}


def sunny_day(day: str, start_kwh: float, kwh: float, every=timedelta(minutes=5),
              silent=()) -> list[dict]:
    """yieldtotal every `every` from 06:00 to 20:30 local, `kwh` produced evenly between 08:00
    and 18:00, nothing published in the `silent` (from, to) stretches."""
    points, t, stop = [], at(f"{day}T06:00"), at(f"{day}T20:30")
    first, last = at(f"{day}T08:00"), at(f"{day}T18:00")
    while t <= stop:
        share = min(max((t - first) / (last - first), 0.0), 1.0)
        if not any(at(a) <= t < at(b) for a, b in silent):
            points.append(yieldtotal(t, round(start_kwh + kwh * share, 3)))
        t += every
    return points


def yield_today(points, now) -> float:
    """Mirror of energy-today.flux (its pipeline is checked below)."""
    fn = lambda r: (r["_measurement"] == "mqtt_consumer" and r["channel"] == "0"  # noqa: E731
                    and r["_field"] == "yieldtotal")
    steps = fx.robust_steps_in(points, fx.today(now, BERLIN), now, fn, MAX_INVERTER_WATTS)
    total = fx.sum_(fx.group(fx.sum_(steps)))
    return sum(r["_value"] for r in total.rows()) * 1000.0


def test_yield_today_counts_the_step_into_the_first_value_and_every_gap_it_may():
    query = panel("Yield today")["targets"][0]["query"]
    (main,) = main_statements(query)
    assert pipeline(main) == ["robustStepsIn", "sum", "group", "sum", "map"]
    assert "start: today(), stop: now()" in main

    # A normal day: 5.0 kWh. The next: Wi-Fi down from 20:30 until 10:00 (the first value of
    # the day comes at 10:00, 1.5 kWh already made), a dusk 0 (OpenDTU #1258), a spike
    # (#1022), and Telegraf away from 12:00 to 13:00 at 1.6 kW (no value arrives late).
    points = sunny_day("2026-06-20", 1000.0, 5.0)
    day2 = sunny_day("2026-06-21", 1005.0, 7.5, silent=[("2026-06-21T00:00", "2026-06-21T10:00"),
                                                         ("2026-06-21T12:00", "2026-06-21T13:00")])
    day2.append(yieldtotal(at("2026-06-21T11:02"), 99999.0))  # spike
    day2.append(yieldtotal(at("2026-06-21T20:31"), 0.0))  # dusk zero
    points += day2
    assert yield_today(points, at("2026-06-20T23:00")) == pytest.approx(5000.0, abs=1)
    # By 10:00 (first value) 1.5 kWh of today's 7.5 are made: all of it counts on day 2, the
    # 1-hour gap's 0.75 kWh (at 1.6 kW peak the step is within 3 kW x 1 h) too.
    assert yield_today(points, at("2026-06-21T10:01")) == pytest.approx(1500.0, abs=1)
    # The spike costs the steps on either side of it (into it: too steep; out of it: negative):
    # here the 5 minutes from 11:00 to 11:05, 62.5 Wh; with OpenDTU's 5 s, at most 10 s of power.
    assert yield_today(points, at("2026-06-21T23:59")) == pytest.approx(7500.0 - 62.5, abs=1)
    # The old design, values queued while Telegraf was away, delivered at once on its return:
    # the hour piles up on one instant and its steps fail the 3 kW check - energy lost.
    # Telegraf back at 13:00 gets the queue at once: 12:00 to 13:00 within milliseconds.
    queued = [p for p in points if not at("2026-06-21T12:00") <= p["_time"] <= at("2026-06-21T13:00")]
    piled = [dict(p, _time=at("2026-06-21T13:00") + timedelta(milliseconds=i))
             for i, p in enumerate(sunny_day("2026-06-21", 1005.0, 7.5)) if
             at("2026-06-21T12:00") <= p["_time"] <= at("2026-06-21T13:00")]
    lost = 7437.5 - yield_today(queued + piled, at("2026-06-21T23:59"))
    assert lost > 500.0  # why the broker delivers nothing late (tests/test_broker_data_path.py)


def daily_task(points, run_at: datetime, history: dict) -> None:
    """One run of files/influx/tasks/daily-energy.flux (mirrored): yesterday and today so far,
    per day in the owner's zone, written over what the history holds for those days."""
    fn = lambda r: (r["_measurement"] == "mqtt_consumer" and r["channel"] == "0"  # noqa: E731
                    and r["_field"] == "yieldtotal")
    start = fx.local_truncate(run_at - timedelta(days=1), "1d", BERLIN)
    steps = fx.robust_steps_in(points, start, run_at, fn, MAX_INVERTER_WATTS)
    days = fx.aggregate_window(steps, "1d", sum, BERLIN, time_src="_start", create_empty=False)
    for row in days.rows():
        history[(row["serial"], row["_time"])] = row["_value"] * 1000.0


def test_the_daily_task_writes_each_day_right_and_never_overwrites_it_with_less():
    text = render("influx/tasks/daily-energy.flux", backfill=False, timezone="Europe/Berlin",
                  bucket="hoymiles", history_bucket="hoymiles_history", max_watts=3000)
    assert re.search(r"steps = robustStepsIn\(bucket: \"hoymiles\", start: start, stop: stop", text)
    assert 'start = date.truncate(t: date.sub(d: 1d, from: now()), unit: 1d)' in text
    # Three days around the change to summer time (29 March 2026: a 23-hour day), Wi-Fi down
    # from 20:30 on the 28th until 10:00 on the 29th.
    points = (sunny_day("2026-03-28", 500.0, 3.0)
              + sunny_day("2026-03-29", 503.0, 4.0, silent=[("2026-03-29T00:00", "2026-03-29T10:00")])
              + sunny_day("2026-03-30", 507.0, 2.0))
    truth = {at("2026-03-28T00:00"): 3000.0, at("2026-03-29T00:00"): 4000.0,
             at("2026-03-30T00:00"): 2000.0}
    history: dict = {}
    run, correct = at("2026-03-28T00:02"), set()
    while run < at("2026-03-31T03:00"):
        daily_task([p for p in points if p["_time"] < run], run, history)
        for (_, day), wh in history.items():
            assert wh <= truth[day] + 1, (run, day, wh)
            if day in correct:
                assert wh == pytest.approx(truth[day], abs=1), (run, day, wh)
            elif abs(wh - truth[day]) <= 1 and run >= day + timedelta(hours=21):
                correct.add(day)
        run = fx.next_boundary(run, "1h", BERLIN)
    assert {day: wh for (_, day), wh in history.items()} == pytest.approx(truth, abs=1)
    assert set(truth) <= correct


def energy_days(points, history_points, start, stop, now) -> fx.Stream:
    """Mirror of files/flux/energy-days.flux."""
    fn = lambda r: (r["_measurement"] == "mqtt_consumer" and r["channel"] == "0"  # noqa: E731
                    and r["_field"] == "yieldtotal")
    midnight = fx.today(now, BERLIN)
    kept = fx.keep(fx.filter_(fx.from_range(history_points, start - timedelta(days=1),
                                            min(stop, midnight)),
                              lambda r: r["_measurement"] == "energy_daily"),
                   ["_time", "_value", "serial"])
    live = fx.map_(fx.sum_(fx.group(fx.robust_steps_in(points, midnight, now, fn,
                                                       MAX_INVERTER_WATTS), ["serial"])),
                   lambda r: {"_time": midnight, "_value": r["_value"] * 1000.0,
                              "serial": r["serial"]})
    return fx.range_(fx.group(fx.union(kept, live), ["serial"]), start, stop)


def energy_daily(day: datetime, wh: float) -> dict:
    return {"_measurement": "energy_daily", "serial": SERIAL, "_field": "energy_wh",
            "_time": day, "_value": wh}


@pytest.mark.parametrize("title, every, bars", [
    ("Energy per day (last 30 days)", "1d", 30), ("Energy per month", "1mo", 24),
    ("Energy per year", "1y", 4)])
def test_energy_bars_lie_on_the_panels_axis_and_today_is_there_on_a_fresh_day(title, every, bars):
    target = panel(title)
    (main,) = main_statements(target["targets"][0]["query"])
    assert pipeline(main) == ["energyDays", "aggregateWindow", "map", "group"]
    assert "energyDays(start: v.timeRangeStart, stop: v.timeRangeStop)" in main
    assert f"every: {every}, fn: sum, createEmpty: false, timeSrc: \"_start\"" in main
    now = at("2026-06-21T09:00")
    ((start, stop, _),) = grafana_ranges(now, [{"timeFrom": target.get("timeFrom"), "width": 800}])
    # Every day since 2023 in the history (1 kWh each), today from the raw values (the task has
    # not run yet today: right after midnight, or a fresh install).
    history, day = [], at("2023-01-01T00:00")
    while day < fx.today(now, BERLIN):
        history.append(energy_daily(day, 1000.0))
        day = fx.next_boundary(day, "1d", BERLIN)
    raw = sunny_day("2026-06-21", 2000.0, 5.0)
    result = fx.aggregate_window(energy_days(raw, history, start, stop, now), every, sum, BERLIN,
                                 time_src="_start", create_empty=False)
    stamps = [r["_time"] for r in result.rows()]
    assert len(stamps) == bars, (title, start, stop, stamps[:3])
    assert all(start <= s < stop for s in stamps)  # on Grafana's x-axis
    assert stamps[-1] == fx.local_truncate(now, every, BERLIN)
    assert result.rows()[-1]["_value"] > 0  # this day, month, year: today's energy in it


def test_money_counts_today_before_the_task_ever_ran():
    for unit in ("1d", "1mo", "1y"):
        query = panel({"1d": "Value today", "1mo": "Value this month",
                       "1y": "Value this year"}[unit])["targets"][0]["query"]
        (main,) = main_statements(query)
        assert pipeline(main) == ["energyDays", "group", "sum", "map"]
        assert f"energyDays(start: date.truncate(t: now(), unit: {unit}), stop: now())" in main
    now = at("2026-06-21T15:01")
    raw = sunny_day("2026-06-21", 10.0, 4.0)
    for unit in ("1d", "1mo", "1y"):
        days = energy_days(raw, [], fx.local_truncate(now, unit, BERLIN), now, now)
        total = fx.sum_(fx.group(days))
        assert total.rows()[0]["_value"] == pytest.approx(2800.0, abs=1)  # 7 of 10 hours


LINE_PANELS = [p for p in DASHBOARD["panels"] if p["type"] in ("timeseries", "state-timeline")
               and p["fieldConfig"]["defaults"].get("custom", {}).get("drawStyle") != "bars"]


def samples(start, stop, spacing: timedelta, value=100.0) -> list[dict]:
    points, t = [], start
    while t < stop:
        points.append({"_measurement": "m", "serial": SERIAL, "_field": "f", "_time": t,
                       "_value": value})
        t += spacing
    return points


def test_line_panels_draw_a_line_at_every_range_and_width(dev_run):
    assert LINE_PANELS and len(LINE_PANELS) >= 10
    (source,) = yaml.safe_load(rendered_files(dev_run)["grafana"][DATASOURCE_FILE])["datasources"]
    minimum = source["jsonData"].get("timeInterval")
    now = at("2026-06-21T12:00")
    ranges = {"5m": 300, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000,
              "1y": 31536000}
    cases = [(name, width) for name in ranges for width in (400, 800, 1600)]
    computed = grafana_ranges(now, [{"timeFrom": f"now-{name}", "width": width,
                                     "minInterval": minimum} for name, width in cases])
    # Short ranges older than the raw retention: read from the 5-minute history.
    for old in (("now-40d", "now-40d+1h"), ("now-40d", "now-40d+6h"), ("now-40d", "now-39d")):
        cases += [(old, width) for width in (400, 800, 1600)]
        computed += grafana_ranges(now, [{"timeFrom": None, "width": width, "minInterval": minimum}
                                         for width in (400, 800, 1600)], old)
    for target in LINE_PANELS:
        query = target["targets"][0]["query"]
        floors = re.search(r"windowFloor = if source == \"\$\{history_bucket\}\" then (\w+) "
                           r"else (\w+)", query)
        assert floors, target["title"]
        assert "aggregateWindow(every: windowEvery," in query, target["title"]
        history_floor, raw_floor = (fx.parse_duration(f) for f in floors.groups())
        battery = 'r._measurement == "solix"' in query
        raw_spacing = timedelta(seconds=30.3 if battery else 5.05)  # they publish once due
        for (name, width), (start, stop, interval_ms) in zip(cases, computed):
            history = start < now - timedelta(days=30)  # source-bucket.flux, 30 d raw
            every = fx.window_every(timedelta(milliseconds=interval_ms),
                                    history_floor if history else raw_floor)
            spacing = timedelta(minutes=5) if history else raw_spacing
            # The last 50 windows of the range are enough to see a pattern.
            shown_from = max(start, stop - 50 * every)
            data = samples(fx.local_truncate(shown_from - every, "5m", BERLIN)
                           if history else shown_from - every, stop, spacing)
            window = fx.aggregate_window(fx.from_range(data, shown_from, stop), every, fx.mean)
            values = [r["_value"] for r in window.rows()][:-1]  # the last window is still open
            assert None not in values and fx.lone_values(values) == 0, (
                target["title"], name, width, every, values.count(None))


def test_inverter_status_is_one_row_per_inverter():
    query = panel("Inverter status")["targets"][0]["query"]
    (main,) = main_statements(query)
    assert pipeline(main) == ["from", "range", "filter", "filter", "last", "group", "pivot",
                              "group", "keep"]
    assert 'group(columns: ["serial"])\n  |> pivot(rowKey: ["serial"]' in main
    now = at("2026-06-21T12:00")
    points = [{"_measurement": "mqtt_consumer", "serial": s, "channel": "status", "_field": f,
               "topic": f"solar/{s}/status/{f}", "_time": now - timedelta(seconds=10), "_value": v}
              for s in ("116190745400", "116190745401")
              for f, v in (("reachable", 1.0), ("producing", 1.0), ("limit_relative", 100.0))]
    s = fx.last(fx.from_range(points, now - timedelta(hours=1), now))
    s = fx.pivot(fx.group(s, ["serial"]), ["serial"], "_field", "_value")
    rows = fx.group(s).rows()
    assert [(r["serial"], r["reachable"], r["limit_relative"]) for r in rows] == [
        ("116190745400", 1.0, 100.0), ("116190745401", 1.0, 100.0)]


def stale_minutes(raw, history, now) -> dict[str, float]:
    """Mirror of files/grafana/alerts/inverter-stale.flux at `now` in daylight."""
    def last_update(points):
        s = fx.filter_(fx.from_range(points, fx.EPOCH, now),
                       lambda r: r["channel"] == "status" and r["_field"] == "last_update")
        return fx.last(fx.group(s, ["serial"]))
    s = fx.max_(fx.group(fx.union(last_update(raw), last_update(history)), ["serial"]))
    return {r["serial"]: (now.timestamp() - r["_value"]) / 60.0 for r in s.rows()}


def test_an_inverter_silent_for_days_keeps_alerting():
    rule = next(r for r in RULES if r.name == "inverter-stale")
    query = alert_query(rule, "hoymiles", "Europe/Berlin")
    (main,) = main_statements(query)
    assert pipeline(main) == ["union", "group", "max", "map"]
    assert re.search(r"lastUpdate = \(bucket\) => from\(bucket: bucket\)\s*\|> range\(start: 0\)",
                     code(query))
    assert rule.above is not None
    now = at("2026-06-24T12:00")  # daylight
    def update(serial, t):
        return {"_measurement": "mqtt_consumer", "serial": serial, "channel": "status",
                "_field": "last_update", "topic": f"solar/{serial}/status/last_update",
                "_time": t, "_value": t.timestamp()}
    quiet = at("2026-06-21T13:00")  # silent for 3 days, longer than any look-back it had
    raw = [update("A", now - timedelta(minutes=1)), update("B", quiet)]
    minutes = stale_minutes(raw, [], now)
    assert minutes["A"] < rule.above < minutes["B"]
    # After the raw retention the history (5-minute means, kept forever) still names it.
    minutes = stale_minutes([update("A", now)], [dict(update("B", quiet), topic=None)], now)
    assert minutes["B"] > rule.above


def downsample_lookback(text: str, stop: datetime) -> timedelta:
    """How far back a run of the rendered downsample task reads (its start and stop lines)."""
    if "start = -task.every" in text:
        return timedelta(minutes=5)
    assert "stop = date.truncate(t: now(), unit: 5m)" in text
    found = re.search(r"start = date\.sub\(d: if date\.minute\(t: stop\) < (\d+) then (\w+) "
                      r"else (\w+), from: stop\)", text)
    hourly, long, short = int(found.group(1)), *(fx.parse_duration(g) for g in found.groups()[1:])
    return long if stop.astimezone(UTC).minute < hourly else short


def test_values_that_reach_influxdb_late_reach_the_history():
    text = render("influx/tasks/downsample.flux", backfill=False, bucket="hoymiles",
                  history_bucket="hoymiles_history", history_retention="forever",
                  numbers=["mqtt_consumer"], strings=["opendtu_dtu_info"])
    # InfluxDB away from 10:00 to 13:00: Telegraf keeps the values in its buffer (stamped when
    # they arrived) and writes them at 13:03; at 13:00:30 the scheduler has already caught up
    # on the missed runs, which found nothing.
    day = samples(at("2026-06-21T06:00"), at("2026-06-21T18:00"), timedelta(seconds=10))
    for i, point in enumerate(day):
        point["_value"] = float(i % 97)
    arrives = lambda p: (at("2026-06-21T13:03") if at("2026-06-21T10:00") <= p["_time"]  # noqa: E731
                         < at("2026-06-21T13:00") else p["_time"])
    history: dict = {}
    run = at("2026-06-21T06:05")
    while run <= at("2026-06-21T18:00"):
        executed = max(run, at("2026-06-21T13:00:30")) if run <= at("2026-06-21T13:00") and \
            run > at("2026-06-21T10:00") else run
        stored = [p for p in day if arrives(p) <= executed]
        stop = fx.local_truncate(run, "5m", BERLIN)
        start = stop - downsample_lookback(text, stop)
        if stored:
            means = fx.aggregate_window(fx.from_range(stored, start, stop), "5m", fx.mean,
                                        create_empty=False)
            for row in means.rows():
                history[row["_time"]] = row["_value"]
        run += timedelta(minutes=5)
    truth = fx.aggregate_window(fx.from_range(day, at("2026-06-21T06:00"), at("2026-06-21T18:00")),
                                "5m", fx.mean, create_empty=False)
    missing = [r["_time"] for r in truth.rows() if history.get(r["_time"]) != pytest.approx(r["_value"])]
    assert missing == [], f"{len(missing)} windows wrong or missing, from {missing[0]}"
