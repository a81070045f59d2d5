#!/usr/bin/env bash
# grafana node: (re)start Grafana, wait until it answers over HTTPS with its own (self-signed)
# certificate, then set the admin password from the stack. Usage: apply.sh <public host>.
# Prints nothing secret: the password goes in on stdin from its root:grafana file.
# SOLARMONITOR_GRAFANA_DATA and SOLARMONITOR_GRAFANA_ETC are set only by the tests.
set -euo pipefail
host="$1"
data="${SOLARMONITOR_GRAFANA_DATA:-/var/lib/grafana}"
etc="${SOLARMONITOR_GRAFANA_ETC:-/etc/grafana/solarmonitor}"

# Grafana encrypts the secrets it keeps in grafana.db (the datasource's InfluxDB token) under
# keys that secret_key encrypts; a database made under another secret_key (Grafana's built-in
# one, before this stack set its own) holds secrets the new key cannot read. Everything in it
# that the stack made is provisioned again at start, so such a database is moved aside, kept.
key_sum="$(sha256sum < "$etc/secret-key" | cut -d' ' -f1)"
key_mark="$data/.solarmonitor-secret-key.sha256"
if [ -f "$data/grafana.db" ] && [ "$(cat "$key_mark" 2>/dev/null)" != "$key_sum" ]; then
  systemctl stop grafana-server
  kept="$data/grafana.db.before-secret-key-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$data/grafana.db" "$kept"
  echo "grafana.db was made under another secret key: moved to $kept, Grafana starts afresh"
fi
mkdir -p "$data"
(umask 077 && printf '%s\n' "$key_sum" > "$key_mark")

systemctl enable --quiet grafana-server
systemctl restart grafana-server
for _ in $(seq 1 60); do
  if curl -fsS --cacert "$etc/server.crt" \
      --connect-to "$host:3000:127.0.0.1:3000" "https://$host:3000/api/health" >/dev/null 2>&1; then
    grafana cli --homepath /usr/share/grafana --config /etc/grafana/grafana.ini \
      admin reset-admin-password --password-from-stdin \
      < "$etc/admin-password" >/dev/null
    echo "grafana answers on https://$host:3000/"
    exit 0
  fi
  sleep 2
done
journalctl -u grafana-server -n 40 --no-pager >&2
exit 1
