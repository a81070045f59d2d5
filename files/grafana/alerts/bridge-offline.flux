// 1 when the Pi's Solix bridge last said "offline" (its will, which the broker publishes when
// the bridge drops) in the last 7 days, else 0.
from(bucket: {{ bucket | quoted }})
  |> range(start: -7d)
  |> filter(fn: (r) => r._measurement == "solix_info" and r._field == "status")
  |> group()
  |> last()
  |> map(fn: (r) => ({_time: now(), _value: if r._value == "offline" then 1.0 else 0.0}))
