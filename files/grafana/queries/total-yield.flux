// Total yield: each inverter's largest plausible yieldtotal (a spike is not plausible), summed;
// from the last 7 days of raw values, or the daily totals the history keeps for an inverter
// silent longer than that (so the figure does not shrink while one is away).
{% include "flux/robust-energy.flux" %}

recent = from(bucket: "${bucket}")
  |> range(start: -7d)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> robustSteps()
  |> keep(columns: ["serial", "counter"])

kept = from(bucket: "${history_bucket}")
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "energy_daily" and r._field == "total_kwh")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> map(fn: (r) => ({serial: r.serial, counter: r._value}))

union(tables: [recent, kept])
  |> group(columns: ["serial"])
  |> max(column: "counter")
  |> group()
  |> sum(column: "counter")
  |> map(fn: (r) => ({_time: now(), _value: r.counter}))
