#!/usr/bin/env bash
set -euo pipefail
# influx node: print the scoped tokens, Telegraf write-only and Grafana read-only on the bucket,
# as JSON. InfluxDB stores tokens hashed and shows one only when it is created, so this step's
# stdout is captured as a Pulumi secret and never logged.
#
# The tokens are made once and kept on the data volume (root only): every later run prints the
# same ones while InfluxDB still has them, active and on the right bucket. A token that changed
# would change Telegraf's output settings, which its disk buffer is keyed on.
DATA="${SOLARMONITOR_INFLUX_DATA:-/var/lib/influxdb}"  # elsewhere only in the tests
KEPT="$DATA/.solarmonitor-tokens"
set -a
# shellcheck disable=SC1090,SC1091
. "${SOLARMONITOR_SETUP_ENV:-/etc/solarmonitor/influx-setup.env}"
set +a
export INFLUX_HOST=https://localhost:8086 INFLUX_TOKEN="$INFLUX_OPERATOR_TOKEN"
org_id="$(jq -r '.org' "$DATA/.solarmonitor-ids")"
bucket_id="$(jq -r '.bucket' "$DATA/.solarmonitor-ids")"

umask 077
[ -s "$KEPT" ] || echo '{}' > "$KEPT"
authorizations="$(influx auth list --json)"

# usable <name> <action>: the kept token for <name> is active with <action> on this bucket.
usable() {
  local id
  id="$(jq -r --arg name "$1" '.[$name].id // empty' "$KEPT")"
  [ -n "$id" ] && jq -e --arg id "$id" --arg perm "$2:orgs/$org_id/buckets/$bucket_id" \
    'any(.[]; .id == $id and .status == "active" and (.permissions | index($perm)))' \
    <<< "$authorizations" >/dev/null
}

# ensure <name> <action> <flag>: keep a usable token, or make one and drop the stale ones.
ensure() {
  local name="$1" action="$2" flag="$3" created stale
  usable "$name" "$action" && return 0
  stale="$(jq -r --arg d "solarmonitor-$name" '.[] | select(.description == $d) | .id' \
    <<< "$authorizations")"
  created="$(influx auth create --org-id "$org_id" "$flag" "$bucket_id" \
    --description "solarmonitor-$name" --json)"
  jq --arg name "$name" --argjson made "$created" '.[$name] = {id: $made.id, token: $made.token}' \
    "$KEPT" > "$KEPT.tmp"
  mv "$KEPT.tmp" "$KEPT"
  for id in $stale; do influx auth delete --id "$id" >/dev/null; done
  echo "made a new $name token" >&2
}

ensure telegraf write --write-bucket
ensure grafana read --read-bucket
jq -c '{telegraf: .telegraf.token, grafana: .grafana.token}' "$KEPT"
