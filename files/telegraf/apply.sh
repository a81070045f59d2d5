#!/usr/bin/env bash
# telegraf node: check the configuration solarmonitor wrote, then (re)start Telegraf.
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/default/telegraf
set +a
# --test runs the inputs once without writing; it proves the file parses and the plugins load.
timeout 60 telegraf --config /etc/telegraf/telegraf.conf --test --test-wait 5 >/dev/null
systemctl enable --quiet telegraf
systemctl restart telegraf
for _ in $(seq 1 20); do
  systemctl is-active --quiet telegraf && { echo "telegraf is running"; exit 0; }
  sleep 1
done
journalctl -u telegraf -n 40 --no-pager >&2
exit 1
