"""Prices: the one source of what AWS charges a month for what the stack runs, and so of the
instance types the stack accepts (those it can price). Figures live in `prices.json`, dated.

A region the table lacks is priced as us-east-1; most regions cost the same or a little more.
"""

from __future__ import annotations

import json
from pathlib import Path

PRICES = json.loads(Path(__file__).with_name("prices.json").read_text())
FALLBACK_REGION = "us-east-1"
HOURS_PER_MONTH = PRICES["hoursPerMonth"]
INSTANCE_TYPES = tuple(sorted(PRICES["instanceHourly"][FALLBACK_REGION]))


def priced_region(region: str) -> str:
    """The region whose prices apply: `region` itself, or us-east-1 when the table lacks it."""
    return region if region in PRICES["instanceHourly"] else FALLBACK_REGION


def instance_month(instance_type: str, region: str) -> float:
    """USD for one instance running all month."""
    return PRICES["instanceHourly"][priced_region(region)][instance_type] * HOURS_PER_MONTH


def public_ipv4_month(region: str) -> float:
    """USD for one public IPv4 address held all month (charged since February 2024)."""
    return PRICES["publicIpv4Hourly"][priced_region(region)] * HOURS_PER_MONTH


def gp3_gb_month(region: str) -> float:
    return PRICES["gp3GbMonth"][priced_region(region)]


def snapshot_gb_month(region: str) -> float:
    return PRICES["snapshotGbMonth"][priced_region(region)]


def alarm_month(region: str) -> float:
    """USD for one standard-resolution CloudWatch metric alarm, all month."""
    return PRICES["alarmMonth"][priced_region(region)]


def memory_mib(instance_type: str) -> int:
    """The instance type's memory."""
    return PRICES["instanceMemoryMiB"][instance_type]
