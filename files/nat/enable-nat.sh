#!/usr/bin/env bash
# NAT host: start forwarding for the nodes without a public IPv4, now and at every boot.
set -euo pipefail
# shellcheck source=files/common/apt.sh
. /usr/local/lib/solarmonitor/apt.sh

if ! command -v iptables >/dev/null; then
  apt_wait_for_boot
  apt_update
  apt_install iptables
fi
sysctl -q --system
systemctl daemon-reload
systemctl enable --quiet solarmonitor-nat.service
systemctl restart solarmonitor-nat.service
echo "NAT is active"
