#!/usr/bin/env bash
# influx node: start InfluxDB, run the one-time setup with the stack's operator token, and keep
# the bucket's retention as configured. Safe to run again. Prints nothing secret.
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/solarmonitor/influx-setup.env
set +a
export INFLUX_HOST=http://127.0.0.1:8086

systemctl enable --quiet influxdb
systemctl restart influxdb
for _ in $(seq 1 60); do
  influx ping >/dev/null 2>&1 && break
  sleep 1
done
influx ping >/dev/null

if curl -fsS "$INFLUX_HOST/api/v2/setup" | jq -e '.allowed' >/dev/null; then
  influx setup --force --username admin --password "$INFLUX_ADMIN_PASSWORD" \
    --token "$INFLUX_OPERATOR_TOKEN" --org "$INFLUX_ORG" --bucket "$INFLUX_BUCKET" \
    --retention "$INFLUX_RETENTION" >/dev/null
  echo "InfluxDB set up: org $INFLUX_ORG, bucket $INFLUX_BUCKET"
fi

export INFLUX_TOKEN="$INFLUX_OPERATOR_TOKEN"
bucket_id="$(influx bucket list --org "$INFLUX_ORG" --name "$INFLUX_BUCKET" --json 2>/dev/null \
  | jq -r '.[0].id // empty')"
if [ -z "$bucket_id" ]; then
  influx bucket create --org "$INFLUX_ORG" --name "$INFLUX_BUCKET" \
    --retention "$INFLUX_RETENTION" >/dev/null
  echo "bucket $INFLUX_BUCKET created"
else
  influx bucket update --id "$bucket_id" --retention "$INFLUX_RETENTION" >/dev/null
  echo "bucket $INFLUX_BUCKET: retention $INFLUX_RETENTION"
fi
