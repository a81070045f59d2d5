#!/usr/bin/env bash
# (Re)start a service with the files solarmonitor wrote and wait until it runs; fail loudly,
# with the end of its journal, if it does not. Usage: restart-service.sh <systemd unit>
set -euo pipefail
unit="$1"
systemctl enable --quiet "$unit"
systemctl restart "$unit"
for _ in $(seq 1 30); do
  systemctl is-active --quiet "$unit" && { echo "$unit is running"; exit 0; }
  sleep 1
done
journalctl -u "$unit" -n 40 --no-pager >&2
exit 1
