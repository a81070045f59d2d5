"""What the owner sees on every panel: small worked datasets (a normal day, dusk zero, a spike, a
multi-hour gap, Wi-Fi down overnight, a fresh install, DST days) through the dashboard's queries
and the stack's tasks, with Flux mirrored in Python (tests/flux_mirror.py, each function citing
the Flux source it follows) and Grafana's own code from npm for the panel's time range, its
window and what it shows of the result: legend names, stat and gauge texts, colours (tests/js/
grafana-panel.cjs). Each mirror is tied to the rendered query: the query's pipeline must be the
one the mirror runs, so a changed query fails here until its mirror changes too."""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from datetime import timedelta

import pytest
import yaml

import flux_mirror as fx
from components import config, influx_node
from components.grafana_node import dashboard
from components.opendtu_data import MAX_INVERTER_WATTS
from components.templates import render
from panel_data import (BERLIN, OTHER, SERIAL, UTC, at, definition, every, grafana,  # noqa: F401
                        inverter, main_statements, pipeline, sunny_day, yieldtotal)

DASHBOARD = json.loads(dashboard("hoymiles", timezone="Europe/Berlin"))


def panel(title: str) -> dict:
    return next(p for p in DASHBOARD["panels"] if p["title"] == title)


def query_of(title: str, ref: str = "A") -> str:
    return next(t["query"] for t in panel(title)["targets"] if t["refId"] == ref)


def shown(result: dict) -> list[tuple]:
    """(title, text, colour) of each value a stat, gauge or bar gauge shows."""
    return [(v["title"], v["text"], v["color"]) for v in result["values"]]


def texts(result: dict) -> list[str]:
    return [v["text"] for v in result["values"]]


def yieldtotal_of(channel: str = "0"):
    return lambda r: (r["_measurement"] == "mqtt_consumer" and r["channel"] == channel
                      and r["_field"] == "yieldtotal")


def power_of(channel: str = "0"):
    return lambda r: (r["_measurement"] == "mqtt_consumer" and r["channel"] == channel
                      and r["_field"] == "power")


def power(serial: str, channel: str, watts: float, start, stop, spacing=timedelta(seconds=5.05)):
    """An inverter's (or input's) power as OpenDTU publishes it: a value a little over every 5 s
    (once 5 s have passed)."""
    return [inverter(serial, channel, "power", t, watts) for t in every(start, stop, spacing)]


# --- the Now row ------------------------------------------------------------------------------

def ac_power_now(points, now) -> fx.Stream:
    """Mirror of ac-power-now.flux."""
    s = fx.filter_(fx.from_range(points, now - timedelta(minutes=10), now), power_of("0"))
    return fx.sum_(fx.group(fx.last(s)))


def test_ac_power_now_is_each_inverters_last_value_summed_and_0_w_when_none_came(grafana):
    target = panel("AC power now (all inverters)")
    (main,) = main_statements(query_of(target["title"]))
    assert pipeline(main) == ["from", "range", "filter", "filter", "last", "group", "sum"]
    assert "range(start: -10m)" in main and 'r.channel == "0" and r._field == "power"' in main
    # Two inverters until Wi-Fi drops at 12:00 (a DC input's power does not count).
    points = (power(SERIAL, "0", 650.0, at("2026-06-21T11:00"), at("2026-06-21T12:00"))
              + power(OTHER, "0", 580.6, at("2026-06-21T11:00"), at("2026-06-21T12:00"))
              + power(SERIAL, "1", 200.0, at("2026-06-21T11:00"), at("2026-06-21T12:00")))

    def now(when):
        return shown(grafana.shows(target, ac_power_now(points, at(when))))
    assert [v[1:] for v in now("2026-06-21T11:59")] == [("1.23 kW", "green")]  # not "1 kW"
    assert [v[1] for v in now("2026-06-21T12:09")] == ["1.23 kW"]  # the last values, 10 min on
    assert [v[1] for v in now("2026-06-21T12:11")] == ["0"]  # then 0, as at night
    assert [v[1] for v in now("2026-06-21T23:00")] == ["0"]


def peak_power_today(points, now) -> fx.Stream:
    """Mirror of peak-power-today.flux."""
    s = fx.filter_(fx.from_range(points, fx.today(now, BERLIN), now), power_of("0"))
    s = fx.aggregate_window(s, "1m", fx.mean, create_empty=False)
    return fx.max_(fx.group(fx.sum_(fx.group(s, ["_time"]))))


def test_peak_power_today_is_the_peak_of_the_sum_on_the_owners_day(grafana):
    target = panel("Peak power today")
    query = query_of(target["title"])
    (main,) = main_statements(query)
    assert pipeline(main) == ["from", "range", "filter", "filter", "aggregateWindow", "group",
                              "sum", "group", "max"]
    assert "range(start: today())" in main and "every: 1m, fn: mean, createEmpty: false" in main
    assert 'group(columns: ["_time"])' in main and "timezone.location" in query
    # The day summer time begins (29 March, 23 hours). Each inverter at 300 W from 08:00 to
    # 18:00, one at 800 W around 12:00, the other at 700 W around 13:00: the two together never
    # made more than 1,100 W (not 1,500, the sum of their peaks). Yesterday's 2,000 W at 23:30 is
    # not today's; a battery feeding an inverter 150 W at 00:30 (22:30 UTC the day before) is.
    day = "2026-03-29"
    points = (power(SERIAL, "0", 300.0, at(f"{day}T08:00"), at(f"{day}T18:00"))
              + power(OTHER, "0", 300.0, at(f"{day}T08:00"), at(f"{day}T18:00"))
              + [inverter(SERIAL, "0", "power", at("2026-03-28T23:30"), 2000.0),
                 inverter(OTHER, "0", "power", at(f"{day}T00:30"), 150.0)])
    points = [dict(p, _value=800.0) if p["serial"] == SERIAL and at(f"{day}T11:58") <= p["_time"]
              < at(f"{day}T12:02") else dict(p, _value=700.0) if p["serial"] == OTHER and
              at(f"{day}T12:58") <= p["_time"] < at(f"{day}T13:02") else p for p in points]

    def peak(when):
        return texts(grafana.shows(target, peak_power_today(points, at(when))))
    assert peak(f"{day}T07:00") == ["150 W"]  # the battery's night, on the owner's day
    assert peak(f"{day}T12:30") == ["1.10 kW"]  # not "1 kW": no fixed decimals
    assert peak(f"{day}T20:00") == ["1.10 kW"]
    assert peak("2026-03-30T05:00") == ["0"]  # a new day, before sunrise: 0 W, not "No data"


def total_yield(raw, history, now) -> fx.Stream:
    """Mirror of total-yield.flux."""
    recent = fx.filter_(fx.from_range(raw, now - timedelta(days=7), now), yieldtotal_of("0"))
    recent = fx.keep(fx.robust_steps(fx.group(recent, ["serial"]), MAX_INVERTER_WATTS),
                     ["serial", "counter"])
    kept = fx.filter_(fx.from_range(history, fx.EPOCH, now),
                      lambda r: r["_measurement"] == "energy_daily" and r["_field"] == "total_kwh")
    kept = fx.map_(kept, lambda r: {"serial": r["serial"], "counter": r["_value"]})
    s = fx.max_(fx.group(fx.union(recent, kept), ["serial"]), "counter")
    total = fx.sum_(fx.group(s), "counter")
    return fx.map_(total, lambda r: {"_time": now, "_value": r["counter"]})


