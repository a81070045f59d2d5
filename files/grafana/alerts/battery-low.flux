// Per Solix device, its latest state of charge (%), however long ago: the raw values and the
// history (kept forever). While the bridge is away the last known charge stands (the bridge's
// own alert says it is away), instead of the alert resolving for want of data.
lastCharge = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "solix" and r._field == "battery_percentage")
  |> last()

// The history's 5-minute values are stamped at their window's end (aggregateWindow's _stop):
// moved to its start, so the raw value's own time wins while the raw values are kept.
union(tables: [lastCharge(bucket: {{ bucket | quoted }}),
        lastCharge(bucket: {{ history_bucket | quoted }}) |> timeShift(duration: -5m)])
  |> group(columns: ["serial"])
  |> max(column: "_time")
  |> map(fn: (r) => ({serial: r.serial, _time: now(), _value: float(v: r._value)}))
