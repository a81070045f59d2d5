// DC power of each input, as "<serial> input <n>", with its OpenDTU name after it where it has
// one: "116190745400 input 1 (Süd)". The name alone would not do: OpenDTU publishes "" for an
// input nobody named (its default, src/Configuration.cpp) and two inputs may share a name, and
// one legend name makes one series of both inputs' values (group by _field). join.left keeps
// the inputs without a name.
import "date"
import "join"
{% set raw_floor = "1m" %}
{% include "flux/source-bucket.flux" %}

names = from(bucket: "${bucket}")
  |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "opendtu_inverter_info" and r._field == "name" and r.channel != "device")
  |> filter(fn: (r) => exists r.channel)
  |> last()
  |> group()
  |> keep(columns: ["serial", "channel", "_value"])

power = from(bucket: source)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r._field == "power" and r.channel =~ /^[1-9]$/)
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> group(columns: ["serial", "channel"])
  |> aggregateWindow(every: windowEvery, fn: mean, createEmpty: true)
  |> group()

join.left(left: power, right: names,
    on: (l, r) => l.serial == r.serial and l.channel == r.channel,
    as: (l, r) => ({_time: l._time, _value: l._value,
        _field: l.serial + " input " + l.channel
            + (if exists r._value and r._value != "" then " (" + r._value + ")" else "")}))
  |> group(columns: ["_field"])
