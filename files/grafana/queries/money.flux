// What the energy of the {{ period }} is worth at ${price} ${currency} per kWh: the daily energy
// the stack's task keeps, and today's live, summed.
import "date"
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}
{% include "flux/energy-days.flux" %}

energyDays(start: date.truncate(t: now(), unit: {{ unit }}), stop: now())
  |> group()
  |> sum()
  |> map(fn: (r) => ({_time: now(), _value: r._value / 1000.0 * float(v: "${price}")}))
