// Each inverter's latest state and limits, one row per inverter: grouped by serial before the
// pivot, so Telegraf's `topic` tag (one per field) does not split it into a row per topic.
from(bucket: "${bucket}")
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "mqtt_consumer" and r.channel == "status" and (r._field == "reachable" or r._field == "producing" or r._field == "limit_relative" or r._field == "limit_absolute"))
  |> filter(fn: (r) => r.serial =~ /^${serial:regex}$/)
  |> last()
  |> group(columns: ["serial"])
  |> pivot(rowKey: ["serial"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["serial", "reachable", "producing", "limit_relative", "limit_absolute"])
