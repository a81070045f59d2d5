// Per Solix device, its latest state of charge (%) in the last hour.
from(bucket: {{ bucket | quoted }})
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "solix" and r._field == "battery_percentage")
  |> group(columns: ["serial"])
  |> last()
  |> map(fn: (r) => ({serial: r.serial, _time: now(), _value: float(v: r._value)}))
