#!/usr/bin/env bash
# NAT instance: masquerade the private subnet's IPv4 traffic out of this node, so nodes without
# a public IPv4 reach IPv4-only repositories (a NAT Gateway costs more than the whole stack).
# Usage: solarmonitor-nat <private subnet CIDR>. Safe to run again.
set -euo pipefail
cidr="$1"
out_if="$(ip -4 route show default | awk '{print $5; exit}')"
sysctl -q -w net.ipv4.ip_forward=1
iptables -t nat -C POSTROUTING -s "$cidr" -o "$out_if" -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -s "$cidr" -o "$out_if" -j MASQUERADE
