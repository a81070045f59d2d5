// Energy today per inverter, robust as everywhere (the step into today's first value included),
// with a time column so the bars carry the inverter's serial as their label.
import "date"
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}

robustStepsIn(bucket: "${bucket}", start: today(), stop: now(),
    fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal"
        and r.serial =~ /^${serial:regex}$/)
  |> aggregateWindow(every: 1d, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value * 1000.0, _field: r.serial}))
  |> group(columns: ["_field"])
