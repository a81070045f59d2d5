// Minutes since OpenDTU last sent its uptime (every 5 s, day and night, while it is connected),
// if it sent any in the last 7 days: a DTU that was never installed, or is gone for a week, is
// not alerted on every minute.
from(bucket: {{ bucket | quoted }})
  |> range(start: -7d)
  |> filter(fn: (r) => r._measurement == "opendtu_dtu" and r._field == "uptime")
  |> group()
  |> last()
  |> map(fn: (r) => ({_time: now(), _value: float(v: int(v: now()) - int(v: r._time)) / 60000000000.0}))
