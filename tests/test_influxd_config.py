"""InfluxDB's config.toml holds only options influxd reads. influxd (viper) ignores any other key
and refuses only 1.x ones (cmd/influxd/launcher/cmd.go invalidFlags): a misspelt `tls-cert`
would start InfluxDB over plain HTTP, and Telegraf and Grafana, which verify TLS, would fail.
The options are the `Flag:` names of influxd's BindCliOpts (influxdata/influxdb
cmd/influxd/launcher/cmd.go), the config file's keys being the flags' names."""

import tomllib

from components.influx_node import CONFIG_FILE
from conftest import host_instance, nodes_setting, service_files

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
    config = tomllib.loads(service_files(dev_run)["influx"][CONFIG_FILE])
    assert {"tls-cert", "tls-key", "bolt-path", "engine-path"} <= set(config)
    assert set(config) - INFLUXD_OPTIONS == set()


def influx_memory_mib(run) -> int:
    """The memory InfluxDB has: its instance's, or its share of the compact node's."""
    from components.memory import compact_shares
    from components.prices import memory_mib
    memory = memory_mib(host_instance(run, "influx").raw_inputs["instanceType"])
    return compact_shares(memory)["influx"] if "compact" in run.outputs["sshNodes"] else memory


def test_influxd_is_limited_to_what_a_t4g_micro_has(dev_run):
    """influxd limits nothing by default; here queries and the two shards written at once may
    take half of the node's memory, leaving the other half to the index, the runtime and the
    system (components/influx_node.py, influxd_limits). The separate layout's influx node is a
    t4g.micro; on the compact layout's t4g.small InfluxDB's share is as large."""
    config = tomllib.loads(service_files(dev_run)["influx"][CONFIG_FILE])
    assert influx_memory_mib(dev_run) == 1024
    memory = influx_memory_mib(dev_run) * 2**20
    assert 0 < config["query-concurrency"] <= 4 and config["query-queue-size"] >= 60
    assert (config["query-initial-memory-bytes"] <= config["query-memory-bytes"]
            and config["query-memory-bytes"] * config["query-concurrency"]
            <= config["query-max-memory-bytes"])
    assert config["query-max-memory-bytes"] + 2 * config["storage-cache-max-memory-size"] <= memory // 2
    assert config["storage-cache-max-memory-size"] >= 64 * 2**20  # far above a snapshot's 25 MiB
    assert config["tls-strict-ciphers"] is True


def test_a_larger_node_gets_larger_limits(layout_run, layout, dev_run):
    larger = layout_run(nodes=nodes_setting(layout, "influx", instanceType="t4g.medium"))
    config = tomllib.loads(service_files(larger)["influx"][CONFIG_FILE])
    assert influx_memory_mib(larger) > influx_memory_mib(dev_run)
    assert config["query-max-memory-bytes"] == influx_memory_mib(larger) * 2**20 // 4
