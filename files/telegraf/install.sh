#!/usr/bin/env bash
# telegraf node: install Telegraf from InfluxData's repository. Safe to run again.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold install -y -qq telegraf >/dev/null
install -d -m 0750 -o telegraf -g telegraf /var/lib/telegraf/buffer
echo "telegraf $(dpkg-query -W -f='${Version}' telegraf) installed"
