#!/usr/bin/env bash
# Install or update solarmonitor on a Raspberry Pi (Raspberry Pi OS 12 "bookworm" or 13 "trixie",
# 64-bit): the IP agent always, the Solix battery bridge when the config names devices ([solix]
# devices) or an Anker cloud account ([solix_cloud]); pi/install_needs.py decides.
# Usage: sudo ./pi/install.sh PI_INI   (PI_INI: `pulumi stack output --show-secrets piAgentConfig`)
# Safe to run again, also after a run that failed or was interrupted, and over an older version:
# every run ends in the same state and keeps the agent's state.
set -euo pipefail
# What the installer makes (venvs, the units' wants) readable by the service user, whatever umask
# `sudo` passes on (the user's, with sudoers' 022 added: sudoers(5), "umask"); a user's 077 would
# leave the venvs unreadable to the services.
umask 022

config_source="${1:-}"
if [ -z "$config_source" ] || [ ! -r "$config_source" ]; then
  echo "usage: sudo $0 PI_INI  (the piAgentConfig stack output saved to a file)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "run it as root: sudo $0 $config_source" >&2
  exit 1
fi

here="$(cd "$(dirname "$0")" && pwd)"
prefix=/opt/solarmonitor-ip-agent
user=solarmonitor
config=/etc/solarmonitor/solarmonitor.ini
state=/var/lib/solarmonitor-ip-agent  # the agent unit's StateDirectory=
code=(ip_agent.py solix_bridge.py solix_source.py solix_topics.py solix_cloud.py ../home_address.py)

# Installs those of the Debian packages "$@" that are not fully installed, and says which.
apt_updated=no
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = installed ] ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing from Debian's packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" = no ]; then
    # Finishes what an interrupted apt or dpkg left: configures what it had unpacked. A package
    # it left half-unpacked cannot be configured ("very bad inconsistent state"): apt-get
    # install below reinstalls it.
    dpkg --configure -a >/dev/null 2>&1 || true
    apt_update
    apt_updated=yes
  fi
  apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" \
    >/dev/null || {
    echo "could not install ${missing[*]} (apt's messages above): is the Pi online?" >&2
    return 1
  }
}

# apt-get update, after another apt's (a freshly booted Pi runs apt-daily, the desktop's update
# notifier PackageKit): apt waits for dpkg's lock (DPkg::Lock::Timeout, read only in apt-pkg/deb/
# debsystem.cc) but takes the lists' lock at once or fails (apt-pkg/acquire.cc pkgAcquire::GetLock).
apt_update() {
  local tries=0 output
  until output="$(LC_ALL=C apt-get update -qq 2>&1)"; do
    if [[ "$output" != *"Could not get lock"* ]] || [ $((tries += 1)) -gt 60 ]; then
      printf '%s\n' "$output" >&2
      return 1
    fi
    if [ "$tries" -eq 1 ]; then echo "waiting for another apt to finish (up to 5 minutes)"; fi
    sleep 5
  done
  if [ -n "$output" ]; then printf '%s\n' "$output" >&2; fi  # warnings: a source not reached
}

# Makes $1 a venv holding exactly the pinned packages of $2. The stamp is written last, after a
# complete build: a venv without it (a run that failed or was interrupted, an older version's,
# one without pip) or with other requirements or another Python is built afresh, so no package
# of an earlier build is left behind.
ensure_venv() {
  local venv="$1" requirements="$2" wanted
  wanted="python $(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  wanted="$wanted, $(basename "$requirements") $(sha256sum <"$requirements" | cut -d' ' -f1)"
  if [ "$(cat "$venv/.solarmonitor-build" 2>/dev/null)" = "$wanted" ] &&
    "$venv/bin/python" -c '' 2>/dev/null; then
    return 0
  fi
  echo "building $venv ($wanted)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
    -r "$requirements"
  echo "$wanted" >"$venv/.solarmonitor-build"
}

# Before anything else: Python, to read the config (a bad one stops here), then what the config
# asks for: venv, the CA certificates pip and the agent's HTTPS fallbacks verify with, systemd's
# systemctl, and BlueZ for batteries read over Bluetooth.
ensure_packages python3
parts="$(python3 "$here/install_needs.py" "$config_source")"
wants() { grep -qx "$1" <<<"$parts"; }
packages=(python3-venv ca-certificates systemd)
if wants bluetooth; then packages+=(bluez); fi
ensure_packages "${packages[@]}"

if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi
if wants bluetooth; then
  usermod -a -G bluetooth "$user"  # the group BlueZ answers over D-Bus (bluez creates it)
elif [[ " $(id -nG "$user") " == *" bluetooth "* ]]; then
  gpasswd -d "$user" bluetooth >/dev/null
fi

install -d -m 0755 "$prefix"
ensure_venv "$prefix/venv" "$here/requirements.txt"
if wants bridge; then
  ensure_venv "$prefix/solix-venv" "$here/requirements-solix.txt"
else
  rm -rf "$prefix/solix-venv"
fi
install -m 0644 "${code[@]/#/$here/}" "$prefix/"
for file in "$prefix"/*; do  # files an older version installed and this one does not
  if [ -f "$file" ] && [[ " ${code[*]##*/} " != *" ${file##*/} "* ]]; then rm -f "$file"; fi
done

# The config holds an AWS access key and an MQTT password: readable by the agent's user only.
install -d -m 0750 -o root -g "$user" /etc/solarmonitor
if [ ! "$config_source" -ef "$config" ]; then  # run again with the installed config: kept
  install -m 0600 -o "$user" -g "$user" "$config_source" "$config"
fi
rm -f /etc/solarmonitor/ip-agent.ini  # where earlier versions kept it
install -d -m 0750 -o "$user" -g "$user" "$state"  # as systemd makes it; also for runs by hand

install -m 0644 "$here/solarmonitor-ip-agent.service" "$here/solarmonitor-ip-agent.timer" \
  "$here/solarmonitor-solix-bridge.service" /etc/systemd/system/
# Enabling works without a running systemd (an image built in a chroot); starting needs one.
# /run/systemd/system is how systemd itself tells it is running (sd_booted(3)).
running=no
if [ -d /run/systemd/system ]; then
  running=yes
  systemctl daemon-reload
fi
systemctl enable --quiet solarmonitor-ip-agent.timer
if wants bridge; then
  systemctl enable --quiet solarmonitor-solix-bridge.service
else
  systemctl disable --quiet solarmonitor-solix-bridge.service
fi
if [ "$running" = yes ]; then
  systemctl restart solarmonitor-ip-agent.timer
  systemctl start solarmonitor-ip-agent.service || true  # its result shows in the journal
  if wants bridge; then
    systemctl restart solarmonitor-solix-bridge.service
  else
    systemctl stop solarmonitor-solix-bridge.service
  fi
else
  echo "systemd is not running here: the units start at the next boot"
fi

if wants bridge; then
  echo "installed the IP agent and the battery bridge"
else
  echo "installed the IP agent; the config names no battery nor Anker account, so no battery bridge"
fi
echo "check them with: journalctl -u solarmonitor-ip-agent -u solarmonitor-solix-bridge -n 20"
