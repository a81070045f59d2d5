"""Telegraf's configuration, rendered from the OpenDTU data description (pure functions)."""

from __future__ import annotations

from components.opendtu_data import CONSUMERS, STRING, Consumer, metrics_per_day
from components.templates import render


def full_topic(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}"


def parsing_tags(prefix: str, names: str) -> str:
    """Tags for `topic_parsing`: one "_" per prefix level, then the description's names."""
    return "/".join(["_"] * len(prefix.split("/")) + names.split("/"))


def consumer_view(consumer: Consumer, prefix: str) -> dict:
    """What the template needs of one consumer."""
    return {
        "name": consumer.name, "kind": consumer.kind, "measurement": consumer.measurement,
        "topics": [full_topic(prefix, topic) for topic in consumer.topics],
        "client_id": f"solarmonitor-telegraf-{consumer.name}",
        "data_type": "string" if consumer.kind == STRING else "float",
        "topic_parsing": [{"topic": full_topic(prefix, pattern),
                           "tags": parsing_tags(prefix, names)}
                          for pattern, names in consumer.patterns],
    }


def telegraf_conf(prefix: str, broker_host: str, username: str, influx_url: str, org: str,
                  bucket: str) -> str:
    return render(
        "telegraf/telegraf.conf", buffer_limit=metrics_per_day(inverters=1),
        measurements=sorted({c.measurement for c in CONSUMERS}), influx_url=influx_url,
        org=org, bucket=bucket, broker_url=f"ssl://{broker_host}:8883", username=username,
        consumers=[consumer_view(c, prefix) for c in CONSUMERS])
