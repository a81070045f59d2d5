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
// Every hour: today so far, and yesterday again, to finish it after midnight. now() is the run's
// scheduled hour (influxdb v2.9.1 task/backend/executor/executor.go:641-643, Now:
// p.run.ScheduledFor), so the run at 00:00 reads yesterday whole however late it runs.
option task = {name: "solarmonitor-daily-energy", every: 1h, offset: 2m}

start = date.truncate(t: date.sub(d: 1d, from: now()), unit: 1d)
stop = now()
{% endif %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}

// The step into each day's first sample counts for that day (robustStepsIn reads the sample
// before `start`), so the run after midnight writes yesterday's figure as the runs during it
// did: a day's figure is only ever rewritten with the same or a later, larger one.
steps = robustStepsIn(bucket: {{ bucket | quoted }}, start: start, stop: stop,
    fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal")

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
