// Minutes since OpenDTU last sent its uptime (every 5 s, day and night, while it is connected),
// from the raw values and the history (kept forever): a DTU silent for longer than any look-back
// keeps its value and the alert keeps firing, instead of resolving for want of data (the rules'
// noDataState is OK, which would email "resolved"). A DTU never installed gives no data: no alert.
lastUptime = (bucket) => from(bucket: bucket)
  |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "opendtu_dtu" and r._field == "uptime")
  |> last()

// The history's 5-minute values are stamped at their window's end (aggregateWindow's _stop):
// moved to its start, so the raw value's own time wins while the raw values are kept.
union(tables: [lastUptime(bucket: {{ bucket | quoted }}),
        lastUptime(bucket: {{ history_bucket | quoted }}) |> timeShift(duration: -5m)])
  |> group()
  |> max(column: "_time")
  |> map(fn: (r) => ({_time: now(), _value: float(v: int(v: now()) - int(v: r._time)) / 60000000000.0}))
