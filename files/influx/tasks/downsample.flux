// solarmonitor: 5-minute history of everything Telegraf writes, kept {{ history_retention }} in
// {{ history_bucket }} while the raw values leave {{ bucket }} after its retention. Numbers as
// means, strings (names, versions, states) as the last value of each 5 minutes.
{% if backfill %}
// Backfill of one stretch of the raw data that was there before the task: tasks.sh replaces
// START and STOP (RFC 3339) for each week in turn.
start = time(v: "START")
stop = time(v: "STOP")
{% else %}
import "date"

option task = {name: "solarmonitor-downsample", every: 5m, offset: 30s}

// Every run rewrites the windows of the last hour, the run on the hour those of the last day,
// and the run at 00:00 UTC those of the last {{ rewrite_days }} days: values that reach InfluxDB late
// (Telegraf's disk buffer flushing after InfluxDB was away, for hours or days, while the
// scheduler's catch-up runs have already read their windows) reach the history too, before the
// raw values leave (components/influx_node.py rewrite_days). A window's mean is written again with
// the same time, series and field, so it replaces the earlier one: nothing is doubled. now() is
// the run's scheduled time, not when it runs, catch-up runs too (influxdb v2.9.1
// task/backend/scheduler/treescheduler.go:313-324 hands the executor the tick it was due;
// task/backend/executor/executor.go:641-643 compiles the script with Now: p.run.ScheduledFor;
// flux lang/compiler.go:207-211, 447 sets the now option).
// The run at 00:00 UTC is the heavy one, once a day: {{ rewrite_days }} days of every value. aggregateWindow
// (mean or last) right after range and filter runs inside the storage engine (influxdb v2.9.1
// query/stdlib/influxdata/influxdb/rules.go:866-899, PushDownAggregateWindowRule), so the query
// holds 5-minute means, never the raw values. At most (every topic every 5 s, 4 inverters with 6
// inputs: components/opendtu_data.py metrics_per_day) it reads 52 million values, about 150 MB
// of TSM at 3 bytes a value (components/storage.py), seconds of a t4g.micro's CPU and disk, and
// writes 870,000 means, which InfluxDB's write cache counts at 16 bytes each (tsdb/engine/tsm1/
// encoding.go:338, cache.go:319-332): 14 MB, within the 48 MiB a shard's cache gets on the
// compact layout's 1 GiB (components/influx_node.py influxd_limits). An estimate: no InfluxDB
// here. One inverter is a quarter of it.
stop = date.truncate(t: now(), unit: 5m)
start = date.sub(d: if date.minute(t: stop) >= 5 then 1h else if date.hour(t: stop) > 0 then 1d else {{ rewrite_days }}d, from: stop)
{% endif %}

from(bucket: {{ bucket | quoted }})
    |> range(start: start, stop: stop)
    |> filter(fn: (r) => {% for m in numbers %}r._measurement == {{ m | quoted }}{% if not loop.last %} or {% endif %}{% endfor %})
    |> aggregateWindow(every: 5m, fn: mean, createEmpty: false)
    |> to(bucket: {{ history_bucket | quoted }})

from(bucket: {{ bucket | quoted }})
    |> range(start: start, stop: stop)
    |> filter(fn: (r) => {% for m in strings %}r._measurement == {{ m | quoted }}{% if not loop.last %} or {% endif %}{% endfor %})
    |> aggregateWindow(every: 5m, fn: last, createEmpty: false)
    |> to(bucket: {{ history_bucket | quoted }})
