"""The data volume's growth: from the data description's message rate, and the README's
figures kept true (tests/test_plan.py checks `make plan` shows it)."""

import pytest

from components.opendtu_data import INTERVAL_SECONDS, NUMBER, all_topics
from components.storage import BYTES_PER_NUMBER, BYTES_PER_STRING, growth, retention_days
from conftest import ROOT


@pytest.mark.parametrize("text, days", [("30d", 30), ("52w", 364), ("1w3d", 10), ("12h", 0.5),
                                        ("0", None)])
def test_retentions_read_as_days(text, days):
    assert retention_days(text) == days


def test_raw_data_follows_the_data_descriptions_message_rate():
    topics = all_topics({"1": 4})  # one inverter with 4 inputs, and its DTU
    numbers = sum(t.kind == NUMBER for t in topics)
    strings = len(topics) - numbers
    per_day = (numbers * BYTES_PER_NUMBER + strings * BYTES_PER_STRING) * 86400 / INTERVAL_SECONDS
    assert growth("10d").raw_mb == pytest.approx(per_day * 10 / 1e6)
    assert growth("10d").raw_forever_mb_per_year == pytest.approx(per_day * 365 / 1e6)
    # The history keeps one value per topic every 5 minutes (and two daily energy values).
    assert growth("10d").history_mb_per_year == pytest.approx(
        per_day * INTERVAL_SECONDS / 300 * 365 / 1e6 + 2 * 3 * 365 / 1e6)


def test_a_second_inverter_adds_its_own_topics_but_not_a_second_dtu():
    one, two = growth("30d"), growth("30d", inverters=2)
    dtu_only = 2 * one.raw_mb - two.raw_mb
    assert 0 < dtu_only < one.raw_mb / 2


def test_a_history_with_a_retention_stops_growing():
    bounded = growth("30d", "365d")
    assert bounded.after_years(10) == pytest.approx(bounded.after_years(1))
    assert bounded.years_to_fill(10) is None
    assert growth("30d").after_years(10) > growth("30d").after_years(1)
    assert growth("30d").years_to_fill(1) == pytest.approx(
        (1000 - growth("30d").raw_mb) / growth("30d").history_mb_per_year)


def test_readme_states_the_growth_the_code_computes():
    readme = (ROOT / "README.md").read_text()
    grown = growth("30d")
    assert f"about {grown.raw_mb:.0f} MB" in readme
    assert f"about {grown.history_mb_per_year:.0f} MB a year" in readme
    assert f"{grown.raw_forever_mb_per_year / 1000:.1f} GB a year" in readme
