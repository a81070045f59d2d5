#!/usr/bin/env bash
# solarmonitor's apt helpers, sourced by the scripts that install packages. Written by `pulumi up`.
#
# Right after boot, cloud-init, apt-daily and unattended-upgrades hold apt's locks for minutes.
# DPkg::Lock::Timeout waits for dpkg's lock only, not for /var/lib/apt/lists/lock that
# `apt-get update` takes, so updates are retried as well.

export DEBIAN_FRONTEND=noninteractive
# Ubuntu 24.04's needrestart restarts services by itself after an upgrade (the broker, which is
# also the jump host and the NAT, included): list what needs a restart, restart nothing.
export NEEDRESTART_MODE=l

apt_wait_for_boot() {
  cloud-init status --wait >/dev/null || [ $? -eq 2 ]  # 2: booted with recoverable warnings
  local _
  for _ in $(seq 1 120); do  # apt-daily's runs at boot: up to 10 minutes
    systemctl is-active --quiet apt-daily.service apt-daily-upgrade.service || return 0
    sleep "${APT_WAIT_PAUSE:-5}"
  done
  echo "apt-daily still runs after 10 minutes; going on, with retries" >&2
}

APT_RETRY_PAUSE="${APT_RETRY_PAUSE:-15}"

apt_update() {
  local attempt
  for attempt in $(seq 1 10); do
    apt-get -o DPkg::Lock::Timeout=300 update -qq && return 0
    echo "apt-get update failed (attempt $attempt of 10); retrying in $APT_RETRY_PAUSE s" >&2
    sleep "$APT_RETRY_PAUSE"
  done
  return 1
}

# force-confold keeps the configuration solarmonitor writes when a package is upgraded later.
apt_install() {
  apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold \
    install -y -qq "$@" >/dev/null
}
