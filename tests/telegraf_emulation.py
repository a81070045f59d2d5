"""Telegraf cannot run here, so its documented behaviour for the pieces the stack uses (MQTT
subscriptions, topic_parsing, the value parser, processors.pivot) is emulated on the parsed TOML:
our own emulation, used by the contract tests of OpenDTU's and the Solix bridge's topics."""

from __future__ import annotations


def mqtt_match(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 wildcard matching for + and #."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


class EmulatedTelegraf:
    """What the rendered configuration does with one MQTT message."""

    def __init__(self, conf: dict):
        self.consumers = conf["inputs"]["mqtt_consumer"]
        self.pivot = conf["processors"]["pivot"][0]

    def matching(self, topic: str) -> list[dict]:
        return [c for c in self.consumers if any(mqtt_match(f, topic) for f in c["topics"])]

    def process(self, consumer: dict, topic: str, body: str) -> tuple[str, dict, str, object]:
        # value parser: string keeps the whole payload, numbers take the last token as float
        if consumer["data_type"] == "string":
            value = body.strip()
        else:
            value = float(body.strip().split()[-1])  # raises for "online", "Panel Ost", ...
        tags = {"topic": topic}
        parsers = [p for p in consumer.get("topic_parsing", []) if mqtt_match(p["topic"], topic)]
        assert len(parsers) == 1, f"{topic}: {len(parsers)} topic_parsing entries match"
        names, levels = parsers[0]["tags"].split("/"), topic.split("/")
        assert len(names) == len(levels), f"{topic}: pattern levels differ"
        tags.update({n: v for n, v in zip(names, levels) if n != "_"})
        measurement = consumer["name_override"]
        field = "value"
        if measurement in self.pivot["namepass"]:
            field = tags.pop(self.pivot["tag_key"])
        return measurement, tags, field, value
