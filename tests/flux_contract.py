"""Reading Flux against the data description (components/opendtu_data.py): which measurements,
fields, tags and buckets a query uses, and where the queries are in a dashboard and an alerting
file. Shared by the dashboard's, the alert rules' and the Flux compiler's tests. These checks
read the text."""

import re

from components.opendtu_data import DERIVED, fields_of, measurements, tags_of

COLUMNS = {"_measurement", "_field", "_value", "_time", "_start", "_stop", "name"}
# Counters that only grow (kWh): energy comes from their robust steps, never spread() or last().
CUMULATIVE = {"yieldtotal", "yieldday", "pv_yield", "charged_energy", "output_energy",
              "consumed_energy", "grid_import_energy", "grid_export_energy"}


def dashboard_queries(dashboard: dict) -> list[tuple[dict, str]]:
    """(panel or variable, Flux) for every panel target and query variable of a dashboard."""
    return ([(panel, target["query"]) for panel in dashboard["panels"]
             for target in panel.get("targets", [])]
            + [(variable, variable["query"]) for variable in dashboard["templating"]["list"]
               if variable["type"] == "query"])


def alert_queries(alerting: dict) -> list[tuple[dict, str]]:
    """(rule, Flux) for every rule's datasource query of an alerting file (not its expressions)."""
    return [(rule, data["model"]["query"]) for group in alerting.get("groups", [])
            for rule in group["rules"] for data in rule["data"]
            if data["datasourceUid"] != "__expr__"]


def code(query: str) -> str:
    """The query without its // comments."""
    return "\n".join(line.split("//")[0] for line in query.splitlines())


def created_columns(query: str) -> set[str]:
    """Columns a query makes itself (duplicate/rename/map/elapsed/pivot), allowed in its filters."""
    body = code(query)
    made = set(re.findall(r'\bas: "(\w+)"', body)) | set(re.findall(r'columnName: "(\w+)"', body))
    made |= set(re.findall(r"with (\w+):", body))
    if "elapsed(" in body:
        made.add("elapsed")
    return made


def filter_bodies(query: str) -> list[str]:
    """The predicates of every filter(), and of every `fn` that selects by measurement (what a
    query hands a reading function such as robustStepsIn)."""
    body = code(query) + "\n"
    return (re.findall(r"filter\(fn: \(r\) => (.*?)\)\n", body, re.S)
            + re.findall(r"[^(]fn: \(r\) => (r\._measurement.*?)\)\n", body, re.S))


def reads(query: str) -> list[tuple[str, set[str]]]:
    """(bucket as written, measurements its read selects) for every from() of a query."""
    chunks = re.split(r"\bfrom\(bucket: ", code(query))[1:]
    return [(chunk.split(")")[0], set(re.findall(r'r\._measurement == "([^"]+)"', chunk)))
            for chunk in chunks]


def check_query(name: str, query: str, buckets: set[str], history_bucket: str) -> None:
    """Asserts that `query` reads only described measurements, fields and tags from `buckets`
    (as written in the query, quotes included), and derived measurements only from the history."""
    derived_only = set(DERIVED)
    used = set(re.findall(r'r\._measurement == "([^"]+)"', code(query)))
    assert used, (name, "reads no measurement")
    assert used <= measurements() | derived_only, (name, used)
    allowed_fields = set().union(*(fields_of(m) for m in used))
    allowed_tags = set().union(*(tags_of(m) for m in used))
    for body in filter_bodies(query):
        for field in re.findall(r'r\._field == "([^"]+)"', body):
            assert field in allowed_fields, (name, field)
        for column in re.findall(r"r\.(\w+)", body):
            assert column in COLUMNS | allowed_tags | created_columns(query), (name, column)
    # Every bucket named, directly or through a function's `bucket` parameter, is the stack's.
    parameters = {"bucket"} if re.search(r"= \([^)]*\bbucket\b[^)]*\) =>", code(query)) else set()
    for bucket in re.findall(r"\bbucket: ([^,)\s]+)", code(query)):
        assert bucket in buckets | parameters, (name, bucket)
    for bucket, selected in reads(query):  # made by the stack's tasks: only in the history
        if selected & derived_only:
            assert bucket == history_bucket, (name, bucket, selected)
    for tag in re.findall(r'tag: "(\w+)"', query):
        assert tag in tags_of("mqtt_consumer")


def check_no_spread_or_last_on_counters(name: str, query: str) -> None:
    fields = set(re.findall(r'r\._field == "(\w+)"', code(query)))
    if fields & CUMULATIVE:
        # robustStepsIn's one last() reads the sample before a range, for the step into it.
        allowed_last = code(query).count("robustStepsIn = ")
        assert "spread(" not in code(query), name
        assert code(query).count("last(") == allowed_last, name
        assert "robustSteps()" in query or "max(" in code(query), name
