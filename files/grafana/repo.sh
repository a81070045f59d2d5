#!/usr/bin/env bash
# grafana node: add Grafana's apt repository and install Grafana OSS. Safe to run again. The
# key is fetched again on every run, so a rotation (as in 2023) does not break the next update.
set -euo pipefail
# shellcheck source=files/common/apt.sh
. /usr/local/lib/solarmonitor/apt.sh

KEYRING=/etc/apt/keyrings/grafana.gpg
trap 'rm -f "$KEYRING.tmp"' EXIT
install -d -m 0755 /etc/apt/keyrings
curl --fail --silent --show-error --location --retry 5 --max-time 60 \
  https://apt.grafana.com/gpg.key | gpg --dearmor > "$KEYRING.tmp"
mv "$KEYRING.tmp" "$KEYRING"
echo "deb [signed-by=$KEYRING] https://apt.grafana.com stable main" \
  > /etc/apt/sources.list.d/grafana.list

apt_wait_for_boot
apt_update
apt_install grafana
install -d -m 0750 -o root -g grafana /etc/grafana/solarmonitor /etc/grafana/dashboards
echo "grafana $(dpkg-query -W -f='${Version}' grafana) installed"
