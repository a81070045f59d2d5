// {{ what }}: per inverter{% if per_input %} and input{% endif %}, gaps where nothing came.
import "date"
{% if channel not in ("status", "radio") %}{% set raw_floor = "1m" %}{% endif %}
{% include "flux/source-bucket.flux" %}

from(bucket: source)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel =~ /^{{ channel }}$/ and ({% for f in fields %}r._field == {{ f | quoted }}{% if not loop.last %} or {% endif %}{% endfor %}))
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial", "channel", "_field"])
  |> aggregateWindow(every: windowEvery, fn: {{ fn }}, createEmpty: true)
  |> map(fn: (r) => ({_time: r._time, _value: r._value, _field: r.serial{% if per_input %} + " input " + r.channel{% endif %} + " " + r._field}))
  |> group(columns: ["_field"])
