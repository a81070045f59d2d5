#!/usr/bin/env bash
# NAT instance: masquerade the VPC's IPv4 traffic to the internet out of this node, so nodes
# without a public IPv4 reach IPv4-only repositories (a NAT Gateway costs more than the whole
# stack). Usage: solarmonitor-nat <VPC CIDR>. Safe to run again.
set -euo pipefail
cidr="$1"
out_if="$(ip -4 route show default | awk '{print $5; exit}')"
sysctl -q -w net.ipv4.ip_forward=1
rule=(POSTROUTING -s "$cidr" ! -d "$cidr" -o "$out_if" -j MASQUERADE)
iptables -t nat -C "${rule[@]}" 2>/dev/null || iptables -t nat -A "${rule[@]}"
