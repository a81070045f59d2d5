#!/usr/bin/env bash
# influx node: install InfluxDB 2 and the influx CLI from InfluxData's repository, with every
# InfluxDB path on the data volume. Safe to run again.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings
mountpoint -q /var/lib/influxdb || { echo "/var/lib/influxdb is not mounted" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold install -y -qq \
  influxdb2 influxdb2-cli jq >/dev/null
chown influxdb:influxdb /var/lib/influxdb
echo "influxdb2 $(dpkg-query -W -f='${Version}' influxdb2) installed"
