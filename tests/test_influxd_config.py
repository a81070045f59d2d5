"""InfluxDB's config.toml holds only options influxd reads. influxd (viper) ignores any other key
and refuses only 1.x ones (cmd/influxd/launcher/cmd.go invalidFlags): a misspelt `tls-cert`
would start InfluxDB over plain HTTP, and Telegraf and Grafana, which verify TLS, would fail.
The options are the `Flag:` names of influxd's BindCliOpts (influxdata/influxdb
cmd/influxd/launcher/cmd.go), the config file's keys being the flags' names."""

import tomllib

from components.influx_node import CONFIG_FILE
from tools.plan import rendered_files

INFLUXD_OPTIONS = {
    "log-level", "flux-log-enabled", "tracing-type", "bolt-path", "sqlite-path", "assets-path",
    "store", "e2e-testing", "testing-always-allow-setup", "engine-path", "secret-store",
    "reporting-disabled", "pid-file", "overwrite-pid-file", "session-length",
    "session-renew-disabled", "vault-addr", "vault-client-timeout", "vault-max-retries",
    "vault-cacert", "vault-capath", "vault-client-cert", "vault-client-key", "vault-skip-verify",
    "vault-tls-server-name", "vault-token", "http-bind-address", "http-read-header-timeout",
    "http-read-timeout", "http-write-timeout", "http-idle-timeout", "tls-cert", "tls-key",
    "tls-min-version", "tls-strict-ciphers", "no-tasks", "query-concurrency",
    "query-initial-memory-bytes", "query-memory-bytes", "query-max-memory-bytes",
    "query-queue-size", "feature-flags", "instance-id", "storage-write-timeout",
    "storage-wal-fsync-delay", "storage-wal-max-concurrent-writes", "storage-wal-max-write-delay",
    "storage-validate-keys", "storage-cache-max-memory-size",
    "storage-cache-snapshot-memory-size", "storage-cache-snapshot-write-cold-duration",
    "storage-compact-full-write-cold-duration", "storage-compact-throughput-burst",
    "storage-max-concurrent-compactions", "storage-max-index-log-file-size",
    "storage-series-id-set-cache-size", "storage-series-file-max-concurrent-snapshot-compactions",
    "storage-tsm-use-madv-willneed", "storage-retention-check-interval",
    "storage-shard-precreator-check-interval", "storage-shard-precreator-advance-period",
    "influxql-max-select-point", "influxql-max-select-series", "influxql-max-select-buckets",
    "pprof-disabled", "metrics-disabled", "ui-disabled", "hardening-enabled",
    "template-file-urls-disabled"}


def test_every_key_is_an_option_influxd_reads(dev_run):
    config = tomllib.loads(rendered_files(dev_run)["influx"][CONFIG_FILE])
    assert {"tls-cert", "tls-key", "bolt-path", "engine-path"} <= set(config)
    assert set(config) - INFLUXD_OPTIONS == set()
