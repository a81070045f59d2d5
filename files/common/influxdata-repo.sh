#!/usr/bin/env bash
# Add InfluxData's apt repository (InfluxDB 2, influx CLI, Telegraf), verifying the signing key's
# fingerprint first. Safe to run again. The repository has been IPv4-only: private nodes reach
# it through the mqtt node's NAT.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings

FINGERPRINT=24C975CBA61A024EE1B631787C3D57159FC2F927
KEYRING=/etc/apt/keyrings/influxdata-archive.gpg
if [ ! -s "$KEYRING" ]; then
  key="$(mktemp)"
  trap 'rm -f "$key"' EXIT
  curl --fail --silent --show-error --location --retry 5 --max-time 60 -4 \
    -o "$key" https://repos.influxdata.com/influxdata-archive.key
  if ! gpg --show-keys --with-fingerprint --with-colons "$key" 2>/dev/null \
      | grep -q "^fpr:\+$FINGERPRINT:$"; then
    echo "InfluxData's key does not have the expected fingerprint $FINGERPRINT" >&2
    exit 1
  fi
  install -d -m 0755 /etc/apt/keyrings
  gpg --dearmor < "$key" > "$KEYRING.tmp" && mv "$KEYRING.tmp" "$KEYRING"
fi
echo "deb [signed-by=$KEYRING] https://repos.influxdata.com/debian stable main" \
  > /etc/apt/sources.list.d/influxdata.list
echo "InfluxData repository configured"
