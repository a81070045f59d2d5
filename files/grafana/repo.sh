#!/usr/bin/env bash
# grafana node: add Grafana's apt repository and install Grafana OSS. Safe to run again.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings

KEYRING=/etc/apt/keyrings/grafana.gpg
if [ ! -s "$KEYRING" ]; then
  install -d -m 0755 /etc/apt/keyrings
  curl --fail --silent --show-error --location --retry 5 --max-time 60 \
    https://apt.grafana.com/gpg.key | gpg --dearmor > "$KEYRING.tmp"
  mv "$KEYRING.tmp" "$KEYRING"
fi
echo "deb [signed-by=$KEYRING] https://apt.grafana.com stable main" \
  > /etc/apt/sources.list.d/grafana.list

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold install -y -qq grafana >/dev/null
install -d -m 0750 -o root -g grafana /etc/grafana/solarmonitor /etc/grafana/dashboards
echo "grafana $(dpkg-query -W -f='${Version}' grafana) installed"
