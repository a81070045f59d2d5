#!/usr/bin/env bash
# influx node: install InfluxDB 2 and the influx CLI from InfluxData's repository, with every
# InfluxDB path on the data volume. Safe to run again.
set -euo pipefail
# shellcheck source=files/common/apt.sh
. /usr/local/lib/solarmonitor/apt.sh
mountpoint -q /var/lib/influxdb || { echo "/var/lib/influxdb is not mounted" >&2; exit 1; }

apt_wait_for_boot
apt_update
apt_install influxdb2 influxdb2-cli jq
chown influxdb:influxdb /var/lib/influxdb
echo "influxdb2 $(dpkg-query -W -f='${Version}' influxdb2) installed"
