#!/usr/bin/env bash
# pi/install.sh as it was up to commit 39d115e, before issue 23, unchanged below this comment:
# tests/test_pi_install.py installs it first and updates over it.
# Install or update solarmonitor on a Raspberry Pi (Raspberry Pi OS, Python 3.11): the IP agent
# always, the Solix battery bridge when the config names devices ([solix] devices).
# Usage: sudo ./pi/install.sh PI_INI   (PI_INI: `pulumi stack output --show-secrets piAgentConfig`)
# Safe to run again: it updates the code and the config and keeps the agent's state.
set -euo pipefail

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

if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi

install -d -m 0755 "$prefix"
[ -x "$prefix/venv/bin/python" ] || python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
install -m 0644 "$here/ip_agent.py" "$here/solix_bridge.py" "$here/solix_source.py" \
  "$here/solix_topics.py" "$prefix/"
install -m 0644 "$here/../home_address.py" "$prefix/home_address.py"

# The config holds an AWS access key and an MQTT password: readable by the agent's user only.
install -d -m 0750 -o root -g "$user" /etc/solarmonitor
install -m 0600 -o "$user" -g "$user" "$config_source" "$config"
rm -f /etc/solarmonitor/ip-agent.ini  # where earlier versions kept it

install -m 0644 "$here/solarmonitor-ip-agent.service" "$here/solarmonitor-ip-agent.timer" \
  "$here/solarmonitor-solix-bridge.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now solarmonitor-ip-agent.timer
systemctl start solarmonitor-ip-agent.service || true  # its result shows in the journal

devices="$(python3 -c 'import configparser, sys
ini = configparser.ConfigParser(interpolation=None); ini.read(sys.argv[1])
print(ini.get("solix", "devices", fallback="none").strip() or "none")' "$config")"
if [ "$devices" = none ]; then
  systemctl disable --now solarmonitor-solix-bridge.service 2>/dev/null || true
  echo "installed the IP agent; no [solix] devices, so no battery bridge"
else
  getent group bluetooth >/dev/null && usermod -a -G bluetooth "$user"
  [ -x "$prefix/solix-venv/bin/python" ] || python3 -m venv "$prefix/solix-venv"
  "$prefix/solix-venv/bin/pip" install --quiet --disable-pip-version-check \
    -r "$here/requirements-solix.txt"
  systemctl enable --quiet solarmonitor-solix-bridge.service
  systemctl restart solarmonitor-solix-bridge.service
  echo "installed the IP agent and the battery bridge for: $devices"
fi
echo "check them with: journalctl -u solarmonitor-ip-agent -u solarmonitor-solix-bridge -n 20"
