"""Energy from OpenDTU's yieldtotal, computed in Python the way files/flux/robust-energy.flux
computes it in InfluxDB: the same pipeline of Flux functions (each mirrored by its documented
semantics), and the filter's own predicate, taken from the Flux file and evaluated here. No Flux
runs on this machine; this is our emulation, checked against a day of realistic samples with the
glitches OpenDTU is known for (#1258: yieldtotal 0 at a dusk restart; #1022, #2103: spikes)."""

import math
import re

import pytest

import flux_mirror as fx
from components.opendtu_data import INTERVAL_SECONDS, MAX_INVERTER_WATTS
from components.templates import render
from flux_contract import code

FLUX = render("flux/robust-energy.flux", max_watts=MAX_INVERTER_WATTS)


def pipeline(flux: str) -> list[str]:
    return re.findall(r"\|> (\w+)\(", "\n".join(line.split("//")[0] for line in flux.splitlines()))


def predicate(flux: str, which: int = -1):
    """A filter's `fn` body (by default the last filter's) as a Python function of one row."""
    bodies = re.findall(r"filter\(fn: \(r\) => (.*?)\)\s*(?=\|>|$)", code(flux), re.S)
    body = bodies[which]
    python = re.sub(r"exists r\.(\w+)", r'(r["\1"] is not None)', " ".join(body.split()))
    python = re.sub(r"float\(v: ([^)]*)\)", r"float(\1)", python)
    python = re.sub(r"\br\.(\w+)", r'r["\1"]', python)
    return eval(f"lambda r: {python}")  # noqa: S307 - our own repository's file


def robust_steps(samples: list[tuple[float, float]]) -> list[dict]:
    """robustSteps() on one series of (unix seconds, kWh)."""
    assert pipeline(FLUX) == ["filter", "sort", "duplicate", "difference", "elapsed", "filter"]
    assert 'duplicate(column: "_value", as: "counter")' in FLUX
    assert "difference(keepFirst: true)" in FLUX and "elapsed(unit: 1s)" in FLUX
    real = predicate(FLUX, 0)
    rows = [{"_time": t, "_value": v} for t, v in sorted(samples)                # sort(_time)
            if real({"_value": v})]                                               # no 0s
    rows = [{**r, "counter": r["_value"]} for r in rows]                          # duplicate
    rows = [{**r, "_value": None if i == 0 else r["_value"] - rows[i - 1]["_value"]}
            for i, r in enumerate(rows)]                                          # difference(keepFirst)
    rows = [{**r, "elapsed": int(r["_time"] - rows[i]["_time"])}                  # elapsed drops the
            for i, r in enumerate(rows[1:])]                                      # first row (docs)
    keep = predicate(FLUX)
    return [r for r in rows if keep(r)]                                           # filter


def energy_wh(samples) -> float:
    """What the daily task and "Yield today" show: the steps summed, in Wh."""
    return sum(r["_value"] for r in robust_steps(samples)) * 1000.0


def total_kwh(samples) -> float:
    """"Total yield": the largest plausible counter."""
    return max(r["counter"] for r in robust_steps(samples))


def sunny_day(start_kwh: float, peak_watts: float = 800.0, day: int = 0):
    """A day of OpenDTU samples every INTERVAL_SECONDS from 06:00 to 20:30: power on a sine
    curve, yieldtotal growing with it in whole Wh (OpenDTU publishes three decimals)."""
    samples, energy = [], start_kwh * 1000.0
    begin, end = day * 86400 + 6 * 3600, day * 86400 + 20 * 3600 + 1800
    for t in range(begin, end, INTERVAL_SECONDS):
        watts = peak_watts * math.sin(math.pi * (t - begin) / (end - begin))
        energy += watts * INTERVAL_SECONDS / 3600.0
        samples.append((float(t), math.floor(energy) / 1000.0))
    return samples


def test_the_python_mirror_reads_the_flux_it_mirrors():
    row = {"_value": 0.001, "counter": 10.0, "elapsed": 5}
    assert predicate(FLUX)(row)
    assert not predicate(FLUX)({**row, "_value": None})
    assert not predicate(FLUX)({**row, "_value": -0.001})
    assert not predicate(FLUX)({**row, "_value": MAX_INVERTER_WATTS * 5 / 3.6e6 + 0.002})
    assert not predicate(FLUX, 0)({"_value": 0.0})  # the dusk 0 is left out before any step
    # tests/flux_mirror.py's robustSteps runs the same functions in the same order.
    mirrored = fx.robust_steps(fx.Stream([({}, [])], None), MAX_INVERTER_WATTS).ops
    assert mirrored == pipeline(FLUX)


def test_a_clean_day_gives_the_counters_growth():
    day = sunny_day(1234.567)
    assert energy_wh(day) == pytest.approx((day[-1][1] - day[0][1]) * 1000.0, abs=0.01)
    assert 4500 < energy_wh(day) < 8000  # 800 W peak over 14.5 h of sine: about 7.4 kWh


def test_a_day_with_a_dusk_zero_and_a_spike_gives_the_right_kwh():
    day = sunny_day(1234.567)
    truth_wh = (day[-1][1] - day[0][1]) * 1000.0
    noon = len(day) // 2
    day[noon] = (day[noon][0], 99999.999)                      # one absurd spike (#1022, #2103)
    last = day[-1][0]
    day += [(last + INTERVAL_SECONDS * i, 0.0) for i in (1, 2, 3)]  # restart at dusk (#1258)
    assert energy_wh(day) == pytest.approx(truth_wh, abs=3.0)   # the spike's own step is lost
    assert total_kwh(day) == day[-4][1]
    # What the first version showed: spread() of yieldtotal, ruined by either glitch.
    values = [v for _, v in day]
    assert abs((max(values) - min(values)) * 1000.0 - truth_wh) > 1e6


def test_a_young_inverter_climbing_back_from_the_dusk_zero_is_no_energy():
    # Its total (3 kWh) is less than a night could make at the bound: only the rule that a step
    # from 0 does not count keeps the morning's climb back out of the next day.
    first = sunny_day(3.0, day=0)
    second = sunny_day(first[-1][1], day=1)
    dusk = [(first[-1][0] + INTERVAL_SECONDS, 0.0)]
    both = first + dusk + second
    truth = (first[-1][1] - first[0][1] + second[-1][1] - second[0][1]) * 1000.0
    assert energy_wh(both) == pytest.approx(truth, abs=1.0)


def test_a_gap_in_the_data_keeps_the_energy_made_meanwhile():
    # Wi-Fi lost for an hour at noon: the counter kept counting; the step after the gap is
    # plausible for an hour and counts.
    day = sunny_day(500.0)
    gap = [s for s in day if not 12 * 3600 <= s[0] < 13 * 3600]
    assert energy_wh(gap) == pytest.approx(energy_wh(day), abs=0.01)
