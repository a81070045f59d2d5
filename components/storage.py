"""How much the influx node's data volume holds over the years, per inverter: from the data
description's message rate (components/opendtu_data.py) and InfluxDB's storage per value.

- Numbers: about 3 bytes per stored value, InfluxDB's own figure ("Non-string values require
  approximately three bytes", docs.influxdata.com/influxdb/v1/guides/hardware_sizing/, "How much
  storage do I need?"; the 2.x storage engine is the same TSM). Not measured here: no InfluxDB.
- Strings: the guide gives no figure ("variable space as determined by string compression");
  we assume 16 bytes, generous for OpenDTU's repeated names and versions.
An upper bound: every topic every publish interval all day, although inverters are silent at night.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.opendtu_data import (DERIVED, INTERVAL_SECONDS, NUMBER, dtu_topics,
                                     inverter_topics)

BYTES_PER_NUMBER = 3
BYTES_PER_STRING = 16
HISTORY_SECONDS = 300  # the downsampling task's window (files/influx/tasks/downsample.flux)
DAY = 86400
MB = 1_000_000
_UNIT_SECONDS = {"w": 7 * DAY, "d": DAY, "h": 3600, "m": 60, "s": 1}


def retention_days(retention: str) -> float | None:
    """Days of an InfluxDB duration as the config keeps it ("30d", "52w", "1w3d"); None: forever."""
    if retention == "0":
        return None
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)(w|d|h|m|s)", retention)) / DAY


def bytes_per_round(topics) -> int:
    """Stored bytes for one message on each topic."""
    return sum(BYTES_PER_NUMBER if t.kind == NUMBER else BYTES_PER_STRING for t in topics)


@dataclass(frozen=True)
class Growth:
    raw_mb: float             # the raw bucket, full to its retention (it stays that size)
    history_mb_per_year: float
    history_years: float | None  # the history's retention; None: kept forever
    raw_forever_mb_per_year: float  # what keeping every raw value would cost instead

    def after_years(self, years: float) -> float:
        kept = years if self.history_years is None else min(years, self.history_years)
        return self.raw_mb + self.history_mb_per_year * kept

    def years_to_fill(self, volume_gb: int) -> float | None:
        """Years until the data fills a volume of `volume_gb` GB; None: it never does."""
        years = (volume_gb * 1000 - self.raw_mb) / self.history_mb_per_year
        return None if self.history_years is not None and years > self.history_years else years


def growth(raw_retention: str, history_retention: str = "0", inverters: int = 1,
           dc_inputs: int = 4) -> Growth:
    """Data of `inverters` inverters (and their one DTU) with `dc_inputs` inputs each."""
    per_round = (bytes_per_round(dtu_topics())
                 + inverters * bytes_per_round(inverter_topics("x", dc_inputs)))
    raw_per_day = per_round * DAY / INTERVAL_SECONDS
    daily_energy = inverters * len(DERIVED["energy_daily"]["fields"]) * BYTES_PER_NUMBER
    history_per_day = per_round * DAY / HISTORY_SECONDS + daily_energy
    history_days = retention_days(history_retention)
    return Growth(raw_per_day * retention_days(raw_retention) / MB, history_per_day * 365 / MB,
                  None if history_days is None else history_days / 365,
                  raw_per_day * 365 / MB)
