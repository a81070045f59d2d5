"""Telegraf refuses to start on an option a plugin does not know ("configuration specified the
fields [...], but they were not used", influxdata/telegraf config/config.go l.701-826). Every
option in both rendered Telegraf files (the service's and the `telegraf --test` copy) is one
Telegraf reads. The option sets are the toml tags of Telegraf's own structs, read at
influxdata/telegraf b2726314 (2026-08-21):
  - [agent]: AgentConfig's fields (config/config.go l.184), snake_cased by the toml decoder;
  - options every plugin and parser accepts: missingTomlField (config/config.go l.1817-1836);
  - mqtt_consumer: MQTTConsumer (plugins/inputs/mqtt_consumer/mqtt_consumer.go l.35-52) with
    tls.ClientConfig (plugins/common/tls/client.go l.9-19), topic_parsing: topicParsingConfig
    (topic_parser.go l.12-17); the value parser's value_field_name
    (plugins/parsers/value/parser.go);
  - pivot: plugins/processors/pivot/pivot.go l.15-16;
  - influxdb_v2: InfluxDB (plugins/outputs/influxdb_v2/influxdb_v2.go l.30-46) with
    tls.ClientConfig and ratelimiter.RateLimitConfig (plugins/common/ratelimiter/config.go).
No Telegraf binary here: this is the check of the files against Telegraf's own lists."""

import tomllib

import pytest

from conftest import service_files

AGENT = {
    "interval", "round_interval", "precision", "collection_jitter", "collection_offset",
    "flush_interval", "flush_jitter", "metric_batch_size", "metric_buffer_limit", "debug",
    "quiet", "logtarget", "logformat", "logfile", "structured_log_message_key",
    "logfile_rotation_interval", "logfile_rotation_max_size", "logfile_rotation_max_archives",
    "log_with_timezone", "hostname", "omit_hostname", "snmp_translator", "statefile",
    "always_include_local_tags", "always_include_global_tags",
    "skip_processors_after_aggregators", "skip_processors_before_aggregators",
    "config_url_retry_attempts", "buffer_strategy", "buffer_directory", "buffer_disk_sync"}
EVERY_PLUGIN = {
    "alias", "always_include_local_tags", "buffer_strategy", "buffer_directory",
    "buffer_disk_sync", "collection_jitter", "collection_offset", "data_format", "delay", "drop",
    "drop_original", "fielddrop", "fieldexclude", "fieldinclude", "fieldpass", "flush_interval",
    "flush_jitter", "grace", "interval", "log_level", "lvm", "metric_batch_size",
    "metric_buffer_limit", "metricpass", "name_override", "name_prefix", "name_suffix",
    "namedrop", "namedrop_separator", "namepass", "namepass_separator", "order", "pass",
    "period", "precision", "tagdrop", "tagexclude", "taginclude", "tagpass", "tags",
    "startup_error_behavior", "labels", "id", "data_type", "influx_parser_type"}
TLS_CLIENT = {"tls_ca", "tls_cert", "tls_key", "tls_key_pwd", "tls_min_version",
              "tls_cipher_suites", "insecure_skip_verify", "tls_server_name",
              "tls_renegotiation_method", "tls_enable"}
PLUGINS = {
    ("inputs", "mqtt_consumer"): TLS_CLIENT | {
        "servers", "topics", "topic_tag", "topic_parsing", "username", "password", "qos",
        "connection_timeout", "max_reconnect_interval", "keepalive", "ping_timeout",
        "max_undelivered_messages", "persistent_session", "client_trace", "client_id",
        "value_field_name"},
    ("inputs", "mqtt_consumer", "topic_parsing"): {"topic", "measurement", "tags", "fields",
                                                   "types"},
    ("processors", "pivot"): {"tag_key", "value_key"},
    ("outputs", "influxdb_v2"): TLS_CLIENT | {
        "urls", "local_address", "token", "organization", "bucket", "bucket_tag",
        "exclude_bucket_tag", "timeout", "http_headers", "http_proxy", "user_agent",
        "content_encoding", "influx_uint_support", "influx_omit_timestamp", "ping_timeout",
        "read_idle_timeout", "concurrent_writes", "rate_limit", "rate_limit_period"},
}
CONFIGS = ["/etc/telegraf/telegraf.conf", "/etc/telegraf/telegraf-check.conf"]


def unknown_options(conf: dict) -> list[str]:
    """Every option Telegraf would not use, as "section.option"."""
    unknown = [f"agent.{key}" for key in conf.get("agent", {}) if key not in AGENT]
    for kind in ("inputs", "processors", "outputs"):
        for name, instances in conf.get(kind, {}).items():
            assert (kind, name) in PLUGINS, f"{kind}.{name}: a plugin this test does not know"
            for instance in instances:
                for key, value in instance.items():
                    if isinstance(value, list) and value and isinstance(value[0], dict):
                        allowed = PLUGINS.get((kind, name, key))
                        assert allowed, f"{kind}.{name}.{key}: a sub-table this test does not know"
                        unknown += [f"{kind}.{name}.{key}.{option}" for table in value
                                    for option in table if option not in allowed]
                    elif key not in PLUGINS[(kind, name)] | EVERY_PLUGIN:
                        unknown.append(f"{kind}.{name}.{key}")
    return unknown


@pytest.mark.parametrize("path", CONFIGS)
def test_every_option_is_one_telegraf_reads(dev_run, path):
    conf = tomllib.loads(service_files(dev_run)["telegraf"][path])
    assert conf["inputs"]["mqtt_consumer"] and conf["outputs"]["influxdb_v2"]
    assert unknown_options(conf) == []


def test_a_misspelt_option_is_found():
    conf = {"agent": {"flush_intervall": "10s"},
            "inputs": {"mqtt_consumer": [{"topics": [], "persistant_session": True,
                                          "topic_parsing": [{"topic": "+", "tag": "x"}]}]}}
    assert unknown_options(conf) == ["agent.flush_intervall",
                                     "inputs.mqtt_consumer.persistant_session",
                                     "inputs.mqtt_consumer.topic_parsing.tag"]
