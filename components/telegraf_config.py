"""Telegraf's configuration, rendered from the OpenDTU data description (pure functions)."""

from __future__ import annotations

import json

from components.opendtu_data import CONSUMERS, STRING, Consumer, metrics_per_day
from components.templates import render, sha256

QOS = 1


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


def telegraf_conf(prefix: str, broker_url: str, username: str, influx_url: str, org: str,
                  bucket: str, check: bool = False) -> str:
    """The running configuration, or (`check`) the copy `telegraf --test` checks."""
    return render(
        "telegraf/telegraf.conf", check=check, qos=QOS, buffer_limit=metrics_per_day(inverters=1),
        measurements=sorted({c.measurement for c in CONSUMERS}), influx_url=influx_url,
        org=org, bucket=bucket, broker_url=broker_url, username=username,
        consumers=[consumer_view(c, prefix) for c in CONSUMERS])
