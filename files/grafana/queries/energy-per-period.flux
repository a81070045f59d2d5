// Energy per {{ label }} and inverter, from the daily energy the stack's task keeps; each bar
// stamped with the start of its {{ label }} in the owner's time zone.
import "timezone"
{% include "flux/owner-day.flux" %}

from(bucket: "${history_bucket}")
  |> range(start: {{ start }})
  |> filter(fn: (r) => r._measurement == "energy_daily" and r._field == "energy_wh")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> aggregateWindow(every: {{ every }}, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: r.serial}))
  |> group(columns: ["_field"])
