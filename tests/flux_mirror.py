"""Flux's transformations mirrored in Python, each from the Flux source it cites (influxdata/flux,
stdlib/universe/universe.flux and the Go beside it), so the tests can work small datasets through
the dashboard's queries, the alert rules and the tasks. No InfluxDB can run here: this is our own
emulation, the last resort, kept to what the queries use.

A stream is a list of tables; a table is (group key, rows), the group key a dict of the columns
that make it up, each row a dict of every column (Flux's model: universe.flux, group()). Times
are timezone-aware datetimes; a stream remembers the bounds range() gave it, which window() needs
(stdlib/universe/window.go:199-206: "nil bounds passed to window; use range").
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Stream:
    tables: list[tuple[dict, list[dict]]]
    bounds: tuple[datetime, datetime] | None = None
    ops: list[str] = field(default_factory=list)  # the Flux functions applied, in order

    def then(self, op: str, tables, bounds=None) -> "Stream":
        return Stream(tables, bounds if bounds is not None else self.bounds, [*self.ops, op])

    def rows(self) -> list[dict]:
        return [row for _, rows in self.tables for row in rows]


def series_key(point: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in point.items() if k not in ("_time", "_value")))


def from_range(points: list[dict], start: datetime, stop: datetime) -> Stream:
    """from() |> range(): one table per series (measurement, tags, field), rows in time order,
    only start <= _time < stop (stdlib/universe/range.go: rows outside [start, stop) are dropped;
    range.go:110 refuses start >= stop), _start/_stop added to the group key."""
    if start >= stop:
        raise ValueError("cannot query an empty range")  # range.go:111
    tables: dict[tuple, list[dict]] = OrderedDict()
    for point in sorted(points, key=lambda p: p["_time"]):
        if start <= point["_time"] < stop:
            tables.setdefault(series_key(point), []).append(
                {**point, "_start": start, "_stop": stop})
    return Stream([({**dict(key), "_start": start, "_stop": stop}, rows)
                   for key, rows in tables.items()], (start, stop), ["from", "range"])


def range_(stream: Stream, start: datetime, stop: datetime) -> Stream:
    """range() later in a pipe: cuts rows to [start, stop) and sets _start/_stop and the bounds
    (stdlib/universe/range.go, rangeTransformation.Process)."""
    out = []
    for key, rows in stream.tables:
        kept = [{**r, "_start": start, "_stop": stop} for r in rows if start <= r["_time"] < stop]
        new_key = {**key, **({"_start": start} if "_start" in key else {}),
                   **({"_stop": stop} if "_stop" in key else {})}
        out.append((new_key, kept))
    return stream.then("range", out, (start, stop))


def filter_(stream: Stream, fn) -> Stream:
    """filter(): keeps rows where fn is true; tables left empty are dropped (universe.flux,
    filter's onEmpty default "drop")."""
    out = [(key, [r for r in rows if fn(r)]) for key, rows in stream.tables]
    return stream.then("filter", [(k, rows) for k, rows in out if rows])


def group(stream: Stream, columns: list[str] | None = None) -> Stream:
    """group(columns): rows regrouped by those columns' values, in the order they come
    (universe.flux:752); group() with none: one table."""
    columns = columns or []
    tables: dict[tuple, list[dict]] = OrderedDict()
    for row in stream.rows():
        tables.setdefault(tuple(row.get(c) for c in columns), []).append(row)
    return stream.then("group", [(dict(zip(columns, key)), rows) for key, rows in tables.items()])


def union(*streams: Stream) -> Stream:
    """union(tables: [...]): every table of every stream (universe.flux:2747); bounds: none
    until a range() sets them again."""
    return Stream([t for s in streams for t in s.tables], None, ["union"])


def last(stream: Stream, column: str = "_value") -> Stream:
    """last(): each table's last row with a non-null `column` (stdlib/universe/last.go)."""
    out = []
    for key, rows in stream.tables:
        kept = [r for r in rows if r.get(column) is not None]
        if kept:
            out.append((key, [kept[-1]]))
    return stream.then("last", out)


def time_shift(stream: Stream, duration: timedelta) -> Stream:
    """timeShift(duration): _start, _stop and _time moved by `duration`, in the rows and the group
    key (universe.flux, timeShift: columns default ["_start", "_stop", "_time"])."""
    columns = ("_start", "_stop", "_time")
    def moved(d):
        return {c: (v + duration if c in columns and v is not None else v) for c, v in d.items()}
    return stream.then("timeShift", [(moved(k), [moved(r) for r in rows])
                                     for k, rows in stream.tables])


def sort(stream: Stream, columns=("_time",)) -> Stream:
    return stream.then("sort", [(k, sorted(rows, key=lambda r: tuple(r[c] for c in columns)))
                                for k, rows in stream.tables])


def duplicate(stream: Stream, column: str, as_: str) -> Stream:
    return stream.then("duplicate", [(k, [{**r, as_: r[column]} for r in rows])
                                     for k, rows in stream.tables])


def difference(stream: Stream, keep_first: bool = False) -> Stream:
    """difference(): each row's _value minus the previous row's; the first row of each table is
    dropped, or kept with a null _value with keepFirst (stdlib/universe/difference.go:208-213)."""
    out = []
    for key, rows in stream.tables:
        new = []
        for i, r in enumerate(rows):
            if i == 0:
                if keep_first:
                    new.append({**r, "_value": None})
                continue
            new.append({**r, "_value": r["_value"] - rows[i - 1]["_value"]})
        out.append((key, new))
    return stream.then("difference", out)


def elapsed(stream: Stream, unit: timedelta = timedelta(seconds=1)) -> Stream:
    """elapsed(): the time since the previous row, in `unit`; each table's first row is dropped
    (stdlib/universe/elapsed.go:177-205: the first row only sets prevTime)."""
    out = []
    for key, rows in stream.tables:
        out.append((key, [{**r, "elapsed": int((r["_time"] - rows[i - 1]["_time"]) / unit)}
                          for i, r in enumerate(rows) if i > 0]))
    return stream.then("elapsed", out)


def map_(stream: Stream, fn) -> Stream:
    """map(): each row replaced by fn(row); the group key keeps only the columns that are still
    there with the same value (universe.flux, map)."""
    out = []
    for key, rows in stream.tables:
        new = [fn(r) for r in rows]
        kept_key = {c: v for c, v in key.items() if all(n.get(c, object()) == v for n in new)}
        out.append((kept_key, new))
    return stream.then("map", out)


def keep(stream: Stream, columns: list[str]) -> Stream:
    return stream.then("keep", [({c: v for c, v in k.items() if c in columns},
                                 [{c: r[c] for c in columns if c in r} for r in rows])
                                for k, rows in stream.tables])


def join_left(left: Stream, right: Stream, on, as_) -> Stream:
    """join.left(): each left table meets the right table of the same group key; each left row
    is joined with every right row `on` accepts, or, with none, once with a default record that
    holds only the group key's columns (stdlib/join/join.flux, "Outer joins"; merge_join.go
    flushes unmatched left rows at the end). The output keeps the left table's group key."""
    rights = {tuple(sorted(k.items(), key=str)): rows for k, rows in right.tables}
    out = []
    for key, rows in left.tables:
        matches = rights.get(tuple(sorted(key.items(), key=str)), [])
        joined = []
        for l in rows:
            found = [r for r in matches if on(l, r)]
            joined += [as_(l, r) for r in found] or [as_(l, dict(key))]
        out.append((key, joined))
    return Stream(out, None, [*left.ops, "join.left"])


def reduce_table(stream: Stream, op: str, fn, column: str = "_value") -> Stream:
    """sum()/max()/mean(): one row per table of the group key and `column` (aggregates) or the
    selected row (max is a selector: universe.flux, max)."""
    out = []
    for key, rows in stream.tables:
        values = [r for r in rows if r.get(column) is not None]
        if not values:
            continue
        if op == "max":
            out.append((key, [max(values, key=lambda r: r[column])]))
        else:
            out.append((key, [{**key, column: fn([r[column] for r in values])}]))
    return stream.then(op, out)


def sum_(stream: Stream, column: str = "_value") -> Stream:
    return reduce_table(stream, "sum", sum, column)


def max_(stream: Stream, column: str = "_value") -> Stream:
    return reduce_table(stream, "max", max, column)


def pivot(stream: Stream, row_key: list[str], column_key: str, value_column: str) -> Stream:
    """pivot(): per table, one row per distinct row_key, a column per column_key value; the
    group key loses column_key and value_column; columns not in the group key, row_key, or the
    new ones are dropped (universe.flux:2047, stdlib/universe/pivot.go)."""
    out: dict[tuple, tuple[dict, dict]] = OrderedDict()
    for key, rows in stream.tables:
        new_key = {c: v for c, v in key.items() if c not in (column_key, value_column)}
        for r in rows:
            ident = (tuple(sorted(new_key.items(), key=str)), tuple(r[c] for c in row_key))
            base = out.setdefault(ident, (new_key, {**new_key,
                                                    **{c: r[c] for c in row_key}}))[1]
            base[r[column_key]] = r[value_column]
    tables: dict[tuple, tuple[dict, list]] = OrderedDict()
    for (k, _), (new_key, row) in out.items():
        tables.setdefault(k, (new_key, []))[1].append(row)
    return stream.then("pivot", list(tables.values()))


# --- time: windows, truncation, locations -------------------------------------------------

def local_truncate(t: datetime, unit: str, zone: ZoneInfo) -> datetime:
    """date.truncate(t, unit) in `location` (stdlib/date/date.flux:894): on the local wall
    clock, then back to the instant (internal/zoneinfo/zoneinfo_clock.go, To/FromLocalClock)."""
    local = t.astimezone(zone)
    if unit == "1d":
        wall = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "1mo":
        wall = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "1y":
        wall = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        step = parse_duration(unit)
        return EPOCH + ((t - EPOCH) // step) * step
    return wall.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)


def today(now: datetime, zone: ZoneInfo) -> datetime:
    """today() = date.truncate(t: now(), unit: 1d) in the location option (universe.flux:4833)."""
    return local_truncate(now, "1d", zone)


def next_boundary(t: datetime, unit: str, zone: ZoneInfo) -> datetime:
    local = t.astimezone(zone).replace(tzinfo=None)
    if unit == "1d":
        wall = local + timedelta(days=1)
    elif unit == "1mo":
        wall = local.replace(year=local.year + local.month // 12, month=local.month % 12 + 1)
    elif unit == "1y":
        wall = local.replace(year=local.year + 1)
    else:
        return t + parse_duration(unit)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def parse_duration(text: str) -> timedelta:
    units = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1),
             "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
    for suffix in ("ms", "s", "m", "h", "d"):
        if text.endswith(suffix) and text[:-len(suffix)].isdigit():
            return int(text[:-len(suffix)]) * units[suffix]
    raise ValueError(text)


def windows(bounds: tuple[datetime, datetime], every: str | timedelta,
            zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The windows window() makes over a stream's bounds, clipped to them (stdlib/universe/
    window.go:416-439, GetOverlappingBounds then Intersect). Calendar units and days follow the
    location's wall clock, so a DST day is 23 or 25 hours (interval/window.go:51-53, 98-101: the
    time is moved to the local clock, the window found there, its bounds moved back); fixed
    durations count from the epoch (window.go: zero = epoch + offset)."""
    unit = every if isinstance(every, str) else None
    if unit in ("1d", "1mo", "1y"):
        edge = local_truncate(bounds[0], unit, zone)
        step = lambda t: next_boundary(t, unit, zone)  # noqa: E731
    else:
        delta = parse_duration(every) if isinstance(every, str) else every
        edge = EPOCH + ((bounds[0] - EPOCH) // delta) * delta
        step = lambda t: t + delta  # noqa: E731
    out = []
    while edge < bounds[1]:
        stop = step(edge)
        out.append((max(edge, bounds[0]), min(stop, bounds[1])))
        edge = stop
    return out


def aggregate_window(stream: Stream, every, fn, zone: ZoneInfo = ZoneInfo("UTC"),
                     column: str = "_value", time_src: str = "_stop",
                     create_empty: bool = True) -> Stream:
    """aggregateWindow() (universe.flux:3881-3906): window() over the stream's bounds, fn per
    window, with createEmpty a row with a null value for a window without data (_fillEmpty,
    table.fill), `_time` = the window's `timeSrc` (_stop by default), then one table again per
    group key without _start/_stop."""
    if stream.bounds is None:
        raise ValueError("nil bounds passed to window; use range")  # window.go:199-203
    out = []
    for key, rows in stream.tables:
        new_rows = []
        ordered = sorted(rows, key=lambda r: r["_time"])
        times = [r["_time"] for r in ordered]
        for start, stop in windows(stream.bounds, every, zone):
            inside = [r[column] for r in ordered[bisect_left(times, start):bisect_left(times, stop)]
                      if r.get(column) is not None]
            if not inside and not create_empty:
                continue
            value = fn(inside) if inside else None
            base = {c: v for c, v in key.items() if c not in ("_start", "_stop")}
            new_rows.append({**base, "_start": start, "_stop": stop, column: value,
                             "_time": start if time_src == "_start" else stop})
        out.append((key, new_rows))
    return stream.then("aggregateWindow", out)


def mean(values):
    return sum(values) / len(values)


# --- the project's own Flux functions, as files/flux/*.flux define them ---------------------

def robust_steps(stream: Stream, max_watts: float) -> Stream:
    """robustSteps() of files/flux/robust-energy.flux, step by step."""
    s = filter_(stream, lambda r: r["_value"] > 0.0)
    s = sort(s)
    s = duplicate(s, "_value", "counter")
    s = difference(s, keep_first=True)
    s = elapsed(s)
    return filter_(s, lambda r: r["_value"] is not None and r["_value"] >= 0.0
                   and r["_value"] <= max_watts * r["elapsed"] / 3600000.0 + 0.001)


def robust_steps_in(points, start, stop, fn, max_watts: float) -> Stream:
    """robustStepsIn() of files/flux/robust-steps-in.flux."""
    before = last(filter_(filter_(from_range(points, start - timedelta(days=30), start), fn),
                          lambda r: r["_value"] > 0.0))
    within = filter_(from_range(points, start, stop), fn)
    s = group(union(before, within), ["serial", "channel"])
    return range_(robust_steps(s, max_watts), start, stop)


def window_every(window_period: timedelta, floor: timedelta) -> timedelta:
    """files/flux/source-bucket.flux's windowEvery."""
    return floor if window_period < floor else window_period


