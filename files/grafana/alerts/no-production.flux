// Per inverter: 1 when it sent power values in the hour before the end of the latest daylight
// (now in daylight) and none of them, nor any since, was above 0 W; else 0. An inverter that
// sends nothing gives no series: "Inverter not heard from" covers it.
{% include "grafana/alerts/daylight.flux" %}

from(bucket: {{ bucket | quoted }})
  |> range(start: date.sub(d: 1h, from: reference))
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "power")
  |> group(columns: ["serial"])
  |> max()
  |> map(fn: (r) => ({serial: r.serial, _time: now(), _value: if r._value <= 0.0 then 1.0 else 0.0}))
