#!/usr/bin/env bash
# Install or update the solarmonitor IP agent on a Raspberry Pi (Raspberry Pi OS, Python 3.11).
# Usage: sudo ./pi/install.sh AGENT_INI   (AGENT_INI: `pulumi stack output --show-secrets piAgentConfig`)
# Safe to run again: it updates the code and the config and keeps the agent's state.
set -euo pipefail

config_source="${1:-}"
if [ -z "$config_source" ] || [ ! -r "$config_source" ]; then
  echo "usage: sudo $0 AGENT_INI  (the piAgentConfig stack output saved to a file)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "run it as root: sudo $0 $config_source" >&2
  exit 1
fi

here="$(cd "$(dirname "$0")" && pwd)"
prefix=/opt/solarmonitor-ip-agent
user=solarmonitor

if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi

install -d -m 0755 "$prefix"
[ -x "$prefix/venv/bin/python" ] || python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
install -m 0644 "$here/ip_agent.py" "$prefix/ip_agent.py"
install -m 0644 "$here/../home_address.py" "$prefix/home_address.py"

# The config holds an AWS access key: readable by the agent's user only.
install -d -m 0750 -o root -g "$user" /etc/solarmonitor
install -m 0600 -o "$user" -g "$user" "$config_source" /etc/solarmonitor/ip-agent.ini

install -m 0644 "$here/solarmonitor-ip-agent.service" "$here/solarmonitor-ip-agent.timer" \
  /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now solarmonitor-ip-agent.timer
systemctl start solarmonitor-ip-agent.service || true  # its result shows in the journal

echo "installed; check it with: journalctl -u solarmonitor-ip-agent -n 5"
