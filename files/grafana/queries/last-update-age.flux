// How long ago each inverter last sent statistics (OpenDTU's status/last_update, epoch s):
// `reachable` can say 1 for an inverter that is off (OpenDTU #2419); this cannot.
from(bucket: "${bucket}")
  |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "status" and r._field == "last_update")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> last()
  |> map(fn: (r) => ({_time: r._time, _field: r.serial, _value: float(v: uint(v: now()) / uint(v: 1000000000)) - r._value}))
  |> group(columns: ["_field"])
