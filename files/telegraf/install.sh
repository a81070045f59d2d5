#!/usr/bin/env bash
# telegraf node: install Telegraf from InfluxData's repository. Safe to run again.
set -euo pipefail
# shellcheck source=files/common/apt.sh
. /usr/local/lib/solarmonitor/apt.sh

apt_wait_for_boot
apt_update
apt_install telegraf
install -d -m 0750 -o telegraf -g telegraf /var/lib/telegraf/buffer
echo "telegraf $(dpkg-query -W -f='${Version}' telegraf) installed"
