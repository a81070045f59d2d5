// The robust steps of the counter samples `fn` selects in `bucket` that END from `start` to
// `stop`: each series' last sample before `start` (up to 30 days before; not a 0, which
// robustSteps leaves out, or a dusk 0 would hide the real value before it) is read too, because
// difference() and elapsed() drop a table's first row (stdlib/universe/difference.go:208,
// elapsed.go:189), so a range starting at midnight would lose the step into the day's first
// sample (Wi-Fi down from 20:30 to 10:00: the whole morning). Each step is stamped with its later
// sample, so it counts once, in the range where it ends; range() sets the bounds again.
robustStepsIn = (bucket, start, stop, fn) => union(tables: [
        from(bucket: bucket)
            |> range(start: date.sub(d: 30d, from: start), stop: start)
            |> filter(fn: fn)
            |> filter(fn: (r) => r._value > 0.0)
            |> last(),
        from(bucket: bucket)
            |> range(start: start, stop: stop)
            |> filter(fn: fn),
    ])
    |> group(columns: ["serial", "channel"])
    |> robustSteps()
    |> range(start: start, stop: stop)