# --- what Grafana does with a result --------------------------------------------------------

def frames(stream: Stream) -> list[dict]:
    """The data frames Grafana's InfluxDB datasource makes of a Flux result, one per table
    (grafana/grafana pkg/tsdb/influxdb/flux/builder.go at f533c414, Init and Append): a table
    with `_value` and a time column (`_time`, else the first time column) is a time series, its
    value field named by the record's `_field` (none: an empty name), labelled with every
    other string column whose name does not start with "_", the frame named by `_measurement`;
    any other table becomes a table frame with a field per column. Times as ISO text."""
    out = []
    for _, rows in stream.tables:
        if not rows:
            continue
        columns = list(dict.fromkeys(c for r in rows for c in r))
        times = [c for c in columns if isinstance(rows[0].get(c), datetime)]
        if "_value" in columns and times:
            time = "_time" if "_time" in times else times[0]
            first = rows[0]
            name = first.get("_field") if isinstance(first.get("_field"), str) else ""
            labels = {c: first[c] for c in columns if c not in ("result", "table")
                      and not c.startswith("_") and isinstance(first.get(c), str)}
            out.append({"name": first.get("_measurement") or "", "fields": [
                {"name": "Time" if time == "_time" else time, "type": "time",
                 "values": [r[time].isoformat() for r in rows]},
                {"name": name, "type": field_type(rows), "labels": labels,
                 "values": [r.get("_value") for r in rows]}]})
        else:
            out.append({"name": "", "fields": [
                {"name": c, "type": "time" if c in times else field_type(rows, c),
                 "values": [r[c].isoformat() if isinstance(r.get(c), datetime) else r.get(c)
                            for r in rows]} for c in columns]})
    return out


def field_type(rows: list[dict], column: str = "_value") -> str:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    if values and all(isinstance(v, str) for v in values):
        return "string"
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    return "number"


def lone_values(values: list[float | None]) -> int:
    """Values with no value on either side: Grafana draws a line only between two non-null
    neighbours (spanNulls false), so with showPoints "never" such a value is not drawn at all."""
    lone = 0
    for i, v in enumerate(values):
        if v is None:
            continue
        left = i > 0 and values[i - 1] is not None
        right = i + 1 < len(values) and values[i + 1] is not None
        lone += not (left or right)
    return lone
