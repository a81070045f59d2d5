#!/usr/bin/env bash
# influx node: what setup.sh, tasks.sh and tokens.sh share, sourced by each. Where InfluxDB's
# data is, the setup file's values (root only: passwords, the operator token), and the influx
# CLI pointed at the local InfluxDB with the operator token. Written by `pulumi up`.
# SOLARMONITOR_INFLUX_DATA and SOLARMONITOR_SETUP_ENV are set only by the tests.
# shellcheck disable=SC2034  # used by the scripts that source this file
DATA="${SOLARMONITOR_INFLUX_DATA:-/var/lib/influxdb}"
# shellcheck disable=SC2034
IDS="$DATA/.solarmonitor-ids"
set -a
# shellcheck disable=SC1090,SC1091
. "${SOLARMONITOR_SETUP_ENV:-/etc/solarmonitor/influx-setup.env}"
set +a
# The CLI and curl trust the stack's CA through the system store; the certificate names localhost.
export INFLUX_HOST=https://localhost:8086 INFLUX_TOKEN="$INFLUX_OPERATOR_TOKEN"
