#!/usr/bin/env bash
# influx node: mount the data volume at /var/lib/influxdb, formatting it only when it is blank.
# Usage: mount-data.sh <EBS volume id>. Safe to run again; never formats a volume with data.
set -euo pipefail
volume_id="$1"
mount_point=/var/lib/influxdb
link="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}"

for _ in $(seq 1 120); do
  [ -e "$link" ] && break
  sleep 1
done
[ -e "$link" ] || { echo "data volume $volume_id is not attached" >&2; exit 1; }
device="$(readlink -f "$link")"

if ! blkid -p "$device" >/dev/null 2>&1; then
  echo "data volume $volume_id is blank: formatting it"
  mkfs.ext4 -q -L influxdata "$device"
fi
uuid="$(blkid -s UUID -o value "$device")"

install -d -m 0755 "$mount_point"
# nofail: a missing volume must not stop the node from booting (and from being repaired).
line="UUID=$uuid $mount_point ext4 defaults,nofail,noatime 0 2"
grep -v " $mount_point " /etc/fstab > /etc/fstab.solarmonitor || true
echo "$line" >> /etc/fstab.solarmonitor
mv /etc/fstab.solarmonitor /etc/fstab
systemctl daemon-reload
mountpoint -q "$mount_point" || mount "$mount_point"
echo "data volume $volume_id mounted at $mount_point"
