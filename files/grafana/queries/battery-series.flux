// The battery's {{ what }} over time, gaps where nothing came.
import "date"
{% set raw_floor = "2m" %}
{% include "flux/source-bucket.flux" %}

from(bucket: source)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "solix" and r.serial == "${solix_serial}")
  |> filter(fn: (r) => {% for f in fields %}r._field == {{ f | quoted }}{% if not loop.last %} or {% endif %}{% endfor %}{% if per_pv_input %} or r._field =~ /^solar_pv_[0-9]+_power_in$/{% endif %})
  |> group(columns: ["_field"])
  |> aggregateWindow(every: windowEvery, fn: mean, createEmpty: true)
  |> keep(columns: ["_time", "_field", "_value"])
