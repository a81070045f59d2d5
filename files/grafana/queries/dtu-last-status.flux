// What the DTU last said on its status topic (only when it connects, and the broker's "offline"
// will when it drops), however long ago: the raw values, or the history. Each source filtered
// before the union, so InfluxDB reads only this series, not every bucket's whole history.
status = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "opendtu_dtu_info" and r._field == "status")
  |> last()

union(tables: [status(bucket: "${bucket}"), status(bucket: "${history_bucket}")])
  |> group()
  |> sort(columns: ["_time"])
  |> last()
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: "Last reported"}))
