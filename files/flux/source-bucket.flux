// Raw values while the range lies within their retention; the 5-minute history beyond it.
source = if v.timeRangeStart < date.sub(d: ${raw_retention}, from: now()) then "${history_bucket}" else "${bucket}"
// Windows never shorter than the data's spacing, or some stay empty (createEmpty: null) and
// Grafana draws a value between two nulls as a lone point: nothing with showPoints "never"; and a
// sum over inverters per window would miss the inverters without a value in it. The history
// holds one mean exactly every 5 minutes. OpenDTU publishes its status and radio topics every
// 5 s (a little more: once 5 s have passed, so 5-s windows now and then hold none), but polls one
// inverter per 5-s poll interval (lib/Hoymiles/src/Hoymiles.cpp, loop(): inverterPos) and
// publishes an inverter's statistics (power, voltages, temperature) only when new ones came
// (src/MqttHandleInverter.cpp:94): every 5 s x inverters, 50 s with its maximum of 10
// (include/Configuration.h INV_MAX_COUNT). The Solix bridge publishes every 30 s over Bluetooth
// and every 60 s plus the read from Anker's cloud. Windows of at least 10 s, 1 minute and
// 2 minutes; the datasource's `timeInterval` floors v.windowPeriod at 10 s as well.
windowFloor = if source == "${history_bucket}" then 5m else {{ raw_floor | default("10s") }}
windowEvery = if int(v: v.windowPeriod) < int(v: windowFloor) then windowFloor else v.windowPeriod
