"""Telegraf's configuration, rendered from the OpenDTU data description (pure functions)."""

from __future__ import annotations

import json

from components.opendtu_data import CONSUMERS, STRING, Consumer, metrics_per_day
from components.templates import render, sha256

QOS = 1
# The configuration check's consumers (`telegraf --test`) connect as "<client id>-check": sessions
# of their own, so the check never takes the running consumers' sessions over.
CHECK_SUFFIX = "-check"


def full_topic(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}"


def parsing_tags(prefix: str, names: str) -> str:
    """Tags for `topic_parsing`: one "_" per prefix level, then the description's names."""
    return "/".join(["_"] * len(prefix.split("/")) + names.split("/"))


def client_id(name: str, topics: list[str]) -> str:
    """The consumer's MQTT client id: its name and a hash of its subscriptions."""
    subscriptions = sha256(json.dumps({"topics": sorted(topics), "qos": QOS}))[:10]
    return f"solarmonitor-telegraf-{name}-{subscriptions}"


def consumer_view(consumer: Consumer, prefix: str) -> dict:
    """What the template needs of one consumer."""
    topics = [full_topic(prefix, topic) for topic in consumer.topics]
    return {
        "name": consumer.name, "kind": consumer.kind, "measurement": consumer.measurement,
        "topics": topics, "client_id": client_id(consumer.name, topics),
        "data_type": "string" if consumer.kind == STRING else "float",
        "topic_parsing": [{"topic": full_topic(prefix, pattern),
                           "tags": parsing_tags(prefix, names)}
                          for pattern, names in consumer.patterns],
    }


# Telegraf's disk buffer (buffer_strategy "disk", an alias of "disk_write_through": config/
# config.go buildOutput) has no size of its own: models/buffer_disk.go NewDiskBuffer takes no
# capacity (metric_buffer_limit bounds the memory buffer only). It grows on the node's root
# volume by one gob-encoded metric per value (metric/deserialize.go ToBytes: a fresh encoder per
# metric, type descriptions included): 443 bytes for an inverter's value, 389 for the DTU's,
# measured with Go 1.19's encoding/gob on Telegraf's types (no Telegraf runs here). A memory
# buffer as long would need gigabytes; a nano has 512 MiB.
BUFFER_BYTES_PER_METRIC = 450
# The largest installation the buffer's figures are given for: 4 inverters with 6 DC inputs each
# (the HMT-6T has the most inputs of the inverters OpenDTU reads).
DESIGN_INVERTERS = 4
DESIGN_DC_INPUTS = 6
# What the root volume holds besides the buffer: Ubuntu 24.04's server image, Telegraf, logs,
# package caches and an upgrade's downloads (an estimate).
SYSTEM_GIB = 3
# What InfluxDB's and Grafana's packages take on the root volume of a host Telegraf shares with
# them (an estimate, like SYSTEM_GIB: influxdb2, influxdb2-cli and grafana installed).
SHARED_HOST_GIB = 1


def buffer_hours(volume_gb: int, inverters: int = DESIGN_INVERTERS,
                 dc_inputs: int = DESIGN_DC_INPUTS, reserved_gib: float = 0) -> float:
    """Hours of InfluxDB outage Telegraf's disk buffer holds on a root volume of `volume_gb`
    (of which `reserved_gib` hold other services) before the volume is full, with every topic
    of this many inverters every interval."""
    per_hour = metrics_per_day(inverters, dc_inputs) / 24 * BUFFER_BYTES_PER_METRIC
    return (volume_gb - SYSTEM_GIB - reserved_gib) * 2**30 / per_hour


def mqtt_logins(prefix: str) -> tuple[str, ...]:
    """The broker usernames Telegraf connects with: each consumer's client id, and the same with
    CHECK_SUFFIX for the configuration check. The broker takes the username as the client id
    (components/mqtt_users.py), so each is a session only Telegraf's password opens."""
    client_ids = [consumer_view(c, prefix)["client_id"] for c in CONSUMERS]
    return (*client_ids, *(f"{client_id}{CHECK_SUFFIX}" for client_id in client_ids))


def telegraf_conf(prefix: str, broker_url: str, influx_url: str, org: str, bucket: str,
                  check: bool = False, volume_gb: int = 8, reserved_gib: float = 0) -> str:
    """The running configuration, or (`check`) the copy `telegraf --test` checks; `volume_gb`:
    the node's root volume, which the disk buffer fills, `reserved_gib` of it taken by others."""
    return render(
        "telegraf/telegraf.conf", check=check, qos=QOS,
        buffer_days_design=buffer_hours(volume_gb, reserved_gib=reserved_gib) / 24,
        buffer_days_one=buffer_hours(volume_gb, inverters=1, dc_inputs=4,
                                     reserved_gib=reserved_gib) / 24,
        design=f"{DESIGN_INVERTERS} inverters with {DESIGN_DC_INPUTS} inputs",
        measurements=sorted({c.measurement for c in CONSUMERS}), influx_url=influx_url,
        org=org, bucket=bucket, broker_url=broker_url, check_suffix=CHECK_SUFFIX,
        consumers=[consumer_view(c, prefix) for c in CONSUMERS])
