// solarmonitor: each inverter's energy of the day, in the owner's time zone, into
// {{ history_bucket }} as measurement energy_daily (energy_wh: the robust sum of its yieldtotal's
// steps; total_kwh: the largest plausible yieldtotal). The same day's point is written again and
// overwritten, never doubled.
import "date"
import "timezone"

option location = timezone.location(name: {{ timezone | quoted }})
{% if backfill %}
// Backfill of one stretch of the raw data that was there before the task: tasks.sh replaces
// START and STOP (RFC 3339) for each week in turn; both become the owner's midnights.
start = date.truncate(t: time(v: "START"), unit: 1d)
stop = date.truncate(t: time(v: "STOP"), unit: 1d)
{% else %}
// Every hour: today so far and yesterday again, to finish it after midnight. now() is the run's
// scheduled hour (influxdb v2.9.1 task/backend/executor/executor.go:641-643, Now:
// p.run.ScheduledFor), so the run at 00:00 reads yesterday whole however late it runs.
option task = {name: "solarmonitor-daily-energy", every: 1h, offset: 2m}

// Days are found from noon, so that the hour the clocks change is no matter (now() - 1d at
// 00:30 after a 23-hour day would be two days back, if the 1d were 24 hours).
noon = date.sub(d: 12h, from: date.truncate(t: now(), unit: 1d))
start = date.truncate(t: noon, unit: 1d)
stop = now()
{% if rewrite_days > 1 %}
// And one earlier day in turn, for values that reach InfluxDB late: while InfluxDB is away
// Telegraf keeps the values in its disk buffer, stamped when they arrived, and writes them when
// it is back (README, "Data path": days of them), after the scheduler has caught up on the runs
// due meanwhile (influxdb task/backend/scheduler/treescheduler.go Schedule), which found nothing.
// The run at hour h reads again the day 1 + h % {{ rewrite_days - 1 }} days before yesterday, so each day from 2 to
// {{ rewrite_days }} days back (as far as the raw values still hold it whole: components/influx_node.py
// rewrite_days) is written again within {{ rewrite_days - 1 }} hours, and twice a day or more. One day in turn,
// not all of them every hour: a run reads 3 days of yieldtotal instead of 2, at most 17,280
// values a day (OpenDTU polls one inverter per 5 s), which robustStepsIn's group() holds in the
// query's memory: some 52,000 rows, 5-8 MB at 100-150 bytes a row (an estimate: no InfluxDB
// here); 11 days every hour (the default retention's) would be 190,000 rows, 19-28 MB, at or
// over the 24 MiB a query gets on the compact layout's 1 GiB (components/influx_node.py influxd_limits: a sixteenth of
// InfluxDB's 384 MiB).
lateDay = date.truncate(t: date.sub(d: duration(v: (1 + date.hour(t: now()) % {{ rewrite_days - 1 }}) * 86400000000000),
    from: noon), unit: 1d)
lateEnd = date.truncate(t: date.add(d: 36h, to: lateDay), unit: 1d)
{% endif %}
{% endif %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}

// The step into each day's first sample counts for that day (robustStepsIn reads the sample
// before `start`), so the run after midnight writes yesterday's figure as the runs during it
// did: a day's figure is only ever rewritten with the same or a later, larger one.
yieldtotal = (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal"
{% if backfill or rewrite_days == 1 %}
steps = robustStepsIn(bucket: {{ bucket | quoted }}, start: start, stop: stop, fn: yieldtotal)
{% else %}
// Each stretch's steps apart (a step counts in the stretch where it ends), then one table per
// series again with bounds for aggregateWindow (union leaves none).
steps = union(tables: [
        robustStepsIn(bucket: {{ bucket | quoted }}, start: start, stop: stop, fn: yieldtotal),
        robustStepsIn(bucket: {{ bucket | quoted }}, start: lateDay, stop: lateEnd, fn: yieldtotal),
    ])
    |> group(columns: ["serial", "channel"])
    |> range(start: lateDay, stop: stop)
{% endif %}

steps
    |> aggregateWindow(every: 1d, fn: sum, createEmpty: false, timeSrc: "_start")
    |> map(fn: (r) => ({r with _measurement: "energy_daily", _field: "energy_wh", _value: r._value * 1000.0}))
    |> keep(columns: ["_time", "_value", "_measurement", "_field", "serial"])
    |> to(bucket: {{ history_bucket | quoted }})

steps
    |> aggregateWindow(every: 1d, fn: max, column: "counter", createEmpty: false, timeSrc: "_start")
    |> map(fn: (r) => ({r with _measurement: "energy_daily", _field: "total_kwh", _value: r.counter}))
    |> keep(columns: ["_time", "_value", "_measurement", "_field", "serial"])
    |> to(bucket: {{ history_bucket | quoted }})
