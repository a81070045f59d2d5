#!/usr/bin/env bash
# telegraf node: prove the configuration solarmonitor wrote parses and its plugins start, by
# running the inputs once without writing anything (`telegraf --test`). It checks the copy made
# for it: the same plugins and options, but client ids of its own without persistent sessions.
set -euo pipefail
set -a
# shellcheck disable=SC1091
. /etc/default/telegraf
set +a
timeout 60 telegraf --config /etc/telegraf/telegraf-check.conf --test --test-wait 5 >/dev/null
echo "telegraf configuration checked"
