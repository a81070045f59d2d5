// Energy today per DC input, robust as everywhere (the step into today's first value included),
// with a time column so each bar keeps its labels (serial and input).
import "date"
import "timezone"
{% include "flux/owner-day.flux" %}

{% include "flux/robust-energy.flux" %}
{% include "flux/robust-steps-in.flux" %}

robustStepsIn(bucket: "${bucket}", start: today(), stop: now(),
    fn: (r) => r._measurement == "mqtt_consumer" and r._field == "yieldtotal" and r.channel =~ /^[1-9]$/
        and r.serial =~ /^${serial:regex}$/)
  |> aggregateWindow(every: 1d, fn: sum, createEmpty: false, timeSrc: "_start")
  |> map(fn: (r) => ({_time: r._time, _value: r._value * 1000.0, _field: r.serial + " input " + r.channel}))
  |> group(columns: ["_field"])
