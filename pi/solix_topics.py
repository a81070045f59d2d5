"""Where the Solix bridge publishes: one topic per value, below the stack's topic prefix.

    <prefix>/solix/<serial>/<model>/<field>         a number (Telegraf: measurement solix)
    <prefix>/solix/<serial>/<model>/text/<field>    a name or version (measurement solix_info)
    <prefix>/solix/bridge/status                    online / offline (retained, with a will)

Field names are SolixBLE's property names. No OpenDTU consumer matches these topics: OpenDTU's
numeric values are <prefix>/<serial>/<channel>/<field>, three levels after the prefix, and none
of its topics starts with `solix` (components/opendtu_data.py holds both layouts, and the
contract tests hold the bridge and Telegraf to them).
"""

from __future__ import annotations

from solix_source import Reading

SUBTREE = "solix"
STATUS = f"{SUBTREE}/bridge/status"


def payload(value: float | str) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def messages(prefix: str, reading: Reading) -> list[tuple[str, str]]:
    """(topic, payload) for every value of a reading."""
    base = f"{prefix}/{SUBTREE}/{reading.serial}/{reading.model}"
    return ([(f"{base}/{name}", payload(value)) for name, value in sorted(reading.numbers.items())]
            + [(f"{base}/text/{name}", value) for name, value in sorted(reading.texts.items())])
