// The battery's energy counters (cumulative kWh): the largest value of the last 30 days, not the
// last one, so a glitch to 0 does not show.
from(bucket: "${bucket}")
  |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "solix" and r.serial == "${solix_serial}")
  |> filter(fn: (r) => {% for f in fields %}r._field == {{ f | quoted }}{% if not loop.last %} or {% endif %}{% endfor %})
  |> max()
  |> keep(columns: ["_time", "_field", "_value"])