def test_total_yield_counts_a_silent_inverter_and_no_spike_or_dusk_zero(grafana):
    target = panel("Total yield")
    query = query_of(target["title"])
    (main,) = main_statements(query)
    assert pipeline(main) == ["union", "group", "max", "group", "sum", "map"]
    assert pipeline(definition(query, "recent")) == ["from", "range", "filter", "filter", "group",
                                                     "robustSteps", "keep"]
    assert "range(start: -7d)" in definition(query, "recent")
    assert pipeline(definition(query, "kept")) == ["from", "range", "filter", "filter", "map"]
    assert "range(start: 0)" in definition(query, "kept")
    now = at("2026-06-21T21:00")
    # Inverter A today: 1,000 to 1,005 kWh, a spike (OpenDTU #1022) and the dusk 0 (#1258).
    # Inverter B, silent for 10 days: only the daily total the history keeps, 2,000 kWh.
    raw = sunny_day("2026-06-21", 1000.0, 5.0) + [yieldtotal(at("2026-06-21T12:01"), 99999.0),
                                                  yieldtotal(at("2026-06-21T20:35"), 0.0)]
    history = [{"_measurement": "energy_daily", "serial": OTHER, "_field": "total_kwh",
                "_time": at("2026-06-11T00:00"), "_value": 2000.0},
               {"_measurement": "energy_daily", "serial": SERIAL, "_field": "total_kwh",
                "_time": at("2026-06-20T00:00"), "_value": 1000.0}]
    assert texts(grafana.shows(target, total_yield(raw, history, now))) == ["3005.0 kWh"]
    # A fresh install: no history yet, two samples of A.
    assert texts(grafana.shows(target, total_yield(raw[:2], [], now))) == ["1000.0 kWh"]


def dtu_panel(raw, history, now) -> tuple[fx.Stream, fx.Stream]:
    """Mirrors of dtu-now.flux (A) and dtu-last-status.flux (B)."""
    uptime = fx.filter_(fx.from_range(raw, now - timedelta(minutes=2), now),
                        lambda r: r["_measurement"] == "opendtu_dtu" and r["_field"] == "uptime")
    now_ = fx.map_(fx.last(uptime), lambda r: {"_time": r["_time"], "_value": "online",
                                                "_field": "Now"})

    def status(points):
        return fx.last(fx.filter_(fx.from_range(points, fx.EPOCH, now),
                                  lambda r: r["_measurement"] == "opendtu_dtu_info"
                                  and r["_field"] == "status"))
    last = fx.last(fx.sort(fx.group(fx.union(status(raw), status(history)))))
    return now_, fx.map_(last, lambda r: {"_time": r["_time"], "_value": r["_value"],
                                          "_field": "Last reported"})


def test_the_dtu_panel_names_what_it_shows_now_and_what_it_last_reported(grafana):
    target = panel("DTU")
    (a,) = main_statements(query_of("DTU", "A"))
    assert pipeline(a) == ["from", "range", "filter", "last", "map"]
    assert "range(start: -2m)" in a and '_field: "Now"' in a
    query = query_of("DTU", "B")
    (b,) = main_statements(query)
    assert pipeline(b) == ["union", "group", "sort", "last", "map"] and '"Last reported"' in b
    assert pipeline(definition(query, "status")) == ["from", "range", "filter", "last"]

    def dtu(topic, t, value, measurement):
        return {"_measurement": measurement, "topic": f"solar/dtu/{topic}", "_field": topic,
                "_time": t, "_value": value}
    # Connected three days ago ("online" on dtu/status), its uptime every 5 s until Wi-Fi drops
    # at 12:00; the broker publishes its will, "offline", 90 s later (keepalive).
    raw = [dtu("status", at("2026-06-18T09:00"), "online", "opendtu_dtu_info")]
    raw += [dtu("uptime", t, float(i), "opendtu_dtu") for i, t in
            enumerate(every(at("2026-06-21T11:00"), at("2026-06-21T12:00"), timedelta(seconds=5)))]
    raw.append(dtu("status", at("2026-06-21T12:01:30"), "offline", "opendtu_dtu_info"))

    def dtu_at(when, points=raw):
        return shown(grafana.shows(target, *dtu_panel(points, [], at(when))))
    assert dtu_at("2026-06-21T11:59") == [("Now", "Online", "green"),
                                          ("Last reported", "Online", "green")]
    assert dtu_at("2026-06-21T12:05") == [("Last reported", "Offline", "red")]
    # A fresh install, before OpenDTU ever connected: the panel's "No value", offline.
    assert [v[1] for v in dtu_at("2026-06-21T12:05", [])] == ["offline"]


# --- Yield today and money ------------------------------------------------------------------

def yield_today(points, now) -> fx.Stream:
    """Mirror of energy-today.flux."""
    steps = fx.robust_steps_in(points, fx.today(now, BERLIN), now, yieldtotal_of("0"),
                               MAX_INVERTER_WATTS)
    total = fx.sum_(fx.group(fx.sum_(steps)))
    return fx.map_(total, lambda r: {"_time": now, "_value": r["_value"] * 1000.0})


def wh(stream: fx.Stream) -> float:
    return sum(r["_value"] for r in stream.rows())


def test_yield_today_counts_the_step_into_the_first_value_and_every_gap_it_may(grafana):
    (main,) = main_statements(query_of("Yield today"))
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
    evening = yield_today(points, at("2026-06-20T23:00"))
    assert wh(evening) == pytest.approx(5000.0, abs=1)
    assert texts(grafana.shows(panel("Yield today"), evening)) == ["5.0 kWh"]
    # By 10:00 (first value) 1.5 kWh of today's 7.5 are made: all of it counts on day 2, the
    # 1-hour gap's 0.75 kWh (at 1.6 kW peak the step is within 3 kW x 1 h) too.
    assert wh(yield_today(points, at("2026-06-21T10:01"))) == pytest.approx(1500.0, abs=1)
    # The spike costs the steps on either side of it (into it: too steep; out of it: negative):
    # here the 5 minutes from 11:00 to 11:05, 62.5 Wh; with OpenDTU's 5 s, at most 10 s of power.
    assert wh(yield_today(points, at("2026-06-21T23:59"))) == pytest.approx(7500.0 - 62.5, abs=1)
    # The old design, values queued while Telegraf was away, delivered at once on its return:
    # the hour piles up on one instant and its steps fail the 3 kW check - energy lost.
    # Telegraf back at 13:00 gets the queue at once: 12:00 to 13:00 within milliseconds.
    queued = [p for p in points if not at("2026-06-21T12:00") <= p["_time"] <= at("2026-06-21T13:00")]
    piled = [dict(p, _time=at("2026-06-21T13:00") + timedelta(milliseconds=i))
             for i, p in enumerate(sunny_day("2026-06-21", 1005.0, 7.5)) if
             at("2026-06-21T12:00") <= p["_time"] <= at("2026-06-21T13:00")]
    lost = 7437.5 - wh(yield_today(queued + piled, at("2026-06-21T23:59")))
    assert lost > 500.0  # why the broker delivers nothing late (tests/test_broker_data_path.py)


def test_a_dusk_zero_before_a_gap_costs_none_of_the_energy_made_during_the_gap(grafana):
    # OpenDTU #1258: an inverter restarting at dusk often leaves yieldtotal's last value of the
    # day at 0. Then Wi-Fi is down until 10:00 (1.5 kWh made by then); the next week the broker
    # is away from Friday 21:00 until Monday 09:00 (the weekend's 2 x 6 kWh and Monday's first
    # 0.6 kWh come with Monday's first value). The step over each gap starts at the last real
    # value, not at the 0.
    query = query_of("Yield today")
    assert pipeline(definition(query, "robustStepsIn")) == [
        "union", "range", "filter", "filter", "last", "range", "filter", "group", "robustSteps",
        "range"]  # as fx.robust_steps_in: the last sample before the day that is not a 0
    assert "|> filter(fn: fn)\n            |> filter(fn: (r) => r._value > 0.0)\n" in query
    assert pipeline(definition(query, "robustSteps"))[:2] == ["tables", "filter"]

    def with_dusk_zero(day, start_kwh, kwh, silent=()):
        return sunny_day(day, start_kwh, kwh, silent=silent) + [
            yieldtotal(at(f"{day}T20:31"), 0.0)]
    points = (with_dusk_zero("2026-06-20", 1000.0, 5.0)
              + sunny_day("2026-06-21", 1005.0, 7.5, silent=[("2026-06-21T00:00",
                                                               "2026-06-21T10:00")]))
    morning = yield_today(points, at("2026-06-21T10:01"))
    assert texts(grafana.shows(panel("Yield today"), morning)) == ["1.5 kWh"]
    weekend = (with_dusk_zero("2026-06-26", 1100.0, 6.0)
               + sunny_day("2026-06-29", 1118.0, 6.0, silent=[("2026-06-29T00:00",
                                                                "2026-06-29T09:00")]))
    assert wh(yield_today(weekend, at("2026-06-29T09:01"))) == pytest.approx(12600.0, abs=1)
    history: dict = {}
    daily_task(weekend, at("2026-06-30T00:00"), history)
    assert history[(SERIAL, at("2026-06-29T00:00"))] == pytest.approx(18000.0, abs=1)


