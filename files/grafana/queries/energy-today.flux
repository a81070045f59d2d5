// Energy today, from each inverter's yieldtotal, robust to its glitches; all inverters summed.
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}

from(bucket: "${bucket}")
  |> range(start: today())
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> robustSteps()
  |> sum()
  |> group()
  |> sum()
  |> map(fn: (r) => ({_time: now(), _value: r._value * 1000.0}))
