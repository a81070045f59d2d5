#!/usr/bin/env bash
set -euo pipefail
# influx node: print the scoped tokens as JSON: Telegraf may write the raw bucket, Grafana may
# read it and the history bucket. InfluxDB stores tokens hashed and shows one only when it is
# created, so this step's stdout is captured as a Pulumi secret and never logged.
#
# The tokens are made once and kept on the data volume (root only): every later run prints the
# same ones while InfluxDB still has them, active and on the right bucket. A token that changed
# would change Telegraf's output settings, which its disk buffer is keyed on.
# shellcheck source=files/influx/influx-env.sh
. "${SOLARMONITOR_INFLUX_ENV:-/usr/local/lib/solarmonitor/influx-env.sh}"
KEPT="$DATA/.solarmonitor-tokens"
org_id="$(jq -r '.org' "$IDS")"
bucket_id="$(jq -r '.bucket' "$IDS")"
history_id="$(jq -r '.history' "$IDS")"

umask 077
[ -s "$KEPT" ] || echo '{}' > "$KEPT"
authorizations="$(influx auth list --json)"

# usable <name> <permission>...: the kept token for <name> is active with these permissions.
usable() {
  local name="$1" id
  shift
  id="$(jq -r --arg name "$name" '.[$name].id // empty' "$KEPT")"
  [ -n "$id" ] && jq -e --arg id "$id" --args \
    'any(.[]; .id == $id and .status == "active"
         and (.permissions as $have | $ARGS.positional | all(. as $p | $have | index($p))))' \
    "$@" <<< "$authorizations" >/dev/null
}

# ensure <name> <permissions> <flags>...: keep a usable token, or make one, drop stale ones.
ensure() {
  local name="$1" permissions="$2" created stale
  shift 2
  # shellcheck disable=SC2086  # the permissions are words
  usable "$name" $permissions && return 0
  stale="$(jq -r --arg d "solarmonitor-$name" '.[] | select(.description == $d) | .id' \
    <<< "$authorizations")"
  created="$(influx auth create --org-id "$org_id" "$@" --description "solarmonitor-$name" --json)"
  # The new token goes to jq on stdin (printf is a shell builtin): never in a process's arguments.
  printf '%s' "$created" | jq --arg name "$name" --slurpfile kept "$KEPT" \
    '. as $made | $kept[0] | .[$name] = {id: $made.id, token: $made.token}' > "$KEPT.tmp"
  mv "$KEPT.tmp" "$KEPT"
  for id in $stale; do influx auth delete --id "$id" >/dev/null; done
  echo "made a new $name token" >&2
}

buckets="orgs/$org_id/buckets"
ensure telegraf "write:$buckets/$bucket_id" --write-bucket "$bucket_id"
ensure grafana "read:$buckets/$bucket_id read:$buckets/$history_id" \
  --read-bucket "$bucket_id" --read-bucket "$history_id"
jq -c '{telegraf: .telegraf.token, grafana: .grafana.token}' "$KEPT"
