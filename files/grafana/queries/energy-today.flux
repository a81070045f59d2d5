// Energy today, from each inverter's yieldtotal, robust to its glitches; all inverters summed.
// The step into today's first value counts (robustStepsIn reads the sample before midnight).
import "date"
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}

robustStepsIn(bucket: "${bucket}", start: today(), stop: now(),
    fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal"
        and r.serial =~ /^${serial:regex}$/)
  |> sum()
  |> group()
  |> sum()
  |> map(fn: (r) => ({_time: now(), _value: r._value * 1000.0}))
