#!/usr/bin/env bash
# mqtt node: (re)start mosquitto with the files solarmonitor wrote; fail loudly if it won't run.
set -euo pipefail
systemctl enable --quiet mosquitto
systemctl restart mosquitto
for _ in $(seq 1 20); do
  systemctl is-active --quiet mosquitto && { echo "mosquitto is running"; exit 0; }
  sleep 1
done
journalctl -u mosquitto -n 40 --no-pager >&2
exit 1