def energy_today_per(points, now, channel: str, per_input: bool) -> fx.Stream:
    """Mirror of energy-today-per-inverter.flux and energy-today-per-input.flux."""
    steps = fx.robust_steps_in(points, fx.today(now, BERLIN), now, yieldtotal_of(channel),
                               MAX_INVERTER_WATTS)
    days = fx.aggregate_window(steps, "1d", sum, BERLIN, time_src="_start", create_empty=False)
    named = fx.map_(days, lambda r: {"_time": r["_time"], "_value": r["_value"] * 1000.0,
                                     "_field": r["serial"] + (f" input {r['channel']}"
                                                              if per_input else "")})
    return fx.group(named, ["_field"])


@pytest.mark.parametrize("title, channel, per_input", [
    ("Yield today per inverter", "0", False), ("Energy today per DC input", "1", True)])
def test_energy_today_per_inverter_and_input_counts_the_morning_after_a_night_offline(
        grafana, title, channel, per_input):
    (main,) = main_statements(query_of(title))
    assert pipeline(main) == ["robustStepsIn", "aggregateWindow", "map", "group"]
    assert "every: 1d, fn: sum, createEmpty: false, timeSrc: \"_start\"" in main
    assert ('r.serial + " input " + r.channel' in main) == per_input
    # Two inverters (or a DC input of each), OpenDTU offline from 20:30 until 10:00: the first
    # values of the day bring the morning's energy (1.5 and 0.6 kWh), on this day's bars.
    silent = [("2026-06-21T00:00", "2026-06-21T10:00")]
    points = (sunny_day("2026-06-20", 100.0, 5.0, channel=channel)
              + sunny_day("2026-06-21", 105.0, 7.5, silent=silent, channel=channel)
              + sunny_day("2026-06-20", 50.0, 2.0, serial=OTHER, channel=channel)
              + sunny_day("2026-06-21", 52.0, 3.0, silent=silent, serial=OTHER, channel=channel))
    result = grafana.shows(panel(title), energy_today_per(points, at("2026-06-21T10:01"),
                                                         channel, per_input))
    suffix = " input 1" if per_input else ""
    assert shown(result) == [(SERIAL + suffix, "1.50 kWh", "green"),
                             (OTHER + suffix, "600 Wh", "green")]


def energy_days(points, history_points, start, stop, now) -> fx.Stream:
    """Mirror of files/flux/energy-days.flux."""
    midnight = fx.today(now, BERLIN)
    kept = fx.keep(fx.filter_(fx.from_range(history_points, start - timedelta(days=1),
                                            min(stop, midnight)),
                              lambda r: r["_measurement"] == "energy_daily"),
                   ["_time", "_value", "serial"])
    live = fx.map_(fx.sum_(fx.group(fx.robust_steps_in(points, midnight, now, yieldtotal_of("0"),
                                                       MAX_INVERTER_WATTS), ["serial"])),
                   lambda r: {"_time": midnight, "_value": r["_value"] * 1000.0,
                              "serial": r["serial"]})
    return fx.range_(fx.group(fx.union(kept, live), ["serial"]), start, stop)


def energy_daily(day, wh: float) -> dict:
    return {"_measurement": "energy_daily", "serial": SERIAL, "_field": "energy_wh",
            "_time": day, "_value": wh}


ENERGY_PANELS = [("Energy per day (last 30 days)", "1d", 30), ("Energy per month", "1mo", 24),
                 ("Energy per year", "1y", 4)]


def test_energy_bars_lie_on_the_panels_axis_and_today_is_there_on_a_fresh_day(grafana):
    now = at("2026-06-21T09:00")
    ranges = grafana.ranges(now, [{"timeFrom": panel(title).get("timeFrom"), "width": 800}
                                  for title, _, _ in ENERGY_PANELS])
    # Every day since 2023 in the history (1 kWh each), today from the raw values (the task has
    # not run yet today: right after midnight, or a fresh install).
    history, day = [], at("2023-01-01T00:00")
    while day < fx.today(now, BERLIN):
        history.append(energy_daily(day, 1000.0))
        day = fx.next_boundary(day, "1d", BERLIN)
    raw = sunny_day("2026-06-21", 2000.0, 5.0)
    for (title, unit, bars), (start, stop, _) in zip(ENERGY_PANELS, ranges):
        (main,) = main_statements(query_of(title))
        assert pipeline(main) == ["energyDays", "aggregateWindow", "map", "group"]
        assert "energyDays(start: v.timeRangeStart, stop: v.timeRangeStop)" in main
        assert f"every: {unit}, fn: sum, createEmpty: false, timeSrc: \"_start\"" in main
        result = fx.aggregate_window(energy_days(raw, history, start, stop, now), unit, sum,
                                     BERLIN, time_src="_start", create_empty=False)
        stamps = [r["_time"] for r in result.rows()]
        assert len(stamps) == bars, (title, start, stop, stamps[:3])
        assert all(start <= s < stop for s in stamps)  # on Grafana's x-axis
        assert stamps[-1] == fx.local_truncate(now, unit, BERLIN)
        assert result.rows()[-1]["_value"] > 0  # this day, month, year: today's energy in it
        named = fx.group(fx.map_(result, lambda r: {"_time": r["_time"], "_value": r["_value"],
                                                    "_field": r["serial"]}), ["_field"])
        assert grafana.shows(panel(title), named)["names"] == [SERIAL]  # the legend


def test_money_counts_today_before_the_task_ever_ran(grafana):
    for unit in ("1d", "1mo", "1y"):
        query = query_of({"1d": "Value today", "1mo": "Value this month",
                          "1y": "Value this year"}[unit])
        (main,) = main_statements(query)
        assert pipeline(main) == ["energyDays", "group", "sum", "map"]
        assert f"energyDays(start: date.truncate(t: now(), unit: {unit}), stop: now())" in main
    now = at("2026-06-21T15:01")
    raw = sunny_day("2026-06-21", 10.0, 4.0)
    for unit in ("1d", "1mo", "1y"):
        days = energy_days(raw, [], fx.local_truncate(now, unit, BERLIN), now, now)
        total = fx.sum_(fx.group(days))
        assert total.rows()[0]["_value"] == pytest.approx(2800.0, abs=1)  # 7 of 10 hours
    # At 0.25 in a currency Grafana has no unit for: its code after the value, one space apart.
    assert 'float(v: "${price}")' in main and "r._value / 1000.0" in main
    other = json.loads(dashboard("hoymiles", timezone="Europe/Berlin", price=0.25, currency="XAF"))
    value = next(p for p in other["panels"] if p["title"] == "Value this year")
    money = fx.map_(total, lambda r: {"_time": now, "_value": r["_value"] / 1000.0 * 0.25})
    assert texts(grafana.shows(value, money)) == ["0.70 XAF"]


