// How long ago each inverter last sent statistics (OpenDTU's status/last_update, epoch s):
// `reachable` can say 1 for an inverter that is off (OpenDTU #2419); this cannot. Every inverter
// ever seen, from the raw values and the history (kept forever), so one silent for days shows
// its growing age instead of leaving the panel. OpenDTU publishes 0 until an inverter's first
// statistics since it started: skipped, so a night-time restart of the DTU does not make the age
// jump to 56 years. Each source filtered before the union: the filters and last() run in
// InfluxDB's storage, which reads each series' last value only (influxdb v2.9.1
// query/stdlib/influxdata/influxdb/rules.go: isPushableExpr takes `_value > 0.0`,
// PushDownBareAggregateRule the last()).
lastUpdate = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "status" and r._field == "last_update")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/ and r._value > 0.0)
  |> last()

union(tables: [lastUpdate(bucket: "${bucket}"), lastUpdate(bucket: "${history_bucket}")])
  |> group(columns: ["serial"])
  |> max()
  |> map(fn: (r) => ({_time: r._time, _field: r.serial, _value: float(v: uint(v: now()) / uint(v: 1000000000)) - r._value}))
  |> group(columns: ["_field"])
