// Each inverter's energy per day (Wh, `_time` its local midnight) from `start` to `stop`: the
// days before today from the daily energy the stack's task keeps in the history, today from the
// raw values, robust as the task computes it. So today is live, and a fresh install shows
// energy before the task's first run. History is read from a day before `start` (range()
// refuses an empty range, stdlib/universe/range.go:110) and cut to [start, stop) at the end.
energyDays = (start, stop) => union(tables: [
        from(bucket: "${history_bucket}")
            |> range(start: date.sub(d: 1d, from: start), stop: if stop < today() then stop else today())
            |> filter(fn: (r) => r._measurement == "energy_daily" and r._field == "energy_wh")
            |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
            |> keep(columns: ["_time", "_value", "serial"]),
        robustStepsIn(bucket: "${bucket}", start: today(), stop: now(),
            fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "0" and r._field == "yieldtotal"
                and r.serial =~ /^${serial:regex}$/)
            |> group(columns: ["serial"])
            |> sum()
            |> map(fn: (r) => ({_time: today(), _value: r._value * 1000.0, serial: r.serial})),
    ])
    |> group(columns: ["serial"])
    |> range(start: start, stop: stop)
