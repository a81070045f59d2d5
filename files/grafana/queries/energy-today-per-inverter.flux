// Energy today per inverter, robust as everywhere, with a time column so the bars carry the
// inverter's serial as their label.
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}

from(bucket: "${bucket}")
  |> range(start: today())
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> robustSteps()
  |> aggregateWindow(every: 1d, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value * 1000.0, _field: r.serial}))
  |> group(columns: ["_field"])