def test_before_the_days_first_value_today_shows_nothing_made_yet_not_no_data(grafana):
    # 05:00, yesterday a normal day: today has no step yet (nothing is published at night), and
    # on the 1st of a month nor has the month, on 1 January the year.
    now = at("2026-06-01T05:00")
    raw = sunny_day("2026-05-31", 10.0, 4.0)
    assert yield_today(raw, now).rows() == []
    assert energy_days(raw, [energy_daily(at("2026-05-31T00:00"), 4000.0)],
                       fx.today(now, BERLIN), now, now).rows() == []
    for title in ("Yield today", "Value today", "Value this month", "Value this year"):
        assert texts(grafana.shows(panel(title), fx.Stream([]))) == ["0"], title


# --- line panels: windows, legends ----------------------------------------------------------

LINE_PANELS = [p for p in DASHBOARD["panels"] if p["type"] in ("timeseries", "state-timeline")
               and p["fieldConfig"]["defaults"].get("custom", {}).get("drawStyle") != "bars"]


def samples(start, stop, spacing: timedelta, value=100.0) -> list[dict]:
    return [{"_measurement": "m", "serial": SERIAL, "_field": "f", "_time": t, "_value": value}
            for t in every(start, stop, spacing)]


def datasource_minimum() -> str:
    (source,) = yaml.safe_load(render("grafana/datasource.yaml", uid="u", url="https://influx",
                                      org="solar", bucket="hoymiles", token="t",
                                      ca_cert="c"))["datasources"]
    return source["jsonData"].get("timeInterval")


def test_line_panels_draw_a_line_at_every_range_and_width(grafana):
    assert LINE_PANELS and len(LINE_PANELS) >= 10
    minimum = datasource_minimum()
    now = at("2026-06-21T12:00")
    ranges = {"5m": 300, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000,
              "1y": 31536000}
    cases = [(name, width) for name in ranges for width in (400, 800, 1600)]
    computed = grafana.ranges(now, [{"timeFrom": f"now-{name}", "width": width,
                                     "minInterval": minimum} for name, width in cases])
    # Short ranges older than the raw retention: read from the 5-minute history.
    for old in (("now-40d", "now-40d+1h"), ("now-40d", "now-40d+6h"), ("now-40d", "now-39d")):
        cases += [(old, width) for width in (400, 800, 1600)]
        computed += grafana.ranges(now, [{"timeFrom": None, "width": width, "minInterval": minimum}
                                         for width in (400, 800, 1600)], old)
    checked: dict[tuple, str] = {}
    for target in LINE_PANELS:
        query = target["targets"][0]["query"]
        floors = re.search(r"windowFloor = if source == \"\$\{history_bucket\}\" then (\w+) "
                           r"else (\w+)", query)
        assert floors, target["title"]
        assert "aggregateWindow(every: windowEvery," in query, target["title"]
        # Panels with the same floors and data spacing draw the same: worked once per spacing
        # their data can have.
        for raw_spacing in data_spacings(query):
            kind = (*floors.groups(), raw_spacing)
            if kind in checked:
                continue
            checked[kind] = target["title"]
            line_drawn_at_every_range(target["title"], floors.groups(), raw_spacing, now,
                                      cases, computed)
    assert len(checked) >= 4  # statistics, status, the battery over Bluetooth and the cloud


def data_spacings(query: str) -> list[timedelta]:
    """How far apart the values a line panel reads come (each source publishes once its interval
    has passed, so a little more). OpenDTU polls one inverter per poll interval (5 s; lib/
    Hoymiles/src/Hoymiles.cpp, loop(): inverterPos) and publishes an inverter's statistics (power,
    voltages, temperature, yields: channels 0 and 1-n) only when new ones came (src/
    MqttHandleInverter.cpp:94): every 5 s x inverters, up to 10 (include/Configuration.h
    INV_MAX_COUNT). Its status and radio topics come every publish interval (5 s). The Solix
    bridge publishes every 30 s over Bluetooth, every 60 s after each cloud read (pi/
    solix_cloud.py CloudPoller: the read, then the interval)."""
    if 'r._measurement == "solix"' in query:
        return [timedelta(seconds=30.3), timedelta(seconds=61.5)]
    if re.search(r'r\.channel (== "0"|=~ /\^(0|\[1-9\])\$/)', query):
        return [timedelta(seconds=5.05 * inverters) for inverters in (1, 2, 4, 10)]
    return [timedelta(seconds=5.05)]


def line_drawn_at_every_range(title, floors, raw_spacing, now, cases, computed) -> None:
    history_floor, raw_floor = (fx.parse_duration(f) for f in floors)
    for (name, width), (start, stop, interval_ms) in zip(cases, computed):
        history = start < now - timedelta(days=30)  # source-bucket.flux, 30 d raw
        window = fx.window_every(timedelta(milliseconds=interval_ms),
                                 history_floor if history else raw_floor)
        spacing = timedelta(minutes=5) if history else raw_spacing
        # The last 50 windows of the range are enough to see a pattern.
        shown_from = max(start, stop - 50 * window)
        data = samples(fx.local_truncate(shown_from - window, "5m", BERLIN)
                       if history else shown_from - window, stop, spacing)
        means = fx.aggregate_window(fx.from_range(data, shown_from, stop), window, fx.mean)
        values = [r["_value"] for r in means.rows()][:-1]  # the last window is still open
        assert None not in values and fx.lone_values(values) == 0, (
            title, raw_spacing, name, width, window, values.count(None))


def ac_power(points, start, stop, window) -> tuple[fx.Stream, fx.Stream]:
    """Mirror of ac-power.flux: per inverter, and the total per moment."""
    s = fx.group(fx.filter_(fx.from_range(points, start, stop), power_of("0")), ["serial"])
    per = fx.aggregate_window(s, window, fx.mean)
    each = fx.group(fx.map_(per, lambda r: {"_time": r["_time"], "_value": r["_value"],
                                            "_field": r["serial"]}), ["_field"])
    total = fx.sum_(fx.group(fx.filter_(per, lambda r: r["_value"] is not None), ["_time"]))
    return each, fx.map_(fx.group(total), lambda r: {"_time": r["_time"], "_value": r["_value"],
                                                     "_field": "total"})


def series(stream: fx.Stream) -> dict[str, list]:
    return {rows[0]["_field"]: [r["_value"] for r in rows] for _, rows in stream.tables if rows}


def test_ac_power_shows_each_inverter_and_the_total_by_name_with_the_night_a_gap(grafana):
    target = panel("AC power per inverter and total")
    query = query_of(target["title"])
    assert pipeline(definition(query, "power")) == ["from", "range", "filter", "filter", "group",
                                                    "aggregateWindow"]
    each, total = main_statements(query)
    assert pipeline(each) == ["power", "map", "group", "yield"] and "_field: r.serial" in each
    assert pipeline(total) == ["power", "filter", "group", "sum", "group", "map", "yield"]
    assert '_field: "total"' in total
    # The last hour at 12:30: 400 W and 300 W; the second inverter's AC breaker off at 12:15.
    now = at("2026-06-21T12:30")
    ((start, stop, interval_ms),) = grafana.ranges(now, [{"timeFrom": "now-1h", "width": 1600,
                                                          "minInterval": datasource_minimum()}])
    window = fx.window_every(timedelta(milliseconds=interval_ms), timedelta(seconds=10))
    points = (power(SERIAL, "0", 400.0, start - window, stop)
              + power(OTHER, "0", 300.0, start - window, at("2026-06-21T12:15")))
    each, total = ac_power(points, start, stop, window)
    assert grafana.shows(target, each, total)["names"] == [SERIAL, OTHER, "total"]
    drawn = {**series(each), **series(total)}
    assert set(drawn["total"][:-1]) == {700.0, 400.0}  # the last window is still open
    assert drawn[OTHER][-10:] == [None] * 10  # a gap, not a line at its last value
    # At night nothing is published: no series, nothing drawn from evening to morning.
    night = ac_power(points, at("2026-06-21T22:00"), at("2026-06-21T23:00"), window)
    assert [s.rows() for s in night] == [[], []]


