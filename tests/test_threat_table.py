"""The README's "Who can do what" table names every secret the stack holds: each secret output
and each setting the program requires to be a Pulumi secret has a row of its own (a secret left
out is a power nobody weighed)."""

import re

from components.config import CLOUD_PASSWORD
from conftest import ROOT


def table_rows() -> list[list[str]]:
    section = ROOT.joinpath("README.md").read_text().split("\n## Who can do what\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| secret |"), rows[0]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]


def named_secrets() -> set[str]:
    """The names in backticks in the table's first column (what the secret is)."""
    return {name.rstrip("*") for row in table_rows() for name in re.findall(r"`([^`]+)`", row[0])}


def test_every_secret_output_and_secret_setting_has_a_row(dev_run):
    assert dev_run.secret_outputs, "the run names its secret outputs"
    missing = sorted({*dev_run.secret_outputs, CLOUD_PASSWORD} - named_secrets())
    assert missing == [], f"the README's 'Who can do what' table has no row for {missing}"
