// Per inverter, minutes since its last statistics (last_update, in seconds since 1970; OpenDTU
// publishes it every interval, 0 before the first statistics), counted in daylight only (0
// outside it). Not `reachable`: OpenDTU can report reachable = 1 for an inverter that is off
// (OpenDTU #2419).
{% include "grafana/alerts/daylight.flux" %}

from(bucket: {{ bucket | quoted }})
  |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "status" and r._field == "last_update")
  |> group(columns: ["serial"])
  |> last()
  |> map(fn: (r) => ({serial: r.serial, _time: now(),
      _value: if daylight then (float(v: int(v: now())) / 1000000000.0 - r._value) / 60.0 else 0.0}))