def test_ac_power_total_is_the_sum_of_every_inverter_however_many_opendtu_polls_in_turn(grafana):
    # OpenDTU polls one inverter per 5-s poll interval, so each inverter's power comes every
    # 5 s x inverters (data_spacings). A window that misses an inverter's value sums the others
    # only: "total" would dip to a fraction of the real one.
    target = panel("AC power per inverter and total")
    floors = re.search(r"windowFloor = if source == \"\$\{history_bucket\}\" then (\w+) "
                       r"else (\w+)", query_of(target["title"]))
    raw_floor = fx.parse_duration(floors.group(2))
    now = at("2026-06-21T13:00")
    cases = [(name, width) for name in ("5m", "1h", "6h", "24h") for width in (400, 800, 1600)]
    computed = grafana.ranges(now, [{"timeFrom": f"now-{name}", "width": width,
                                     "minInterval": datasource_minimum()}
                                    for name, width in cases])
    for inverters in (2, 4, 10):
        spacing = timedelta(seconds=5.05 * inverters)
        for (name, width), (start, stop, interval_ms) in zip(cases, computed):
            window = fx.window_every(timedelta(milliseconds=interval_ms), raw_floor)
            shown_from = max(start, stop - 30 * window)
            points = [p for n in range(inverters) for p in power(
                f"1161907454{n:02}", "0", 400.0, shown_from - window + n * timedelta(seconds=5.05),
                stop, spacing)]
            each, total = ac_power(points, shown_from, stop, window)
            drawn = series(total)["total"][:-1]  # the last window is still open
            assert set(drawn) == {400.0 * inverters}, (inverters, name, width, window,
                                                       sorted(set(drawn)))
            assert all(fx.lone_values(values[:-1]) == 0 for values in series(each).values())


def dc_power(points, names, start, stop, window, now) -> fx.Stream:
    """Mirror of dc-power.flux."""
    named = fx.filter_(fx.from_range(names, now - timedelta(days=30), now),
                       lambda r: r["_measurement"] == "opendtu_inverter_info"
                       and r["_field"] == "name" and r.get("channel") not in (None, "device"))
    named = fx.keep(fx.group(fx.last(named)), ["serial", "channel", "_value"])
    s = fx.filter_(fx.from_range(points, start, stop),
                   lambda r: r["_field"] == "power" and re.fullmatch(r"[1-9]", r["channel"]))
    s = fx.group(fx.aggregate_window(fx.group(s, ["serial", "channel"]), window, fx.mean))

    def label(left, right):
        name = right.get("_value")
        return {"_time": left["_time"], "_value": left["_value"],
                "_field": f"{left['serial']} input {left['channel']}"
                          + (f" ({name})" if name else "")}
    joined = fx.join_left(s, named, lambda l, r: (l["serial"], l["channel"]) ==
                          (r["serial"], r["channel"]), label)
    return fx.group(joined, ["_field"])


def test_dc_power_names_each_input_once_whatever_the_owner_named_it(grafana):
    target = panel("DC power per input")
    query = query_of(target["title"])
    assert pipeline(definition(query, "names")) == ["from", "range", "filter", "filter", "last",
                                                    "group", "keep"]
    assert pipeline(definition(query, "power")) == ["from", "range", "filter", "filter", "group",
                                                    "aggregateWindow", "group"]
    (main,) = main_statements(query)
    assert pipeline(main) == ["join.left", "group"]
    assert re.search(r'_field: l\.serial \+ " input " \+ l\.channel\s*\+ \(if exists r\._value '
                     r'and r\._value != "" then " \(" \+ r\._value \+ "\)" else ""\)', main)
    # Inverter A's inputs have OpenDTU's default name, "" (src/Configuration.cpp); inverter B's
    # are both named "Süd". Each input its own power.
    now = at("2026-06-21T12:00")
    start, stop, window = now - timedelta(hours=1), now, timedelta(seconds=10)
    watts = {(SERIAL, "1"): 100.0, (SERIAL, "2"): 110.0, (OTHER, "1"): 120.0, (OTHER, "2"): 130.0}
    points = [p for (serial, channel), w in watts.items()
              for p in power(serial, channel, w, start - window, stop)]
    names = [inverter(serial, channel, "name", now - timedelta(minutes=1),
                      "" if serial == SERIAL else "Süd", "opendtu_inverter_info")
             for serial, channel in watts]
    result = dc_power(points, names, start, stop, window, now)
    assert grafana.shows(target, result)["names"] == [
        f"{SERIAL} input 1", f"{SERIAL} input 2",
        f"{OTHER} input 1 (Süd)", f"{OTHER} input 2 (Süd)"]
    for (serial, channel), w in watts.items():  # one input per series, never two mixed
        (values,) = [v for name, v in series(result).items()
                     if name.startswith(f"{serial} input {channel}")]
        assert set(values[:-1]) == {w}


def inverter_series(points, query: str, start, stop, window) -> fx.Stream:
    """Mirror of inverter-series.flux, with the fields, channels, function and naming the
    rendered query has."""
    fields = re.findall(r'r\._field == "(\w+)"', query)
    channels = re.search(r"r\.channel =~ /\^(.+?)\$/", query).group(1)
    fn = {"mean": fx.mean, "last": lambda values: values[-1]}[
        re.search(r"aggregateWindow\(every: windowEvery, fn: (\w+)", query).group(1)]
    per_input = '+ " input " + r.channel' in query
    s = fx.filter_(fx.from_range(points, start, stop),
                   lambda r: re.fullmatch(channels, r["channel"]) and r["_field"] in fields)
    s = fx.aggregate_window(fx.group(s, ["serial", "channel", "_field"]), window, fn)
    s = fx.map_(s, lambda r: {"_time": r["_time"], "_value": r["_value"], "_field": r["serial"]
                              + (f" input {r['channel']}" if per_input else "")
                              + " " + r["_field"]})
    return fx.group(s, ["_field"])


INVERTER_SERIES = [p for p in DASHBOARD["panels"] if "gaps where nothing came" in
                   p.get("targets", [{}])[0].get("query", "") and "solix" not in
                   p["targets"][0]["query"]]


def test_every_inverter_series_is_named_by_inverter_input_and_value_never_by_topic(grafana):
    assert len(INVERTER_SERIES) >= 7
    now = at("2026-06-21T12:00")
    start, stop, window = now - timedelta(minutes=30), now, timedelta(seconds=10)
    for target in INVERTER_SERIES:
        query = target["targets"][0]["query"]
        (main,) = main_statements(query)
        assert pipeline(main) == ["from", "range", "filter", "filter", "group",
                                  "aggregateWindow", "map", "group"], target["title"]
        fields = re.findall(r'r\._field == "(\w+)"', query)
        channels = ["0"] if "/^0$/" in query else ["status"] if "/^status$/" in query else \
            ["radio"] if "/^radio$/" in query else ["1", "2"]
        # Two inverters, each value its own number, until Wi-Fi drops 5 minutes before now.
        values = {(serial, channel, field): float(n) for n, (serial, channel, field) in enumerate(
            (s, c, f) for s in (SERIAL, OTHER) for c in channels for f in fields)}
        points = [inverter(serial, channel, field, t, v)
                  for (serial, channel, field), v in values.items()
                  for t in every(start - window, stop - timedelta(minutes=5),
                                 timedelta(seconds=5.05))]
        result = inverter_series(points, query, start, stop, window)
        names = grafana.shows(target, result)["names"]
        per_input = channels == ["1", "2"]
        assert names == [f"{s}{f' input {c}' if per_input else ''} {f}"
                         for (s, c, f) in values], target["title"]
        for (serial, channel, field), v in values.items():  # one value per series, a gap after
            name = f"{serial}{f' input {channel}' if per_input else ''} {field}"
            drawn = series(result)[name]
            assert set(drawn[:-31]) == {v} and drawn[-30:] == [None] * 30, (target["title"], name)


