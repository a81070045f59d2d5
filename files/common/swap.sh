#!/usr/bin/env bash
# A swap file of the given size, on at boot (/etc/fstab) and now; made anew when the size differs.
# Safe to run again. Usage: swap.sh <MiB>
# SOLARMONITOR_SWAP_FILE and SOLARMONITOR_FSTAB are set only by the tests.
set -euo pipefail
size_mib="$1"
file="${SOLARMONITOR_SWAP_FILE:-/swapfile}"
fstab="${SOLARMONITOR_FSTAB:-/etc/fstab}"
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || { echo "swap size must be a number of MiB: $size_mib" >&2; exit 2; }

if [ -f "$file" ] && [ "$(stat -c %s "$file")" -ne $((size_mib * 1048576)) ]; then
  swapoff "$file" 2>/dev/null || true
  rm -f "$file"
fi
if [ ! -f "$file" ]; then
  # dd, not fallocate: swapon refuses a file with holes, and a file fallocate made may count as
  # one (swapon(8), "Files with holes": "the most portable solution ... is to use dd(1) and
  # /dev/zero").
  (umask 077 && dd if=/dev/zero of="$file" bs=1M count="$size_mib" status=none)
  mkswap "$file" >/dev/null
fi
grep -q "^$file " "$fstab" || echo "$file none swap sw 0 0" >> "$fstab"
swapon --show=NAME --noheadings | grep -qx "$file" || swapon "$file"
sysctl --quiet --load /etc/sysctl.d/60-solarmonitor-swap.conf
echo "swap on: $file, $size_mib MiB"
