#!/usr/bin/env bash
set -euo pipefail
# influx node: start InfluxDB over TLS, run the one-time setup with the stack's operator token,
# and keep the org's and the buckets' names as configured (the raw bucket, and the history bucket
# the stack's tasks fill, with its retention). Safe to run again. Usage: setup.sh <EBS volume id
# of the data volume>. Prints nothing secret.
#
# The org and the buckets this stack set up are remembered by id on the data volume, so a changed
# influxOrg or influxBucket renames them: data and tokens (bound to ids) stay.
volume_id="$1"
# shellcheck source=files/influx/influx-env.sh
. "${SOLARMONITOR_INFLUX_ENV:-/usr/local/lib/solarmonitor/influx-env.sh}"

# Never set up (or use) a database anywhere but on this stack's data volume.
mountpoint -q "$DATA" || { echo "$DATA is not mounted: the data volume is missing" >&2; exit 1; }
[ "$(cat "$DATA/.solarmonitor-volume" 2>/dev/null)" = "$volume_id" ] || {
  echo "$DATA does not hold data volume $volume_id" >&2; exit 1; }

update-ca-certificates >/dev/null
chown -R root:influxdb /etc/influxdb/tls
systemctl daemon-reload
systemctl enable --quiet influxdb
systemctl restart influxdb
for _ in $(seq 1 60); do
  influx ping >/dev/null 2>&1 && break
  sleep 1
done
influx ping >/dev/null

if curl -fsS "$INFLUX_HOST/api/v2/setup" | jq -e '.allowed' >/dev/null; then
  # InfluxDB's own setup call (POST /api/v2/setup, the body influx-cli's OnboardingRequest
  # sends), with the secrets read from the environment by jq and sent on stdin: `influx setup`
  # takes the password only as an argument (influx-cli cmd/influx/setup.go), where every user
  # of the node could read it in the process list, and it would also keep the operator token in
  # root's CLI configuration. The raw bucket's retention is set by tasks.sh, right after.
  jq -n '{username: "admin", password: env.INFLUX_ADMIN_PASSWORD,
          token: env.INFLUX_OPERATOR_TOKEN, org: env.INFLUX_ORG, bucket: env.INFLUX_BUCKET,
          retentionPeriodSeconds: 0}' \
    | curl -fsS -H "Content-Type: application/json" --data-binary @- \
        "$INFLUX_HOST/api/v2/setup" >/dev/null
  echo "InfluxDB set up: org $INFLUX_ORG, bucket $INFLUX_BUCKET"
fi

if [ ! -s "$IDS" ]; then
  # Set up just now, or by a version that did not remember ids: find them by name.
  org_id="$(influx org list --name "$INFLUX_ORG" --json 2>/dev/null | jq -r '.[0].id // empty')"
  if [ -z "$org_id" ]; then
    echo "InfluxDB has no org named $INFLUX_ORG (it has: $(influx org list --json | jq -r '[.[].name] | join(", ")'))." >&2
    echo "Set solarmonitor:influxOrg back to it: only an org this stack set up is renamed." >&2
    exit 1
  fi
  bucket_id="$(influx bucket list --org-id "$org_id" --name "$INFLUX_BUCKET" --json 2>/dev/null \
    | jq -r '.[0].id // empty')"
  if [ -z "$bucket_id" ]; then
    bucket_id="$(influx bucket create --org-id "$org_id" --name "$INFLUX_BUCKET" \
      --retention "$INFLUX_RETENTION" --json | jq -r '.id')"
    echo "bucket $INFLUX_BUCKET created"
  fi
  jq -n --arg org "$org_id" --arg bucket "$bucket_id" '{org: $org, bucket: $bucket}' > "$IDS.tmp"
  mv "$IDS.tmp" "$IDS"
fi
org_id="$(jq -r '.org' "$IDS")"
bucket_id="$(jq -r '.bucket' "$IDS")"
history_id="$(jq -r '.history // empty' "$IDS")"
if [ -z "$history_id" ]; then
  history_id="$(influx bucket list --org-id "$org_id" --name "$INFLUX_HISTORY_BUCKET" --json \
    2>/dev/null | jq -r '.[0].id // empty')"
  if [ -z "$history_id" ]; then
    history_id="$(influx bucket create --org-id "$org_id" --name "$INFLUX_HISTORY_BUCKET" \
      --retention "$INFLUX_HISTORY_RETENTION" --json | jq -r '.id')"
    echo "bucket $INFLUX_HISTORY_BUCKET created"
  fi
  jq --arg history "$history_id" '.history = $history' "$IDS" > "$IDS.tmp"
  mv "$IDS.tmp" "$IDS"
fi

org_name="$(influx org list --id "$org_id" --json | jq -r '.[0].name')"
if [ "$org_name" != "$INFLUX_ORG" ]; then
  influx org update --id "$org_id" --name "$INFLUX_ORG" >/dev/null
  echo "org $org_name renamed to $INFLUX_ORG"
fi
# keep_bucket <id> <name> [<retention>]: the bucket has this name (and retention).
keep_bucket() {
  local current
  current="$(influx bucket list --id "$1" --json | jq -r '.[0].name')"
  if [ "$current" != "$2" ]; then
    influx bucket update --id "$1" --name "$2" >/dev/null
    echo "bucket $current renamed to $2"
  fi
  if [ -n "${3:-}" ]; then
    # Shard groups of the default length for the retention (tasks.sh says why).
    influx bucket update --id "$1" --retention "$3" --shard-group-duration 0 >/dev/null
    echo "bucket $2 in org $INFLUX_ORG: retention $3"
  fi
}
# The raw bucket's retention is tasks.sh's: only once its history is in the history bucket.
keep_bucket "$bucket_id" "$INFLUX_BUCKET"
keep_bucket "$history_id" "$INFLUX_HISTORY_BUCKET" "$INFLUX_HISTORY_RETENTION"
