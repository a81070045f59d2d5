// AC power now: each inverter's last value of the last 10 minutes, summed. At night nothing is
// published (the panel shows 0 W then).
from(bucket: "${bucket}")
  |> range(start: -10m)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "power")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> last()
  |> group()
  |> sum()
