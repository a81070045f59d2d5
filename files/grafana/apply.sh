#!/usr/bin/env bash
# grafana node: (re)start Grafana, wait until it answers over HTTPS with its own (self-signed)
# certificate, then set the admin password from the stack. Usage: apply.sh <public host>.
# Prints nothing secret: the password goes in on stdin from its root:grafana file.
set -euo pipefail
host="$1"
systemctl enable --quiet grafana-server
systemctl restart grafana-server
for _ in $(seq 1 60); do
  if curl -fsS --cacert /etc/grafana/solarmonitor/server.crt \
      --connect-to "$host:3000:127.0.0.1:3000" "https://$host:3000/api/health" >/dev/null 2>&1; then
    grafana cli --homepath /usr/share/grafana --config /etc/grafana/grafana.ini \
      admin reset-admin-password --password-from-stdin \
      < /etc/grafana/solarmonitor/admin-password >/dev/null
    echo "grafana answers on https://$host:3000/"
    exit 0
  fi
  sleep 2
done
journalctl -u grafana-server -n 40 --no-pager >&2
exit 1
