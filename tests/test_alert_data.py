"""When each alert rule fires and resolves: worked datasets through the rules' Flux (mirrored in
tests/flux_mirror.py, each function citing the Flux source it follows, each mirror tied to the
rendered query's pipeline) and Grafana's alert states as the rules are provisioned
(files/grafana/alerting.yaml: evaluated every minute, reduced to the last value, compared with
the threshold, `for` the rule's wait, noDataState OK)."""

from __future__ import annotations

from datetime import timedelta

import flux_mirror as fx
from components.alert_rules import DAYLIGHT, RULES, query as alert_query
from panel_data import (BERLIN, OTHER, SERIAL, at, definition, every, inverter,
                        main_statements, pipeline)

RULE = {rule.name: rule for rule in RULES}


def rendered(name: str) -> str:
    return alert_query(RULE[name], "hoymiles", "Europe/Berlin")


def evaluate(rule, value_at, start, stop) -> list[tuple]:
    """Grafana's alert states for a rule evaluated every minute from `start` to `stop`, as
    (time, series, state) at every change. `value_at(now)` gives {series: value} (the query
    reduced to its last value; a series missing is no data). As grafana/grafana pkg/services/
    ngalert/state/state.go does it (resultAlerting, resultNormal): a true condition makes a
    series Pending, then Alerting once it has held `for` the rule's wait; a false one, or no
    data (noDataState OK), makes it Normal: resolved."""
    wait = fx.parse_duration(rule.wait)
    states: dict[str, tuple[str, object]] = {}
    changes = []
    for now in every(start, stop + timedelta(seconds=1), timedelta(minutes=1)):
        values = value_at(now)
        for series in set(values) | set(states):
            value = values.get(series)
            firing = value is not None and (value > rule.above if rule.above is not None
                                            else value < rule.below)
            state, since = states.get(series, ("Normal", now))
            if not firing:
                new = ("Normal", now)
            elif state == "Normal":
                new = ("Pending", now)
            elif state == "Pending" and now - since >= wait:
                new = ("Alerting", now)
            else:
                new = (state, since)
            if new[0] != state:
                changes.append((now, series, new[0]))
            states[series] = new
    return changes


def daylight(now) -> bool:
    """files/grafana/alerts/daylight.flux: the hour of `now` on the owner's clock."""
    return DAYLIGHT[0] <= now.astimezone(BERLIN).hour < DAYLIGHT[1]


def reference(now):
    """daylight.flux's `reference`: now in daylight, else 14:00 on the owner's clock today or
    yesterday (date.add on the wall clock)."""
    if daylight(now):
        return now
    midnight = fx.today(now, BERLIN)
    if now.astimezone(BERLIN).hour < DAYLIGHT[1]:
        midnight = fx.local_truncate(midnight - timedelta(hours=1), "1d", BERLIN)
    day = midnight.astimezone(BERLIN).replace(tzinfo=None)
    return (day + timedelta(hours=DAYLIGHT[1])).replace(tzinfo=BERLIN).astimezone(fx.UTC)


def shifted(history: fx.Stream) -> fx.Stream:
    """The history's last value moved to its window's start (`timeShift(duration: -5m)`)."""
    return fx.time_shift(history, -timedelta(minutes=5))


def until(points: list[dict], now) -> list[dict]:
    """What InfluxDB holds at `now`: the points before it."""
    return [p for p in points if p["_time"] < now]


def reads_the_last_known_value(text: str, function: str) -> None:
    """The rule reads each series' last value however old, from the raw values and from the
    history moved to its windows' start, and keeps the latest: what the mirrors below run."""
    (main,) = main_statements(text)
    assert pipeline(main) == ["union", "timeShift", "group", "max", "map"]
    assert 'max(column: "_time")' in main
    assert '"hoymiles_history") |> timeShift(duration: -5m)' in main
    assert pipeline(definition(text, function)) == ["from", "range", "filter", "last"]
    assert "range(start: 0)" in definition(text, function)


def last_of(points, now, fn) -> fx.Stream:
    """`from |> range(start: 0) |> filter(fn) |> last()` of one bucket."""
    return fx.last(fx.filter_(fx.from_range(points, fx.EPOCH, now), fn))


