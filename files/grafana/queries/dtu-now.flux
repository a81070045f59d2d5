// The DTU now: "online" while its uptime arrives (every 5 s), whatever `dtu/status` last said.
// Named, as Grafana names a series by its `_field` (pkg/tsdb/influxdb/flux/builder.go).
from(bucket: "${bucket}")
  |> range(start: -2m)
  |> filter(fn: (r) => r._measurement == "opendtu_dtu" and r._field == "uptime")
  |> last()
  |> map(fn: (r) => ({_time: r._time, _value: "online", _field: "Now"}))
