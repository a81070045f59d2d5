// AC power of each inverter, and their total per moment (one window: no shift). Windows
// without data stay empty, so the night is a gap, not a line from evening to morning.
import "date"
{% set raw_floor = "1m" %}
{% include "flux/source-bucket.flux" %}

power = from(bucket: source)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "power")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> aggregateWindow(every: windowEvery, fn: mean, createEmpty: true)

power
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: r.serial}))
  |> group(columns: ["_field"])
  |> yield(name: "per inverter")

power
  |> filter(fn: (r) => exists r._value)
  |> group(columns: ["_time"])
  |> sum()
  |> group()
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: "total"}))
  |> yield(name: "total")
