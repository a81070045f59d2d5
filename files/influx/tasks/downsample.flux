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

// Every run rewrites the windows of the last hour, and the run on the hour those of the last
// day: values that reach InfluxDB late (Telegraf's disk buffer flushing after an InfluxDB
// restart, while the scheduler's catch-up runs have already read their windows) reach the
// history too. A window's mean is written again with the same time, series and field, so it
// replaces the earlier one: nothing is doubled. now() is the run's scheduled time, not when it
// runs, catch-up runs too (influxdb v2.9.1 task/backend/scheduler/treescheduler.go:313-324 hands
// the executor the tick it was due; task/backend/executor/executor.go:641-643 compiles the
// script with Now: p.run.ScheduledFor; flux lang/compiler.go:207-211, 447 sets the now option).
stop = date.truncate(t: now(), unit: 5m)
start = date.sub(d: if date.minute(t: stop) < 5 then 1d else 1h, from: stop)
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
