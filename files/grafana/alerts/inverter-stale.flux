// Per inverter, minutes from its last statistics (last_update, in seconds since 1970; OpenDTU
// publishes it every interval, 0 before the first statistics since it started: skipped) to the
// end of the latest daylight (now, in daylight). Not `reachable`: OpenDTU can report reachable = 1
// for an inverter that is off (OpenDTU #2419). Every inverter ever seen, from the raw values and
// the history (kept forever): one silent for longer than any look-back still has a series, so
// the alert keeps firing instead of resolving for want of data. Each source filtered before the
// union: InfluxDB's storage reads each series' last value only (as in last-update-age.flux).
{% include "grafana/alerts/daylight.flux" %}

lastUpdate = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "status" and r._field == "last_update")
  |> filter(fn: (r) => r._value > 0.0)
  |> last()

union(tables: [lastUpdate(bucket: {{ bucket | quoted }}), lastUpdate(bucket: {{ history_bucket | quoted }})])
  |> group(columns: ["serial"])
  |> max()
  |> map(fn: (r) => ({serial: r.serial, _time: now(),
      _value: (float(v: int(v: reference)) / 1000000000.0 - r._value) / 60.0}))