def last_update_age(raw, history, now) -> fx.Stream:
    """Mirror of last-update-age.flux."""
    def last_update(points):
        s = fx.filter_(fx.from_range(points, fx.EPOCH, now),
                       lambda r: r["_measurement"] == "mqtt_consumer" and r["channel"] == "status"
                       and r["_field"] == "last_update")
        return fx.last(fx.filter_(s, lambda r: r["_value"] > 0.0))
    s = fx.max_(fx.group(fx.union(last_update(raw), last_update(history)), ["serial"]))
    s = fx.map_(s, lambda r: {"_time": r["_time"], "_field": r["serial"],
                              "_value": float(int(now.timestamp())) - r["_value"]})
    return fx.group(s, ["_field"])


def update(serial, t, value=None) -> dict:
    """OpenDTU's status/last_update: the time of the inverter's last statistics (0 before the
    first since OpenDTU started, src/MqttHandleInverter.cpp)."""
    return inverter(serial, "status", "last_update", t, t.timestamp() if value is None else value)


def test_age_of_the_last_statistics_keeps_growing_for_a_silent_inverter(grafana):
    target = panel("Age of the last statistics")
    query = query_of(target["title"])
    (main,) = main_statements(query)
    assert pipeline(main) == ["union", "group", "max", "map", "group"]
    body = definition(query, "lastUpdate")
    assert pipeline(body) == ["from", "range", "filter", "filter", "last"]
    assert "range(start: 0)" in body and "r._value > 0.0" in body
    now = at("2026-06-24T12:00")
    # A: statistics 5 s ago. B: silent since three days, longer than any look-back; OpenDTU
    # restarted last night and publishes last_update 0 for it since.
    raw = [update(SERIAL, now - timedelta(seconds=5)),
           update(OTHER, at("2026-06-21T13:00")),
           update(OTHER, at("2026-06-23T23:00"), 0.0),
           update(OTHER, now - timedelta(seconds=5), 0.0)]
    assert sorted(shown(grafana.shows(target, last_update_age(raw, [], now)))) == [
        (SERIAL, "5 s", "green"), (OTHER, "3 days", "red")]
    # After the raw retention, the history (5-minute means, kept forever) still has it.
    history = [dict(update(OTHER, at("2026-05-01T13:00")), topic=None)]
    assert sorted(shown(grafana.shows(target, last_update_age(raw[:1], history, now))))[1] == (
        OTHER, "8 weeks", "red")


# --- the battery rows -----------------------------------------------------------------------

def solix(field: str, t, value, serial="AZV6Y60D33200788") -> dict:
    return {"_measurement": "solix", "serial": serial, "model": "Solarbank2",
            "topic": f"solar/solix/{serial}/Solarbank2/{field}", "_field": field, "_time": t,
            "_value": value}


def battery(query: str, points, start, stop, pick) -> fx.Stream:
    """Mirror of battery-now.flux (pick last), battery-counters.flux (pick max)."""
    fields = re.findall(r'r\._field == "(\w+)"', query)
    s = fx.filter_(fx.from_range(points, start, stop), lambda r: r["_field"] in fields)
    return fx.keep(pick(s), ["_time", "_field", "_value"])


def battery_series(query: str, points, start, stop, window) -> fx.Stream:
    """Mirror of battery-series.flux."""
    fields = re.findall(r'r\._field == "(\w+)"', query)
    per_pv = "solar_pv_[0-9]+_power_in" in query
    s = fx.filter_(fx.from_range(points, start, stop), lambda r: r["_field"] in fields or (
        per_pv and re.fullmatch(r"solar_pv_[0-9]+_power_in", r["_field"])))
    s = fx.aggregate_window(fx.group(s, ["_field"]), window, fx.mean)
    return fx.keep(s, ["_time", "_field", "_value"])


def test_battery_panels_show_the_batterys_values_by_name_and_no_stale_charge(grafana):
    now = at("2026-06-21T20:00")
    # The bridge publishes every 30 s until it stops at 19:20; a counter glitches to 0 once.
    points = [solix(field, t, value) for field, value in (
        ("battery_percentage", 64.0), ("battery_charge_power", 120.0),
        ("battery_discharge_power", 0.0), ("solar_power_in", 300.0), ("solar_pv_1_power_in", 180.0),
        ("solar_pv_2_power_in", 120.0), ("ac_power_out", 180.0), ("house_demand", 240.0),
        ("pv_yield", 12.5), ("charged_energy", 8.25), ("output_energy", 7.75))
        for t in every(at("2026-06-21T18:00"), at("2026-06-21T19:20"), timedelta(seconds=30.3))]
    points.append(solix("pv_yield", at("2026-06-21T19:00"), 0.0))

    gauge = panel("Battery state of charge")
    query = query_of(gauge["title"])
    (main,) = main_statements(query)
    assert pipeline(main) == ["from", "range", "filter", "filter", "last", "keep"]
    assert "range(start: -30m)" in main
    at_1915 = battery(query, points, at("2026-06-21T18:45"), at("2026-06-21T19:15"), fx.last)
    assert shown(grafana.shows(gauge, at_1915)) == [("battery_percentage", "64%", "green")]
    # Forty minutes after the bridge stopped, no charge is shown rather than a stale one (the
    # "Battery bridge offline" alert says why).
    gone = battery(query, points, now - timedelta(minutes=30), now, fx.last)
    assert texts(grafana.shows(gauge, gone)) == ["No data"]

    counters = panel("Battery energy counters")
    query = query_of(counters["title"])
    (main,) = main_statements(query)
    assert pipeline(main) == ["from", "range", "filter", "filter", "max", "keep"]
    result = battery(query, points, now - timedelta(days=30), now, fx.max_)
    assert shown(grafana.shows(counters, result)) == [
        ("pv_yield", "12.50 kWh", "blue"), ("charged_energy", "8.25 kWh", "blue"),
        ("output_energy", "7.75 kWh", "blue")]

    window = timedelta(seconds=60)
    for title in ("Battery charge and discharge power", "Solar input per PV input",
                  "Output to the home"):
        target = panel(title)
        query = query_of(title)
        (main,) = main_statements(query)
        assert pipeline(main) == ["from", "range", "filter", "filter", "group",
                                  "aggregateWindow", "keep"], title
        result = battery_series(query, points, now - timedelta(hours=3), now, window)
        names = grafana.shows(target, result)["names"]
        assert names and all(re.fullmatch(r"[a-z_0-9]+", n) for n in names), (title, names)
    assert names == ["ac_power_out", "house_demand"]


# --- the inverter status table ----------------------------------------------------------------

def test_inverter_status_is_one_row_per_inverter(grafana):
    query = query_of("Inverter status")
    (main,) = main_statements(query)
    assert pipeline(main) == ["from", "range", "filter", "filter", "last", "group", "pivot",
                              "group", "keep"]
    assert 'group(columns: ["serial"])\n  |> pivot(rowKey: ["serial"]' in main
    now = at("2026-06-21T12:00")
    points = [inverter(s, "status", f, now - timedelta(seconds=10), v)
              for s in (SERIAL, OTHER)
              for f, v in (("reachable", 1.0), ("producing", 1.0), ("limit_relative", 100.0))]
    s = fx.last(fx.from_range(points, now - timedelta(hours=1), now))
    s = fx.pivot(fx.group(s, ["serial"]), ["serial"], "_field", "_value")
    table = fx.keep(fx.group(s), ["serial", "reachable", "producing", "limit_relative",
                                  "limit_absolute"])
    assert [(r["serial"], r["reachable"], r["limit_relative"]) for r in table.rows()] == [
        (SERIAL, 1.0, 100.0), (OTHER, 1.0, 100.0)]
    assert grafana.shows(panel("Inverter status"), table)["names"] == [
        "serial", "reachable", "producing", "limit_relative"]  # the table's columns


