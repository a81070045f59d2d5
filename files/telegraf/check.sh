#!/usr/bin/env bash
# telegraf node: prove the configuration solarmonitor wrote parses and its plugins start, by
# running the inputs once without writing anything (`telegraf --test`).
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/default/telegraf
set +a
timeout 60 telegraf --config /etc/telegraf/telegraf.conf --test --test-wait 5 >/dev/null
echo "telegraf configuration checked"
