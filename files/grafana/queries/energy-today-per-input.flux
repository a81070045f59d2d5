// Energy today per DC input, robust as everywhere, with a time column so each bar keeps its
// labels (serial and input).
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}

from(bucket: "${bucket}")
  |> range(start: today())
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r._field == "yieldtotal" and r.channel =~ /^[1-9]$/)
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial", "channel"])
  |> robustSteps()
  |> aggregateWindow(every: 1d, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value * 1000.0, _field: r.serial + " input " + r.channel}))
  |> group(columns: ["_field"])
