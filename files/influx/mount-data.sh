#!/usr/bin/env bash
# influx node: mount the data volume at /var/lib/influxdb, format it only when it is blank, and
# grow its file system to the volume's size. Usage: mount-data.sh <EBS volume id>. Safe to run
# again; never formats a volume that holds anything, or one it could not read.
set -euo pipefail
MOUNT_POINT=/var/lib/influxdb

# Blank means: blkid finds no signature (exit 2; 0 is "found one", anything else an error) and
# the first MiB reads as zeros, as a new EBS volume does. A read error is never "blank".
is_blank() {
  local device="$1" status=0
  blkid -p "$device" >/dev/null 2>&1 || status=$?
  case "$status" in
    0) return 1 ;;
    2) cmp --silent --bytes=1048576 "$device" /dev/zero ;;
    *) echo "blkid could not read $device (exit $status)" >&2; return 2 ;;
  esac
}

format_if_blank() {
  local device="$1" status=0
  is_blank "$device" || status=$?
  case "$status" in
    0) echo "$device is blank: formatting it"; mkfs.ext4 -q -L influxdata "$device" ;;
    1) ;;
    *) echo "not formatting $device: it could not be read" >&2; return 1 ;;
  esac
}

main() {
  local volume_id="$1"
  local link="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}" device uuid
  for _ in $(seq 1 120); do
    [ -e "$link" ] && break
    sleep 1
  done
  [ -e "$link" ] || { echo "data volume $volume_id is not attached" >&2; exit 1; }
  device="$(readlink -f "$link")"
  format_if_blank "$device"
  uuid="$(blkid -s UUID -o value "$device")"

  install -d -m 0755 "$MOUNT_POINT"
  # nofail: a missing volume must not stop the node from booting (and from being repaired);
  # influxd itself requires the mount (influxdb.service.d/solarmonitor.conf).
  grep -v " $MOUNT_POINT " /etc/fstab > /etc/fstab.solarmonitor || true
  echo "UUID=$uuid $MOUNT_POINT ext4 defaults,nofail,noatime 0 2" >> /etc/fstab.solarmonitor
  mv /etc/fstab.solarmonitor /etc/fstab
  systemctl daemon-reload
  mountpoint -q "$MOUNT_POINT" || mount "$MOUNT_POINT"
  # A larger volumeGb grows the volume in place; grow the file system with it (online).
  resize2fs "$device" >/dev/null 2>&1 || { echo "resize2fs failed on $device" >&2; exit 1; }
  # Which volume this is, for the setup step: it accepts an empty database only on a volume
  # this stack formatted.
  echo "$volume_id" > "$MOUNT_POINT/.solarmonitor-volume"
  echo "data volume $volume_id mounted at $MOUNT_POINT ($(df -h --output=size "$MOUNT_POINT" | tail -1 | tr -d ' '))"
}

[ "${SOLARMONITOR_SOURCE_ONLY:-}" = 1 ] || main "$@"
