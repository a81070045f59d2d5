// Per inverter: 1 when, in daylight, it sent power values in the last hour (a day with data)
// and none of them was above 0 W; else 0.
{% include "grafana/alerts/daylight.flux" %}

from(bucket: {{ bucket | quoted }})
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "power")
  |> group(columns: ["serial"])
  |> max()
  |> map(fn: (r) => ({serial: r.serial, _time: now(),
      _value: if daylight and r._value <= 0.0 then 1.0 else 0.0}))
