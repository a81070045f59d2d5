"""Every Flux text the stack sends to InfluxDB passes Flux's own parser and type checker
(flux-lsp, see flux_compiler.py): the dashboard's panels and variables as Grafana sends them, the
alert rules, the InfluxDB tasks and their backfill, the backfill's oldest-point query, and
`make check`'s probe query. Rendered by the real program (batteries and alerts on, so every
optional query is there)."""

import json
import re

import pytest
import yaml

from components.grafana_node import ALERTING_FILE, DASHBOARD_FILE, DATASOURCE_FILE
from conftest import ROOT, service_files
from flux_compiler import GrafanaQueryContext, flux_errors
from flux_contract import alert_queries, dashboard_queries
from tools import check

@pytest.fixture(scope="module")
def files(full_run):
    return service_files(full_run)


def grafana_context(files) -> GrafanaQueryContext:
    """The dashboard's constants as they are, the inverter and battery variables as Grafana
    formats two chosen serials (`:regex` of a multi-value: `(a|b)`; a repeated row: one value)."""
    dashboard = json.loads(files["grafana"][DASHBOARD_FILE])
    variables = {v["name"]: v["query"] for v in dashboard["templating"]["list"]
                 if v["type"] == "constant"}
    variables.update(serial="(116180000001|116180000002)", solix_serial="APC1234567890AB")
    source = yaml.safe_load(files["grafana"][DATASOURCE_FILE])["datasources"][0]["jsonData"]
    return GrafanaQueryContext(variables, source["defaultBucket"], source["organization"])


def named(items: list[tuple[dict, str]], kind: str) -> dict[str, str]:
    """{"<kind> <title or name or uid> #<n>": query}: names for the compiler's report."""
    return {f"{kind} {item.get('title') or item.get('name') or item['uid']!r} #{n}": query
            for n, (item, query) in enumerate(items)}


def grafana_queries(files) -> dict[str, str]:
    dashboard = json.loads(files["grafana"][DASHBOARD_FILE])
    alerting = yaml.safe_load(files["grafana"][ALERTING_FILE])
    return {**named(dashboard_queries(dashboard), "dashboard"),
            **named(alert_queries(alerting), "alert")}


def task_files(files) -> dict[str, str]:
    """The tasks as written, and each backfill file as tasks.sh sends it (START/STOP replaced)."""
    tasks = {}
    for path, text in files["influx"].items():
        if path.endswith(".flux"):
            tasks[path] = (text.replace('"START"', '"2026-01-05T00:00:00Z"')
                           .replace('"STOP"', '"2026-01-12T00:00:00Z"'))
    return tasks


def oldest_point_query() -> str:
    """The query tasks.sh runs inline (`influx query --raw "…"`), its shell quoting undone."""
    script = (ROOT / "files/influx/tasks.sh").read_text()
    raw = re.search(r'--raw "(from\(.*?)"\)"', script, re.S).group(1)
    return raw.replace('\\"', '"').replace("$bucket_id", "0123456789abcdef")


def test_the_checker_reports_what_influxdb_would_refuse():
    """flux-lsp is not a rubber stamp: a misspelt function, a wrong argument and a type error are
    each named, a good query passes."""
    errors = flux_errors({
        "good": 'from(bucket: "b") |> range(start: -1h) |> aggregateWindow(every: 1m, fn: mean)',
        "unknown function": 'from(bucket: "b") |> range(start: -1h) |> aggregateWindow(every: 1m, fn: avg)',
        "wrong argument": 'from(bucket: "b") |> range(begin: -1h)',
        "type error": 'from(bucket: "b") |> range(start: -1h) |> map(fn: (r) => ({r with _value: r._value * 1000.0 + "W"}))',
    })
    assert errors["good"] == []
    assert any("undefined identifier avg" in e for e in errors["unknown function"])
    assert any("begin" in e for e in errors["wrong argument"])
    assert errors["type error"]


def test_grafana_interpolation_follows_grafanas_backend():
    context = GrafanaQueryContext({"bucket": "hoymiles"}, "hoymiles", "solar", interval_seconds=90)
    flux = context.interpolate('from(bucket: "${bucket}") |> range(start: v.timeRangeStart, '
                               'stop: v.timeRangeStop) |> aggregateWindow(every: v.windowPeriod, '
                               'fn: mean) // $__interval $__interval_ms v.organization')
    assert flux == ('from(bucket: "hoymiles") |> range(start: 2026-06-21T04:00:00Z, '
                    'stop: 2026-06-21T16:00:00Z) |> aggregateWindow(every: 1m30s, '
                    'fn: mean) // 1m 90000 "solar"')
    with pytest.raises(AssertionError, match="solix_serial"):
        context.interpolate('r.serial == "${solix_serial}"')


def test_every_dashboard_and_alert_query_compiles_as_grafana_sends_it(files):
    queries = grafana_queries(files)
    assert sum(name.startswith("dashboard") for name in queries) >= 30
    alerting = yaml.safe_load(files["grafana"][ALERTING_FILE])
    assert {rule["uid"] for rule, _ in alert_queries(alerting)} == {r.name for r in check.RULES}
    context = grafana_context(files)
    errors = flux_errors({name: context.interpolate(q) for name, q in queries.items()})
    assert {name: e for name, e in errors.items() if e} == {}


def test_every_influxdb_task_and_query_compiles(files):
    documents = {**task_files(files), "tasks.sh oldest point": oldest_point_query(),
                 "make check probe": check.probe_query("hoymiles", 1234567.0)}
    assert sum(name.endswith(".flux") for name in documents) == 4
    errors = flux_errors(documents)
    assert {name: e for name, e in errors.items() if e} == {}
