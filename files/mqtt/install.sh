#!/usr/bin/env bash
# mqtt node: install mosquitto (Ubuntu's package). Safe to run again.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# force-confold keeps the configuration solarmonitor writes if the package is upgraded later.
apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold install -y -qq \
  mosquitto >/dev/null
install -d -m 0750 -o mosquitto -g mosquitto /etc/mosquitto/certs
echo "mosquitto $(dpkg-query -W -f='${Version}' mosquitto) installed"
