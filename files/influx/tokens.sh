#!/usr/bin/env bash
# prints: telegraf grafana
# influx node: (re)create the scoped tokens, Telegraf write-only and Grafana read-only on the
# bucket. InfluxDB 2.9 stores tokens hashed and shows them only now, so this step's stdout is
# captured as a Pulumi secret and never logged. Old solarmonitor tokens are deleted first, so
# running it again rotates the tokens instead of piling them up.
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/solarmonitor/influx-setup.env
set +a
export INFLUX_HOST=http://127.0.0.1:8086 INFLUX_TOKEN="$INFLUX_OPERATOR_TOKEN"

bucket_id="$(influx bucket list --org "$INFLUX_ORG" --name "$INFLUX_BUCKET" --json | jq -r '.[0].id')"
influx auth list --json | jq -r \
  '.[] | select(.description == "solarmonitor-telegraf" or .description == "solarmonitor-grafana") | .id' \
  | while read -r old; do influx auth delete --id "$old" >/dev/null; done

telegraf="$(influx auth create --org "$INFLUX_ORG" --write-bucket "$bucket_id" \
  --description solarmonitor-telegraf --json | jq -r '.token')"
grafana="$(influx auth create --org "$INFLUX_ORG" --read-bucket "$bucket_id" \
  --description solarmonitor-grafana --json | jq -r '.token')"
jq -cn --arg telegraf "$telegraf" --arg grafana "$grafana" \
  '{telegraf: $telegraf, grafana: $grafana}'
