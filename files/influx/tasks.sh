#!/usr/bin/env bash
set -euo pipefail
# influx node: create or update solarmonitor's InfluxDB tasks (the 5-minute history and the
# daily energy) from the files in /etc/solarmonitor/influx-tasks/, found again by their names;
# then, once, fill the history bucket from the raw data that was there before the tasks, a week
# at a time (files in /etc/solarmonitor/influx-backfill/); only then give the raw bucket its
# retention, so shortening it never loses data that has no history yet. Safe to run again: a
# task that exists is updated in place, and an interrupted backfill resumes where it stopped.
# Usage: tasks.sh <raw retention, e.g. 30d>.
raw_retention="$1"
# shellcheck source=files/influx/influx-env.sh
. "${SOLARMONITOR_INFLUX_ENV:-/usr/local/lib/solarmonitor/influx-env.sh}"
TASKS="${SOLARMONITOR_TASKS:-/etc/solarmonitor/influx-tasks}"
BACKFILL="${SOLARMONITOR_BACKFILL:-/etc/solarmonitor/influx-backfill}"
org_id="$(jq -r '.org' "$IDS")"
bucket_id="$(jq -r '.bucket' "$IDS")"

# remember <key> <json value>: keep a fact about this stack's database on the data volume.
remember() {
  jq --arg key "$1" --argjson value "$2" '.[$key] = $value' "$IDS" > "$IDS.tmp"
  mv "$IDS.tmp" "$IDS"
}

existing="$(influx task list --org-id "$org_id" --json)"
for file in "$TASKS"/*.flux; do
  name="$(sed -n 's/^option task = {name: "\([^"]*\)".*/\1/p' "$file")"
  [ -n "$name" ] || { echo "$file names no task" >&2; exit 1; }
  id="$(jq -r --arg name "$name" '(. // [])[] | select(.name == $name) | .id' <<< "$existing" \
    | head -n 1)"
  if [ -z "$id" ]; then
    influx task create --org-id "$org_id" --file "$file" >/dev/null
    echo "task $name created"
  else
    influx task update --id "$id" --file "$file" >/dev/null
    echo "task $name updated"
  fi
done

if [ "$(jq -r '.backfilled // false' "$IDS")" != true ]; then
  # From the oldest raw point (or where an earlier run stopped) to now, one week per query.
  from="$(jq -r '.backfilled_until // empty' "$IDS")"
  if [ -z "$from" ]; then
    # A failing query stops here (set -e): never "no data" by mistake, then a shorter retention.
    oldest="$(influx query --org-id "$org_id" --raw "from(bucketID: \"$bucket_id\")
      |> range(start: 1970-01-01T00:00:00Z) |> first() |> group()
      |> sort(columns: [\"_time\"]) |> limit(n: 1) |> keep(columns: [\"_time\"])")"
    from="$(grep -Eo '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z' <<< "$oldest" | head -n 1 || true)"
  fi
  now="$(date -u +%s)"
  start="${from:+$(( $(date -u -d "$from" +%s) / 300 * 300 ))}"  # on the 5-minute windows
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  weeks=0
  while [ -n "$start" ] && [ "$start" -lt "$now" ]; do
    stop=$((start + 7 * 86400))
    [ "$stop" -lt "$now" ] || stop=$((now + 86400))  # past today's end: today is finished too
    start_text="$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)"
    stop_text="$(date -u -d "@$stop" +%Y-%m-%dT%H:%M:%SZ)"
    for file in "$BACKFILL"/*.flux; do
      sed -e "s/\"START\"/\"$start_text\"/" -e "s/\"STOP\"/\"$stop_text\"/" "$file" > "$work/query.flux"
      influx query --org-id "$org_id" --file "$work/query.flux" >/dev/null
    done
    remember backfilled_until "\"$stop_text\""
    start="$stop"
    weeks=$((weeks + 1))
  done
  remember backfilled true
  echo "history filled from $weeks week(s) of raw data"
fi

# With a shard group duration of 0: the default for the new retention (influxdb v2.9.1
# v1/services/meta/data.go NormalisedShardDuration). Without one InfluxDB keeps the bucket's, and
# refuses a retention shorter than it (data.go:243-250): the raw bucket is set up to keep
# everything, in 7-day shard groups, so 4 to 6 days would stop this step.
influx bucket update --id "$bucket_id" --retention "$raw_retention" --shard-group-duration 0 >/dev/null
echo "bucket $INFLUX_BUCKET: raw data kept $raw_retention"
