#!/usr/bin/env bash
# NAT host: start forwarding for the private subnet now and at every boot. Safe to run again.
set -euo pipefail
cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings
if ! command -v iptables >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq iptables >/dev/null
fi
sysctl -q --system
systemctl daemon-reload
systemctl enable --quiet solarmonitor-nat.service
systemctl restart solarmonitor-nat.service
echo "NAT for the private subnet is active"