# --- the tasks --------------------------------------------------------------------------------

def task_text(name: str) -> str:
    """A task as the influx node gets it (components/influx_node.py task_values)."""
    return render(f"influx/tasks/{name}.flux", backfill=False, bucket="hoymiles",
                  history_bucket="hoymiles_history",
                  **influx_node.task_values("forever", "30d", "Europe/Berlin")[name])


def flux_duration_expression(expression: str, names: dict):
    """A Flux expression of durations, `if ... then ... else ...` and date.hour/date.minute of
    the times in `names` (UTC), evaluated in Python."""
    found = re.fullmatch(r"if (.+?) then (.+?) else (.+)", expression.strip())
    if found:
        test, then, otherwise = found.groups()
        python = re.sub(r"date\.(hour|minute)\(t: (\w+)\)",
                        lambda m: f"{m.group(2)}.astimezone(UTC).{m.group(1)}", test)
        return (flux_duration_expression(then, names)
                if eval(python, {"UTC": UTC}, names)  # noqa: S307 - our own task's text
                else flux_duration_expression(otherwise, names))
    return fx.parse_duration(expression.strip())


def late_day(text: str, run_at) -> tuple | None:
    """The earlier day (start, stop) a run of the rendered daily-energy task reads again, in
    turn (lateDay, lateEnd), or None when it reads only yesterday and today."""
    found = re.search(r"\(1 \+ date\.hour\(t: now\(\)\) % (\d+)\)", text)
    if not found:
        return None
    assert LATE_DAY_FLUX.format(turn=found.group(1)) in text
    before_noon = 1 + run_at.astimezone(BERLIN).hour % int(found.group(1))
    day = fx.local_truncate(yesterday_noon(run_at) - before_noon * timedelta(days=1), "1d", BERLIN)
    return day, fx.local_truncate(day + timedelta(hours=36), "1d", BERLIN)


def yesterday_noon(run_at):
    """noon in files/influx/tasks/daily-energy.flux: 12 hours before today's midnight."""
    return fx.local_truncate(run_at, "1d", BERLIN) - timedelta(hours=12)


DAYS_FLUX = """noon = date.sub(d: 12h, from: date.truncate(t: now(), unit: 1d))
start = date.truncate(t: noon, unit: 1d)
stop = now()"""
LATE_DAY_FLUX = """lateDay = date.truncate(t: date.sub(d: duration(v: (1 + date.hour(t: now()) % {turn}) * 86400000000000),
    from: noon), unit: 1d)
lateEnd = date.truncate(t: date.add(d: 36h, to: lateDay), unit: 1d)"""
LATE_STEPS_FLUX = """steps = union(tables: [
        robustStepsIn(bucket: "hoymiles", start: start, stop: stop, fn: yieldtotal),
        robustStepsIn(bucket: "hoymiles", start: lateDay, stop: lateEnd, fn: yieldtotal),
    ])
    |> group(columns: ["serial", "channel"])
    |> range(start: lateDay, stop: stop)"""


def daily_task(points, run_at, history: dict, text: str | None = None) -> None:
    """One run of files/influx/tasks/daily-energy.flux (mirrored): yesterday, today so far and
    the earlier day it reads in turn, per day in the owner's zone, written over what the
    history holds for them."""
    text = text or task_text("daily-energy")
    assert DAYS_FLUX in text
    stretches = [(fx.local_truncate(yesterday_noon(run_at), "1d", BERLIN), run_at)]
    late = late_day(text, run_at)
    if late:
        assert LATE_STEPS_FLUX in text
        stretches.append(late)
    steps = fx.union(*(fx.robust_steps_in(points, start, stop, yieldtotal_of("0"),
                                          MAX_INVERTER_WATTS) for start, stop in stretches))
    steps = fx.range_(fx.group(steps, ["serial", "channel"]), stretches[-1][0], run_at)
    days = fx.aggregate_window(steps, "1d", sum, BERLIN, time_src="_start", create_empty=False)
    for row in days.rows():
        history[(row["serial"], row["_time"])] = row["_value"] * 1000.0


def test_the_daily_task_writes_each_day_right_and_never_overwrites_it_with_less():
    text = task_text("daily-energy")
    # Three days around the change to summer time (29 March 2026: a 23-hour day), Wi-Fi down
    # from 20:30 on the 28th until 10:00 on the 29th.
    points = (sunny_day("2026-03-28", 500.0, 3.0)
              + sunny_day("2026-03-29", 503.0, 4.0, silent=[("2026-03-29T00:00", "2026-03-29T10:00")])
              + sunny_day("2026-03-30", 507.0, 2.0))
    truth = {at("2026-03-28T00:00"): 3000.0, at("2026-03-29T00:00"): 4000.0,
             at("2026-03-30T00:00"): 2000.0}
    history: dict = {}
    # Every hourly run, now() its scheduled time (influxdb task/backend/executor/executor.go).
    run, correct = at("2026-03-28T00:02"), set()
    while run < at("2026-03-31T03:00"):
        daily_task([p for p in points if p["_time"] < run], run, history, text)
        for (_, day), value in history.items():
            assert value <= truth[day] + 1, (run, day, value)
            if day in correct:
                assert value == pytest.approx(truth[day], abs=1), (run, day, value)
            elif abs(value - truth[day]) <= 1 and run >= day + timedelta(hours=21):
                correct.add(day)
        run = fx.next_boundary(run, "1h", BERLIN)
    assert {day: value for (_, day), value in history.items()} == pytest.approx(truth, abs=1)
    assert set(truth) <= correct


def downsample_lookback(text: str, stop) -> timedelta:
    """How far back a run of the rendered downsample task reads (its start and stop lines)."""
    assert "stop = date.truncate(t: now(), unit: 5m)" in text
    found = re.search(r"start = date\.sub\(d: (.+?), from: stop\)", text)
    return flux_duration_expression(found.group(1), {"stop": stop})


def downsample_runs(text, points, arrives, first_run, last_run, caught_up) -> dict:
    """Every run of the 5-minute task from `first_run` to `last_run` on `points` (each stored in
    InfluxDB once `arrives(point)`), now() its scheduled time, the catch-up runs included
    (influxdb task/backend/executor/executor.go): the runs due during an outage execute at
    `caught_up` = (when InfluxDB is back, when its scheduler has caught up). {window: mean}."""
    points = sorted(points, key=lambda p: p["_time"])
    times = [p["_time"] for p in points]
    history: dict = {}
    run = first_run
    while run <= last_run:
        back, executed = caught_up
        executed = max(run, executed) if run <= back else run
        stop = fx.local_truncate(run, "5m", BERLIN)
        start = stop - downsample_lookback(text, stop)
        stored = [p for p in points[bisect_left(times, start):bisect_left(times, stop)]
                  if arrives(p) <= executed]
        if stored:
            means = fx.aggregate_window(fx.from_range(stored, start, stop), "5m", fx.mean,
                                        create_empty=False)
            for row in means.rows():
                history[row["_time"]] = row["_value"]
        run += timedelta(minutes=5)
    return history


def wrong_windows(points, history: dict, start, stop) -> list:
    truth = fx.aggregate_window(fx.from_range(points, start, stop), "5m", fx.mean,
                                create_empty=False)
    return [r["_time"] for r in truth.rows()
            if history.get(r["_time"]) != pytest.approx(r["_value"])]