def test_reference_is_the_end_of_the_latest_daylight_on_the_owners_clock():
    text = rendered("no-production")
    assert ("reference = if daylight then now() else date.add(d: 14h, to: if hour >= 14 then "
            "today() else date.sub(d: 1d, from: today()))") in text
    assert reference(at("2026-06-21T12:00")) == at("2026-06-21T12:00")
    assert reference(at("2026-06-21T20:00")) == at("2026-06-21T14:00")
    assert reference(at("2026-03-29T09:00")) == at("2026-03-28T14:00")  # over a 23-hour night
    assert reference(at("2026-10-25T13:59")) == at("2026-10-25T13:59")


# --- OpenDTU sends no data ----------------------------------------------------------------------

def dtu_silent(raw, history, now) -> dict:
    """Mirror of files/grafana/alerts/dtu-silent.flux."""
    def uptime(points):
        return last_of(points, now, lambda r: r["_measurement"] == "opendtu_dtu"
                       and r["_field"] == "uptime")
    s = fx.max_(fx.group(fx.union(uptime(raw), shifted(uptime(history)))), "_time")
    return {"": (now - r["_time"]) / timedelta(minutes=1) for r in s.rows()}


def test_opendtu_silent_fires_after_15_minutes_and_keeps_firing_however_long():
    reads_the_last_known_value(rendered("dtu-silent"), "lastUptime")
    rule = RULE["dtu-silent"]
    # OpenDTU's uptime every 5 s until its Wi-Fi drops at 12:00; the history holds its 5-minute
    # means, stamped at each window's end (aggregateWindow's _stop).
    raw = [{"_measurement": "opendtu_dtu", "topic": "solar/dtu/uptime", "_field": "uptime",
            "_time": t, "_value": 1.0}
           for t in every(at("2026-06-21T11:30"), at("2026-06-21T12:00"), timedelta(seconds=5))]
    history = [dict(p, _time=at("2026-06-21T12:00"), topic=None) for p in raw[-1:]]
    changes = evaluate(rule, lambda now: dtu_silent(raw, history, now),
                       at("2026-06-21T11:55"), at("2026-06-21T12:30"))
    assert changes == [(at("2026-06-21T12:15"), "", "Pending"),
                       (at("2026-06-21T12:16"), "", "Alerting")]
    # Still silent a week later, and after the raw values are gone (30 days): still firing.
    for later in (at("2026-06-29T12:00"), at("2026-07-31T12:00")):
        kept = raw if later - at("2026-06-21T12:00") < timedelta(days=30) else []
        assert dtu_silent(kept, history, later)[""] > rule.above
    # A fresh install, before OpenDTU ever connected: no data, no alert.
    assert evaluate(rule, lambda now: dtu_silent([], [], now), at("2026-06-21T11:55"),
                    at("2026-06-21T12:30")) == []


# --- Inverter not heard from in daylight --------------------------------------------------------

def stale_minutes(raw, history, now) -> dict:
    """Mirror of files/grafana/alerts/inverter-stale.flux."""
    def last_update(points):
        return fx.last(fx.filter_(fx.filter_(fx.from_range(points, fx.EPOCH, now), lambda r: (
            r["channel"] == "status" and r["_field"] == "last_update")),
            lambda r: r["_value"] > 0.0))
    s = fx.max_(fx.group(fx.union(last_update(raw), last_update(history)), ["serial"]))
    return {r["serial"]: (reference(now).timestamp() - r["_value"]) / 60.0 for r in s.rows()}


def update(serial, t, value=None) -> dict:
    return inverter(serial, "status", "last_update", t, t.timestamp() if value is None else value)


