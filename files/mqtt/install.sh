#!/usr/bin/env bash
# mqtt node: install mosquitto (Ubuntu's package). Safe to run again.
set -euo pipefail
# shellcheck source=files/common/apt.sh
. /usr/local/lib/solarmonitor/apt.sh

apt_wait_for_boot
apt_update
apt_install mosquitto
install -d -m 0750 -o mosquitto -g mosquitto /etc/mosquitto/certs
echo "mosquitto $(dpkg-query -W -f='${Version}' mosquitto) installed"
