#!/usr/bin/env bash
# Apply a unit's memory drop-in (files/common/memory-limit.conf): systemd reads it again, and a
# unit that runs restarts with it; one not installed yet starts with it. Usage: memory-limit.sh
# <systemd unit>
set -euo pipefail
unit="$1"
systemctl daemon-reload
if systemctl is-active --quiet "$unit"; then
  systemctl restart "$unit"
  echo "$unit restarted with its memory share"
else
  echo "$unit starts with its memory share"
fi