def test_an_inverter_silent_in_daylight_fires_and_keeps_firing_until_it_reports_again():
    text = rendered("inverter-stale")
    (main,) = main_statements(text)
    assert pipeline(main) == ["union", "group", "max", "map"]
    body = definition(text, "lastUpdate")
    assert pipeline(body) == ["from", "range", "filter", "filter", "last"]
    assert "range(start: 0)" in body and "r._value > 0.0" in body
    assert "float(v: int(v: reference)) / 1000000000.0 - r._value" in main
    rule = RULE["inverter-stale"]
    # Both inverters send statistics from 06:00 to 21:30 (OpenDTU publishes their
    # last_update every interval, day and night); B's AC breaker trips at 11:40, and it is reset
    # the next morning at 09:00.
    def heard(serial, t):
        local = t.astimezone(BERLIN)
        if serial == OTHER and at("2026-06-21T11:40") <= t < at("2026-06-22T09:00"):
            return at("2026-06-21T11:39")
        if local.hour < 6:
            return fx.local_truncate(t, "1d", BERLIN) - timedelta(hours=2, minutes=31)
        return min(t, fx.local_truncate(t, "1d", BERLIN) + timedelta(hours=21, minutes=29))

    day = [update(serial, t, heard(serial, t).timestamp()) for serial in (SERIAL, OTHER)
           for t in every(at("2026-06-21T06:00"), at("2026-06-22T10:00"), timedelta(minutes=5))]
    changes = evaluate(rule, lambda now: stale_minutes(until(day, now), [], now),
                       at("2026-06-21T11:55"), at("2026-06-21T14:05"))
    assert changes == [(at("2026-06-21T12:10"), OTHER, "Pending"),
                       (at("2026-06-21T12:15"), OTHER, "Alerting")]  # and not resolved at 14:00
    # Overnight it stays firing (its silence was seen in daylight); at 09:00 it reports: resolved.
    for now in (at("2026-06-21T23:00"), at("2026-06-22T08:59")):
        assert stale_minutes(until(day, now), [], now)[OTHER] > rule.above
    assert stale_minutes(day, [], at("2026-06-22T09:01"))[OTHER] < rule.above
    # A healthy inverter at night: its last statistics came after 14:00, nothing fires.
    assert stale_minutes(day, [], at("2026-06-22T03:00"))[SERIAL] < 0
    # Silent for days, longer than any look-back; OpenDTU restarted meanwhile and publishes 0 for
    # it (before its first statistics): still firing, with the minutes since its last statistics.
    now = at("2026-06-24T12:00")
    raw = [update(SERIAL, now - timedelta(minutes=1)), update(OTHER, at("2026-06-21T13:00")),
           update(OTHER, now - timedelta(minutes=1), 0.0)]
    assert stale_minutes(raw, [], now)[SERIAL] < rule.above
    silent = (now - at("2026-06-21T13:00")) / timedelta(minutes=1)
    assert stale_minutes(raw, [], now)[OTHER] == silent
    # After the raw retention the history (5-minute means, kept forever) still names it.
    history = [dict(update(OTHER, at("2026-06-21T13:00")), topic=None)]
    assert stale_minutes(raw[:1], history, now)[OTHER] > rule.above


# --- Inverter produces nothing in daylight ------------------------------------------------------

def no_production(points, now) -> dict:
    """Mirror of files/grafana/alerts/no-production.flux."""
    s = fx.filter_(fx.from_range(points, reference(now) - timedelta(hours=1), now),
                   lambda r: r["channel"] == "0" and r["_field"] == "power")
    s = fx.max_(fx.group(s, ["serial"]))
    return {r["serial"]: 1.0 if r["_value"] <= 0.0 else 0.0 for r in s.rows()}


def test_an_inverter_at_0_w_in_daylight_fires_after_an_hour_and_a_half_until_it_produces():
    text = rendered("no-production")
    (main,) = main_statements(text)
    assert pipeline(main) == ["from", "range", "filter", "group", "max", "map"]
    assert "range(start: date.sub(d: 1h, from: reference))" in main
    assert "_value: if r._value <= 0.0 then 1.0 else 0.0" in main
    rule = RULE["no-production"]
    # Both inverters publish power from 06:00 to 21:00 (every 2 minutes is as good as every 5 s
    # for the largest value of an hour); B's panels are unplugged (0 W) from 09:00 until its
    # owner fixes them the next day at 10:00.
    def watts(serial, t):
        broken = serial == OTHER and at("2026-06-21T09:00") <= t < at("2026-06-22T10:00")
        return 0.0 if broken else 400.0
    points = [inverter(s, "0", "power", t, watts(s, t)) for day in ("21", "22")
              for t in every(at(f"2026-06-{day}T06:00"), at(f"2026-06-{day}T21:00"),
                             timedelta(minutes=2))
              for s in (SERIAL, OTHER)]

    def value_at(now):
        return no_production(until(points, now), now)
    changes = evaluate(rule, value_at, at("2026-06-21T10:55"), at("2026-06-21T14:05"))
    assert changes == [(at("2026-06-21T11:00"), OTHER, "Pending"),
                       (at("2026-06-21T11:30"), OTHER, "Alerting")]  # and not resolved at 14:00
    for now in (at("2026-06-21T20:00"), at("2026-06-22T03:00"), at("2026-06-22T09:59")):
        assert value_at(now) == {SERIAL: 0.0, OTHER: 1.0}, now
    assert value_at(at("2026-06-22T10:01"))[OTHER] == 0.0  # fixed: resolved
    # A normal day and night: never.
    assert all(value_at(at(f"2026-06-21T{h:02}:00")).get(SERIAL) in (0.0, None) for h in range(24))


