// Energy from a cumulative kWh counter (OpenDTU's yieldtotal), robust to its known glitches: it
// drops to 0 when an inverter restarts at dusk (OpenDTU #1258) and now and then jumps to absurd
// values (#1022, #2103). The 0s are left out first, so a step runs from the last real value to
// the next (the climb back from a 0 is no energy, and a 0 left at dusk does not swallow the step
// over a night or a weekend offline). Per series, the step between each two consecutive samples
// counts when it is not negative and not more than {{ max_watts }} W could make in the time
// between them (plus one count of the counter's 1 Wh resolution). `counter` keeps each sample's
// own value. Across a gap (Wi-Fi, Telegraf, the broker or InfluxDB away) the step over the gap is
// the energy of the gap, and it counts when the time allows it: an hour at 1.6 kW is 1.6 kWh <=
// 3 kWh. tests/flux_mirror.py computes the same in Python; tests/test_panels.py works data
// through it.
robustSteps = (tables=<-) => tables
    |> filter(fn: (r) => r._value > 0.0)
    |> sort(columns: ["_time"])
    |> duplicate(column: "_value", as: "counter")
    |> difference(keepFirst: true)
    |> elapsed(unit: 1s)
    |> filter(fn: (r) => exists r._value and r._value >= 0.0
        and r._value <= {{ max_watts }}.0 * float(v: r.elapsed) / 3600000.0 + 0.001)
