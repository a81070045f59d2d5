"""The dashboard against Grafana's own schema (see grafana_schema.py): every panel's keys,
options, field config, thresholds, colours and value mappings, the variables and the dashboard's
own keys, as Grafana 13's generated types define them."""

import copy
import json

import pytest

from components.grafana_node import DASHBOARD_FILE
from grafana_schema import schema_errors
from conftest import service_files

@pytest.fixture(scope="module")
def dashboard(full_run):
    """As the program writes it, with the battery row (a Solix device configured)."""
    return json.loads(service_files(full_run)["grafana"][DASHBOARD_FILE])


def test_the_dashboard_fits_grafanas_schema(dashboard, tmp_path):
    assert {p["type"] for p in dashboard["panels"]} >= {"row", "timeseries", "stat"}
    assert schema_errors(dashboard, tmp_path) == []


def first(dashboard: dict, where) -> dict:
    return next(p for p in dashboard["panels"] if where(p))


def test_the_schema_finds_what_grafana_would_silently_ignore(dashboard, tmp_path):
    """A misspelt option, a colour mode Grafana does not have, a mapping type it does not know,
    a threshold mode, a misspelt panel key: each is an error naming it."""
    broken = copy.deepcopy(dashboard)
    first(broken, lambda p: p["type"] == "stat")["options"]["colourMode"] = "value"
    first(broken, lambda p: p["type"] == "timeseries")["fieldConfig"]["defaults"]["color"] = {
        "mode": "fixd", "fixedColor": "green"}
    mapped = first(broken, lambda p: p.get("fieldConfig", {}).get("defaults", {}).get("mappings"))
    mapped["fieldConfig"]["defaults"]["mappings"][0]["type"] = "values"
    first(broken, lambda p: p["type"] == "gauge")["fieldConfig"]["defaults"]["thresholds"][
        "mode"] = "absolut"
    row = first(broken, lambda p: p["type"] == "row")
    row["colapsed"] = row.pop("collapsed", False)
    errors = "\n".join(schema_errors(broken, tmp_path))
    for wrong in ('"colourMode"', '"fixd"', '"values"', '"absolut"', '"colapsed"'):
        assert wrong in errors, wrong
