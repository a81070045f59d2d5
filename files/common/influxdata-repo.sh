#!/usr/bin/env bash
# Add InfluxData's apt repository (InfluxDB 2, influx CLI, Telegraf). The signing key is fetched
# again on every run and checked against the primary key's fingerprint: InfluxData signs with
# subkeys that expire and are replaced under the same primary key (the 2023 subkey expired on
# 2026-01-17; https://www.influxdata.com/blog/package-signing-key-rotation), and a keyring kept
# from an earlier run would fail the next `apt-get update`. The repository has been IPv4-only:
# private nodes reach it through the NAT.
set -euo pipefail

FINGERPRINT=24C975CBA61A024EE1B631787C3D57159FC2F927
KEYRING=/etc/apt/keyrings/influxdata-archive.gpg
key="$(mktemp)"
trap 'rm -f "$key" "$KEYRING.tmp"' EXIT
curl --fail --silent --show-error --location --retry 5 --max-time 60 -4 \
  -o "$key" https://repos.influxdata.com/influxdata-archive.key
if ! gpg --show-keys --with-fingerprint --with-colons "$key" 2>/dev/null \
    | grep -q "^fpr:\+$FINGERPRINT:$"; then
  echo "InfluxData's key does not have the expected fingerprint $FINGERPRINT" >&2
  exit 1
fi
install -d -m 0755 /etc/apt/keyrings
gpg --dearmor < "$key" > "$KEYRING.tmp"
mv "$KEYRING.tmp" "$KEYRING"
echo "deb [signed-by=$KEYRING] https://repos.influxdata.com/debian stable main" \
  > /etc/apt/sources.list.d/influxdata.list
echo "InfluxData repository configured"
