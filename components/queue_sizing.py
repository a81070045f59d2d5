"""How much the broker keeps for an absent Telegraf, sized from the data description.

OpenDTU publishes every value at QoS 0 (src/MqttSettings.cpp, publish(): qos 0), so mosquitto
queues nothing for an offline Telegraf unless `queue_qos0_messages true`. And then nothing but
the session's expiry bounds that queue: mosquitto counts only QoS 1 and 2 messages against
`max_queued_messages` and `max_queued_bytes` (src/database.c, db__ready_for_queue and
db__msg_add_to_queued_stats, the same in 2.0.11 and 2.0.18). So the sessions expire after
`SESSION_EXPIRY_HOURS`, twice the outage the stack is built to survive without loss
(`OUTAGE_HOURS` at the largest supported installation), and what they can hold by then must fit
the broker's `memory_limit`, a share of the node's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components import prices
from components.opendtu_data import (
    INTERVAL_SECONDS, SOLIX_INTERVAL_SECONDS, Consumer, all_topics, solix_topics, topic_matches,
)

DESIGN_INVERTERS = 4
DESIGN_DC_INPUTS = 6  # HMT-6T: the most DC inputs an inverter OpenDTU reads has
DESIGN_SOLIX_DEVICES = 2  # batteries the Pi's bridge reads
DESIGN_LOAD = (f"{DESIGN_INVERTERS} inverters with {DESIGN_DC_INPUTS} inputs each, every "
               f"{INTERVAL_SECONDS} s")
OUTAGE_HOURS = 1.0
MARGIN = 1.25  # for a slower Telegraf restart, more topics than described
# Broker memory per queued message, measured with mosquitto 2.0.11 and OpenDTU-sized topics
# and payloads (tests/test_broker_outage.py checks it again on every run).
BYTES_PER_QUEUED_MESSAGE = 450
MEMORY_SHARE = 0.5  # of the node's memory; the rest is Ubuntu, sshd, the NAT and headroom
# A session nobody resumes (Telegraf gone for longer, or a consumer whose subscriptions changed,
# so its client id did too) is dropped after this long, and its queue with it.
SESSION_EXPIRY_HOURS = 2
SESSION_EXPIRY = f"{SESSION_EXPIRY_HOURS}h"


@dataclass(frozen=True)
class QueueLimits:
    messages: int
    """max_queued_messages: the most packets one client may have waiting (the largest
    consumer's queue, delivered at once when it returns, plus what arrives meanwhile)."""
    memory_limit_bytes: int
    """memory_limit: the broker's hard cap; past it, messages are dropped, the broker survives."""
    outage_bytes: int
    """Memory that queueing `OUTAGE_HOURS` for every consumer takes, at the design load."""
    expiry_bytes: int
    """The most the queues can hold before their sessions expire."""


def messages_per_hour(consumer: Consumer, prefix: str = "solar") -> int:
    """Messages a consumer gets in an hour of daylight at the design installation: OpenDTU's
    every INTERVAL_SECONDS, the Solix bridge's every SOLIX_INTERVAL_SECONDS."""
    def matched(topics) -> int:
        return sum(1 for topic in topics if any(
            topic_matches(f"{prefix}/{f}", f"{prefix}/{topic.topic}") for f in consumer.topics))

    inverters = {f"1161907454{n:02d}": DESIGN_DC_INPUTS for n in range(DESIGN_INVERTERS)}
    solix = [t for n in range(DESIGN_SOLIX_DEVICES) for t in solix_topics(f"S{n}", "Solarbank2")]
    return (matched(all_topics(inverters)) * 3600 // INTERVAL_SECONDS
            + matched(solix) * 3600 // SOLIX_INTERVAL_SECONDS)


def queue_limits(consumers: tuple[Consumer, ...], broker_instance_type: str) -> QueueLimits:
    """Limits for the broker; refuses (ValueError) an instance that cannot hold them."""
    hourly = [messages_per_hour(c) for c in consumers]
    hourly_bytes = sum(hourly) * BYTES_PER_QUEUED_MESSAGE
    memory_limit = int(prices.memory_mib(broker_instance_type) * 2**20 * MEMORY_SHARE)
    limits = QueueLimits(messages=math.ceil(max(hourly) * SESSION_EXPIRY_HOURS * MARGIN),
                         memory_limit_bytes=memory_limit,
                         outage_bytes=math.ceil(hourly_bytes * OUTAGE_HOURS * MARGIN),
                         expiry_bytes=math.ceil(hourly_bytes * SESSION_EXPIRY_HOURS))
    if limits.expiry_bytes > memory_limit:
        raise ValueError(
            f"a {broker_instance_type} broker cannot queue {SESSION_EXPIRY_HOURS} h of Telegraf "
            f"outage ({limits.expiry_bytes // 2**20} MiB needed, {memory_limit // 2**20} MiB "
            "allowed)")
    return limits
