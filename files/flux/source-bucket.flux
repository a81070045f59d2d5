// Raw values while the range lies within their retention; the 5-minute history beyond it.
source = if v.timeRangeStart < date.sub(d: ${raw_retention}, from: now()) then "${history_bucket}" else "${bucket}"
