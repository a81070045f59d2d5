// 1 when the Pi's Solix bridge last said "offline" (its will, which the broker publishes when
// the bridge drops), else 0: the raw values and the history (kept forever), so a bridge offline
// for longer than any look-back keeps the alert firing instead of resolving for want of data.
lastStatus = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "solix_info" and r._field == "status")
  |> last()

// The history's 5-minute values are stamped at their window's end (aggregateWindow's _stop):
// moved to its start, so the raw value's own time wins while the raw values are kept.
union(tables: [lastStatus(bucket: {{ bucket | quoted }}),
        lastStatus(bucket: {{ history_bucket | quoted }}) |> timeShift(duration: -5m)])
  |> group()
  |> max(column: "_time")
  |> map(fn: (r) => ({_time: now(), _value: if r._value == "offline" then 1.0 else 0.0}))