# --- Battery low, battery bridge offline --------------------------------------------------------

def battery_low(raw, history, now) -> dict:
    """Mirror of files/grafana/alerts/battery-low.flux."""
    def charge(points):
        return last_of(points, now, lambda r: r["_measurement"] == "solix"
                       and r["_field"] == "battery_percentage")
    s = fx.max_(fx.group(fx.union(charge(raw), shifted(charge(history))), ["serial"]), "_time")
    return {r["serial"]: float(r["_value"]) for r in s.rows()}


def solix(t, value) -> dict:
    return {"_measurement": "solix", "serial": "AZV6Y60D33200788", "model": "Solarbank2",
            "topic": "solar/solix/AZV6Y60D33200788/Solarbank2/battery_percentage",
            "_field": "battery_percentage", "_time": t, "_value": value}


def test_battery_low_fires_after_15_minutes_below_the_threshold_and_holds_while_unknown():
    reads_the_last_known_value(rendered("battery-low"), "lastCharge")
    rule = RULE["battery-low"].__class__(**{**RULE["battery-low"].__dict__, "below": 15})
    # The charge falls 1 % every 10 minutes from 20 % at 17:35; the bridge stops at 19:00.
    raw = [solix(t, 20.0 - i // 20) for i, t in enumerate(
        every(at("2026-06-21T17:35"), at("2026-06-21T19:00"), timedelta(seconds=30)))]
    changes = evaluate(rule, lambda now: battery_low(until(raw, now), [], now),
                       at("2026-06-21T17:30"), at("2026-06-21T21:00"))
    assert changes == [(at("2026-06-21T18:36"), "AZV6Y60D33200788", "Pending"),
                       (at("2026-06-21T18:51"), "AZV6Y60D33200788", "Alerting")]
    # Hours later, the bridge still away: the last known charge stands (not resolved).
    assert battery_low(raw, [], at("2026-06-22T09:00")) == {"AZV6Y60D33200788": 12.0}


def bridge_offline(raw, history, now) -> dict:
    """Mirror of files/grafana/alerts/bridge-offline.flux."""
    def status(points):
        return last_of(points, now, lambda r: r["_measurement"] == "solix_info"
                       and r["_field"] == "status")
    s = fx.max_(fx.group(fx.union(status(raw), shifted(status(history)))), "_time")
    return {"": 1.0 if r["_value"] == "offline" else 0.0 for r in s.rows()}


def test_bridge_offline_fires_after_10_minutes_and_keeps_firing_however_long():
    reads_the_last_known_value(rendered("bridge-offline"), "lastStatus")
    rule = RULE["bridge-offline"]

    def status(t, value):
        return {"_measurement": "solix_info", "topic": "solar/solix/bridge/status",
                "_field": "status", "_time": t, "_value": value}
    # Online since the morning; the Pi loses power at 20:00 (the broker publishes its will),
    # is back at 21:00.
    raw = [status(at("2026-06-21T08:00"), "online"), status(at("2026-06-21T20:00"), "offline"),
           status(at("2026-06-21T21:00"), "online")]
    changes = evaluate(rule, lambda now: bridge_offline(until(raw, now), [], now),
                       at("2026-06-21T19:55"), at("2026-06-21T21:30"))
    assert changes == [(at("2026-06-21T20:01"), "", "Pending"),
                       (at("2026-06-21T20:11"), "", "Alerting"),
                       (at("2026-06-21T21:01"), "", "Normal")]
    # Offline for good: a week later, and from the history after the raw retention, still firing.
    assert bridge_offline(raw[:2], [], at("2026-06-29T20:00")) == {"": 1.0}
    history = [dict(raw[1], topic=None, _time=at("2026-06-21T20:05"))]
    assert bridge_offline([], history, at("2026-07-31T20:00")) == {"": 1.0}
