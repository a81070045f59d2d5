"""Telegraf's configuration, rendered from the OpenDTU data description (pure functions)."""

from __future__ import annotations

import json

from components.opendtu_data import CONSUMERS, STRING, Consumer, metrics_per_day
from components.templates import render


def _toml(value) -> str:
    """A TOML string or array of strings (JSON's syntax is TOML's for these)."""
    return json.dumps(value, ensure_ascii=True)


def full_topic(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}"


def parsing_tags(prefix: str, names: str) -> str:
    """Tags for `topic_parsing`: one "_" per prefix level, then the description's names."""
    return "/".join(["_"] * len(prefix.split("/")) + names.split("/"))


def consumer_block(consumer: Consumer, prefix: str, broker_host: str, username: str) -> str:
    parsing = "".join(
        render("telegraf/topic_parsing.conf", topic=_toml(full_topic(prefix, pattern)),
               tags=_toml(parsing_tags(prefix, names)))
        for pattern, names in consumer.patterns)
    return render(
        "telegraf/mqtt_consumer.conf",
        comment=f"{consumer.name}: {consumer.kind} payloads -> {consumer.measurement}",
        measurement=_toml(consumer.measurement), server=_toml(f"ssl://{broker_host}:8883"),
        topics=_toml([full_topic(prefix, t) for t in consumer.topics]), username=username,
        client_id=_toml(f"solarmonitor-telegraf-{consumer.name}"),
        data_type=_toml("string" if consumer.kind == STRING else "float"),
        topic_parsing=parsing.rstrip("\n"))


def telegraf_conf(prefix: str, broker_host: str, username: str, influx_url: str, org: str,
                  bucket: str) -> str:
    return render(
        "telegraf/telegraf.conf", buffer_limit=metrics_per_day(inverters=1),
        measurements=_toml(sorted({c.measurement for c in CONSUMERS})),
        influx_url=_toml(influx_url), org=_toml(org), bucket=_toml(bucket),
        consumers="".join(consumer_block(c, prefix, broker_host, username) for c in CONSUMERS))
