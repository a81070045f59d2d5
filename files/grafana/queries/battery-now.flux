// The battery's {{ fields | join(", ") }} now (its last values of the last 30 minutes).
from(bucket: "${bucket}")
  |> range(start: -30m)
  |> filter(fn: (r) => r._measurement == "solix" and r.serial == "${solix_serial}")
  |> filter(fn: (r) => {% for f in fields %}r._field == {{ f | quoted }}{% if not loop.last %} or {% endif %}{% endfor %})
  |> last()
  |> keep(columns: ["_time", "_field", "_value"])
