#!/usr/bin/env bash
# mqtt node: start forwarding for the private subnet now and at every boot.
set -euo pipefail
sysctl -q --system
systemctl daemon-reload
systemctl enable --quiet solarmonitor-nat.service
systemctl restart solarmonitor-nat.service
echo "NAT for the private subnet is active"
