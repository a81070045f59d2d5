// Raw values while the range lies within their retention; the 5-minute history beyond it.
source = if v.timeRangeStart < date.sub(d: ${raw_retention}, from: now()) then "${history_bucket}" else "${bucket}"
// Windows never shorter than the data's spacing, or some stay empty (createEmpty: null) and
// Grafana draws a value between two nulls as a lone point: nothing with showPoints "never". The
// history holds one mean exactly every 5 minutes; raw values come every 5 s from OpenDTU (a
// little more: it publishes once 5 s have passed, so 5-s windows now and then hold none) and
// every 30 s from the Solix bridge: twice that. The datasource's `timeInterval` floors
// v.windowPeriod at 10 s as well.
windowFloor = if source == "${history_bucket}" then 5m else {{ raw_floor | default("10s") }}
windowEvery = if int(v: v.windowPeriod) < int(v: windowFloor) then windowFloor else v.windowPeriod
