// Energy per {{ label }} and inverter over the panel's own time range (its `timeFrom` starts at a
// {{ label }}'s beginning, so Grafana's x-axis and these bars agree): the days before today from
// the daily energy the stack's task keeps, today live; each bar stamped with the start of its
// {{ label }} in the owner's time zone.
import "date"
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}
{% include "flux/energy-days.flux" %}

energyDays(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> aggregateWindow(every: {{ every }}, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: r.serial}))
  |> group(columns: ["_field"])
