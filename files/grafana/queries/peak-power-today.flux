// Today's peak AC power of all inverters together: per minute, summed over inverters, maximum.
import "timezone"
{% include "flux/owner-day.flux" %}

from(bucket: "${bucket}")
  |> range(start: today())
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "power")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> aggregateWindow(every: 1m, fn: mean, createEmpty: false)
  |> group(columns: ["_time"])
  |> sum()
  |> group()
  |> max()