def test_values_that_reach_influxdb_late_reach_the_history():
    text = task_text("downsample")
    # InfluxDB away from 10:00 to 13:00: Telegraf keeps the values in its buffer (stamped when
    # they arrived) and writes them at 13:03; at 13:00:30 the scheduler has already caught up
    # on the missed runs, which found nothing. A value every 30 s does as well as every 5 s.
    day = samples(at("2026-06-21T09:00"), at("2026-06-21T15:00"), timedelta(seconds=30))
    for i, point in enumerate(day):
        point["_value"] = float(i % 97)
    arrives = lambda p: (at("2026-06-21T13:03") if at("2026-06-21T10:00") <= p["_time"]  # noqa: E731
                         < at("2026-06-21T13:00") else p["_time"])
    history = downsample_runs(text, day, arrives, at("2026-06-21T09:05"), at("2026-06-21T15:00"),
                              (at("2026-06-21T13:00"), at("2026-06-21T13:00:30")))
    missing = wrong_windows(day, history, at("2026-06-21T09:00"), at("2026-06-21T15:00"))
    assert missing == [], f"{len(missing)} windows wrong or missing, from {missing[0]}"


def test_the_shortest_raw_retention_still_reads_yesterday_again_and_a_shorter_is_refused():
    hours = config.MIN_RAW_RETENTION_HOURS
    assert influx_node.rewrite_days(f"{hours}h") == 1
    assert config.parse_raw_retention(f"{hours}h") == f"{hours}h"
    assert config.parse_raw_retention(4) == "4d"
    for short in (f"{hours - 1}h", 3, "0d", "30m"):
        with pytest.raises(config.ConfigError, match="rawRetention"):
            config.parse_raw_retention(short)
    assert [influx_node.rewrite_days(r) for r in ("7d", "12d", "30d", "52w")] == [4, 9, 10, 10]


@pytest.mark.parametrize("retention", ["73h", "7d", "30d"])
def test_the_tasks_never_write_a_day_again_from_raw_values_the_retention_has_begun_to_drop(
        retention):
    # Whatever InfluxDB has deleted, everything younger than the retention is there (it deletes a
    # whole shard group once its end is older: v1/services/meta/data.go:1260-1268): the worst
    # case is that nothing older is left. Wi-Fi is down every night until 10:00, so each day's
    # first step comes from the evening before, which the task must still find.
    kept = fx.parse_duration(retention) if retention[-1] != "h" else timedelta(
        hours=int(retention[:-1]))
    values = influx_node.task_values("forever", retention, "Europe/Berlin")
    daily = render("influx/tasks/daily-energy.flux", backfill=False, bucket="hoymiles",
                   history_bucket="hoymiles_history", **values["daily-energy"])
    points = [p for day in range(1, 20) for p in sunny_day(
        f"2026-06-{day:02}", 1000.0 + 5 * day, 5.0, spacing=timedelta(minutes=15),
        silent=[(f"2026-06-{day:02}T00:00", f"2026-06-{day:02}T10:00")])]
    energy = {(SERIAL, at(f"2026-06-{day:02}T00:00")): 5000.0 for day in range(1, 20)}
    for run in every(at("2026-06-18T00:00"), at("2026-06-20T00:00"), timedelta(hours=1)):
        daily_task([p for p in points if run - kept <= p["_time"] < run], run, energy, daily)
        wrong = {day: wh for (_, day), wh in energy.items()
                 if day < fx.today(run, BERLIN) and abs(wh - 5000.0) > 1}
        assert wrong == {}, (retention, run)
    downsample = render("influx/tasks/downsample.flux", backfill=False, bucket="hoymiles",
                        history_bucket="hoymiles_history", **values["downsample"])
    for run in (at("2026-06-19T02:00"), at("2026-06-19T02:05")):  # 00:00 UTC, and a later one
        stop = fx.local_truncate(run, "5m", BERLIN)
        assert downsample_lookback(downsample, stop) <= kept, (retention, run)


def test_an_influxdb_outage_of_three_days_reaches_the_history_and_the_energy_per_day():
    # InfluxDB away from Friday 08:00 until Monday 10:00 (a full disk, the owner away): Telegraf
    # keeps the three days of values in its disk buffer, stamped when they arrived, and writes
    # them at 10:03; the scheduler's catch-up runs, due while it was away, ran at 10:00:30 and
    # found nothing (influxdb task/backend/scheduler/treescheduler.go).
    away, landed = (at("2026-06-19T08:00"), at("2026-06-22T10:00")), at("2026-06-22T10:03")
    back, caught_up = away[1], at("2026-06-22T10:00:30")

    def arrives(point):
        return landed if away[0] <= point["_time"] < away[1] else point["_time"]
    # The 5-minute history, which the charts show beyond rawRetention (a value a minute does as
    # well as every 5 s). Monday 10:05 rewrites the last hour, 11:00 the last day, and 02:00
    # (00:00 UTC) the last 10 days: all of the outage.
    values = samples(at("2026-06-19T07:00"), at("2026-06-23T03:00"), timedelta(seconds=60))
    for i, point in enumerate(values):
        point["_value"] = float(i % 89)
    text = task_text("downsample")
    for last_run, still_wrong in ((at("2026-06-22T11:00"), (away[0], at("2026-06-21T11:00"))),
                                  (at("2026-06-23T01:55"), (away[0], at("2026-06-21T11:00"))),
                                  (at("2026-06-23T02:00"), None)):
        history = downsample_runs(text, values, arrives, at("2026-06-19T07:05"), last_run,
                                  (back, caught_up))
        wrong = wrong_windows(values, history, at("2026-06-19T07:00"),
                              fx.local_truncate(last_run, "5m", BERLIN))
        expected = [] if still_wrong is None else [w for w in wrong_windows(values, {}, *still_wrong)]
        assert wrong == expected, (last_run, len(wrong), wrong[:1], wrong[-1:])
    # The daily energy: 5 kWh a day. Every hourly run (offset 2 minutes); yesterday is right at
    # 11:00, the day before at 18:00 (1 + 18 % 9 = 1 day before yesterday), Friday at 19:00.
    points = [p for day in (18, 19, 20, 21, 22, 23) for p in sunny_day(
        f"2026-06-{day}", 1000.0 + 5 * (day - 18), 5.0, spacing=timedelta(minutes=1))]
    truth = {at(f"2026-06-{day}T00:00"): 5000.0 for day in (18, 19, 20, 21)}
    energy: dict = {}
    right_since: dict = {}
    for run in every(at("2026-06-19T00:00"), at("2026-06-23T12:00"), timedelta(hours=1)):
        executed = max(run, caught_up) if away[0] < run <= back else run + timedelta(minutes=2)
        daily_task([p for p in points if arrives(p) <= executed and p["_time"] < run], run,
                   energy, task_text("daily-energy"))
        for day, wh in truth.items():
            right = abs(energy.get((SERIAL, day), 0.0) - wh) <= 1
            if right:
                right_since.setdefault(day, run)
            else:
                right_since.pop(day, None)
    assert right_since == {at("2026-06-18T00:00"): at("2026-06-19T00:00"),
                           at("2026-06-19T00:00"): at("2026-06-22T19:00"),
                           at("2026-06-20T00:00"): at("2026-06-22T18:00"),
                           at("2026-06-21T00:00"): at("2026-06-22T11:00")}
    # What the owner sees on Tuesday at noon: a 5 kWh bar for every day of the outage.
    now = at("2026-06-23T12:00")
    history = [energy_daily(day, wh) for (_, day), wh in energy.items()]
    bars = fx.aggregate_window(energy_days(
        [p for p in points if p["_time"] < now], history, now - timedelta(days=30), now, now),
        "1d", sum, BERLIN, time_src="_start", create_empty=False)
    shown = {r["_time"]: r["_value"] for r in bars.rows()}
    assert {day: shown[day] for day in truth} == pytest.approx(truth, abs=1)
    assert shown[at("2026-06-22T00:00")] == pytest.approx(5000.0, abs=1)
