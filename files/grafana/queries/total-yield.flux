// Total yield: each inverter's largest plausible yieldtotal (a spike is not plausible), summed.
{% include "flux/robust-energy.flux" %}

from(bucket: "${bucket}")
  |> range(start: -7d)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal")
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial"])
  |> robustSteps()
  |> max(column: "counter")
  |> group()
  |> sum(column: "counter")
  |> map(fn: (r) => ({_time: now(), _value: r.counter}))
