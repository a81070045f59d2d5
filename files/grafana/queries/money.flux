// What the energy of the {{ period }} is worth at ${price} ${currency} per kWh: the daily energy
// the stack's task keeps (updated every hour), summed.
import "timezone"
import "date"
{% include "flux/owner-day.flux" %}

from(bucket: "${history_bucket}")
  |> range(start: date.truncate(t: now(), unit: {{ unit }}))
  |> filter(fn: (r) => r._measurement == "energy_daily" and r._field == "energy_wh")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group()
  |> sum()
  |> map(fn: (r) => ({_time: now(), _value: r._value / 1000.0 * float(v: "${price}")}))
