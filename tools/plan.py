"""`make plan`: run the real program offline under the recording mock engine and write
OUT/plan.json, OUT/files/<node>/<host path> and a short summary on stdout.

Exit codes: 0 plan written; 2 the config is invalid, or a resource has an input AWS would refuse
(one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pulumi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.bill import ORIGINAL_DESIGN, original_design_cost  # noqa: E402
from components.config import (  # noqa: E402
    COMPACT, DEFAULT_COMPACT, LAYOUTS, REGION_TIMEZONES, ConfigError, Settings, read_settings)
from components.host import NODE_TAG  # noqa: E402
from components.opendtu_data import INTERVAL_SECONDS  # noqa: E402
from components.provisioning import parse_install_command  # noqa: E402
from components.storage import growth  # noqa: E402
from tools.aws_model_check import AwsModelError  # noqa: E402
from tools.mock_engine import ProgramRun, config_bag, run_program  # noqa: E402
from tools.stack_file import (  # noqa: E402
    DEFAULT_REGION, StackError, add_stack_arguments, ensure_config_file, load_config,
    placeholder_cidrs, stack_from)

PI_CONFIG = "/etc/solarmonitor/solarmonitor.ini"  # where pi/install.sh puts it
GRAFANA_REACH = {"ipv4": "over its public IPv4 (an Elastic IP)",
                 "ipv6": "over IPv6, no public IPv4", "private": "no public address"}
ENDPOINT_OUTPUTS = ("mqttHost", "mqttPort", "grafanaUrl", "influxUrl", "securityGroupId",
                    "ipGuardFunctionName")
# The bill's lines by kind (components/bill.py, Line.kind), as the side-by-side table shows them.
COST_KINDS = (("instance", "instances"), ("publicIpv4", "public IPv4 addresses"),
              ("gp3", "gp3 volumes"), ("snapshot", "EBS snapshots (upper bound)"),
              ("alarm", "CloudWatch alarms"))
LAYOUT_MEANS = {"separate": "one instance per service",
                COMPACT: "all four services on one instance"}



def rendered_files(run: ProgramRun) -> dict[str, dict[str, str]]:
    """{node: {absolute host path: content}} from every file-writing step, by the node whose
    instance the step is tied to (the instance id in its triggers)."""
    node_of_instance = {i.id: i.raw_inputs["tags"][NODE_TAG]
                        for i in run.find("aws:ec2/instance:Instance")}
    files: dict[str, dict[str, str]] = {}
    for record in run.find("command:remote:Command"):
        target = parse_install_command(record.raw_inputs.get("create", ""))
        if target:
            (node,) = {node_of_instance[t] for t in record.raw_inputs["triggers"]
                       if t in node_of_instance}
            files.setdefault(node, {})[target["path"]] = record.raw_inputs["stdin"]
    return files


def plan_document(run: ProgramRun) -> dict:
    by_urn = {r.urn: r for r in run.resources}
    return {
        "resources": [
            {"type": r.type, "name": r.name,
             "parent": by_urn[r.parent].name if r.parent in by_urn else None,
             "inputs": r.inputs}
            for r in run.resources
        ],
        "outputs": run.masked_outputs(),
        # The program prices what it creates (components/bill.py); the plan shows that figure.
        "monthlyCostUsd": run.outputs["monthlyCostUsd"],
    }


def write_plan(run: ProgramRun, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    document = plan_document(run)
    (out / "plan.json").write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    shutil.rmtree(out / "files", ignore_errors=True)
    # The Raspberry Pi at home is a host too: its one file is the piAgentConfig output.
    pi_files = {"pi": {PI_CONFIG: run.outputs["piAgentConfig"]}} if "piAgentConfig" in run.outputs else {}
    for node, files in {**rendered_files(run), **pi_files}.items():
        for host_path, content in files.items():
            target = out / "files" / node / host_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(0o600)
    return document


def layout_config(config: dict, layout: str, data_volume_gb: int) -> dict:
    """The stack's config in `layout` with that layout's default nodes, keeping the data volume's
    size (it moves between the layouts as it is) and every other setting."""
    other = {k: v for k, v in config.items()
             if k not in ("solarmonitor:layout", "solarmonitor:nodes")}
    node = COMPACT if layout == COMPACT else "influx"
    return {**other, "solarmonitor:layout": layout,
            "solarmonitor:nodes": {node: {"volumeGb": data_volume_gb}}}


def by_kind(cost: dict) -> dict[str, float]:
    """USD a month per kind of line of a bill (monthlyCostUsd)."""
    return {kind: round(sum(row["monthlyUsd"] for row in cost["items"] if row["kind"] == kind), 2)
            for kind, _ in COST_KINDS}


def side_by_side(costs: dict[str, dict | None], chosen: str) -> list[str]:
    """The bills of both layouts and of the original design, column by column."""
    original = original_design_cost(costs[chosen]["region"])
    columns = {**costs, "original": original}
    parts = {name: by_kind(cost) for name, cost in columns.items() if cost}
    lines = [f"Side by side, same region and prices (this configuration: the {chosen} layout):",
             f"  {'':<34}" + "".join(f"{name:>12}" for name in columns)]
    for kind, label in COST_KINDS:
        lines.append(f"  {label:<34}" + "".join(
            f"{parts[name][kind]:>12.2f}" if name in parts else f"{'?':>12}" for name in columns))
    lines.append(f"  {'total':<34}" + "".join(
        f"{cost['total']:>12.2f}" if cost else f"{'?':>12}" for cost in columns.values()) + " USD")
    other = next(layout for layout in costs if layout != chosen)
    default = (f"on the default {DEFAULT_COMPACT.instance_type}" if other == COMPACT
               else "on the default instances")
    lines += [f"  {chosen}: {LAYOUT_MEANS[chosen]}, as configured",
              f"  {other}: {LAYOUT_MEANS[other]}, {default}, with the same data volume and "
              "settings" if costs[other] else
              f"  {other}: this configuration does not plan in that layout",
              "  original: the manual design this project started from: "
              + ", ".join(f"{n} {t}" for n, t in ORIGINAL_DESIGN.items()) + ";",
              "    a public IPv4 each; 4 x 8 GB gp3; no backups"]
    return lines


def data_growth_lines(settings: Settings) -> list[str]:
    """The influx node's data volume over the years (components/storage.py)."""
    volume_gb = settings.data_volume_gb
    grown = growth(settings.raw_retention, settings.influx_retention)
    history = ("forever" if settings.influx_retention == "0" else settings.influx_retention)
    fills = grown.years_to_fill(volume_gb)
    return [
        f"InfluxDB's data volume ({volume_gb} GB), per inverter with 4 DC inputs "
        f"(upper bound: every topic every {INTERVAL_SECONDS} s, day and night):",
        f"  {'raw values, kept ' + settings.raw_retention:<58} {grown.raw_mb:>7.0f} MB",
        f"  {'5-minute history and daily energy, kept ' + history:<58} "
        f"{grown.history_mb_per_year:>7.0f} MB a year",
        f"  {'after 1 / 5 / 10 years':<58} "
        + " / ".join(f"{grown.after_years(y):.0f}" for y in (1, 5, 10)) + " MB",
        f"  {'(every raw value kept instead)':<58} {grown.raw_forever_mb_per_year:>7.0f} MB a year",
        "  " + (f"full after about {fills:.0f} years: grow nodes.{settings.node_of('influx')}.volumeGb "
                "before then"
                if fills is not None else "never full: the history's retention bounds it")
        + "; its gp3 and snapshot lines above are priced at its full size, so they stay as they are."]


def summary(run: ProgramRun, document: dict, out: Path, settings: Settings,
            timezone_set: bool = False, other_cost: dict | None = None) -> str:
    per_node = Counter(run.node_of(r) for r in run.resources if r.custom)
    lines = [f"solarmonitor plan: {sum(per_node.values())} resources -> {out}/plan.json", ""]
    width = max(map(len, per_node), default=10)
    lines += [f"  {node:<{width}} {count:>3} resources" for node, count in sorted(per_node.items())]
    endpoints = [(k, run.outputs[k]) for k in ENDPOINT_OUTPUTS if k in run.outputs]
    if endpoints:
        lines += ["", "Endpoints (placeholders until deployed):"]
        lines += [f"  {key:<20} {value}" for key, value in endpoints]
    cost = document["monthlyCostUsd"]
    priced = "" if cost["pricedAs"] == cost["region"] else f" (priced as {cost['pricedAs']})"
    lines += ["", f"Monthly cost estimate, {cost['region']}{priced}, "
                  f"prices as of {cost['pricesAsOf']}:"]
    lines += [f"  {row['item']:<58} {row['monthlyUsd']:>7.2f} USD" for row in cost["items"]]
    lines += [f"  {'total':<58} {cost['total']:>7.2f} USD"]
    costs = {layout: cost if layout == settings.layout else other_cost for layout in LAYOUTS}
    lines += ["", *side_by_side(costs, settings.layout)]
    lines += ["", *data_growth_lines(settings)]
    way, why = settings.grafana_reach
    lines += ["", f"Grafana: {GRAFANA_REACH[way]}, because {why}."]
    lines += [f"Time zone: {settings.timezone}, {timezone_source(settings, timezone_set)}: the "
              "dashboard's \"today\", months and years, and the daily energy."]
    return "\n".join(lines)


def timezone_source(settings: Settings, configured: bool) -> str:
    """Where the time zone came from: the setting, or the region's default."""
    if configured:
        return "from solarmonitor:timezone"
    if settings.region in REGION_TIMEZONES:
        return f"{settings.region}'s default (solarmonitor:timezone sets yours)"
    return f"as {settings.region} has no default here (solarmonitor:timezone sets yours)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_stack_arguments(parser)
    parser.add_argument("--out", default="build/plan", type=Path)
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options, any_file=True)
        ensure_config_file(stack)
        config = load_config(stack.config_file)
        if "aws:region" not in config:
            print(f"note: aws:region is not set in {stack.shown}; planning for "
                  f"{DEFAULT_REGION}", file=sys.stderr)
            config = {**config, "aws:region": DEFAULT_REGION}
        run = run_program(config, stack=stack.name)
    except (StackError, ConfigError, pulumi.RunError, AwsModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for cidr in placeholder_cidrs(config):
        print(f"warning: solarmonitor:homeCidrs in {stack.shown} is still the example's "
              f"placeholder {cidr}: put your home's public address there before make deploy "
              "(IPv4: curl -4 https://checkip.amazonaws.com)", file=sys.stderr)
    document = write_plan(run, options.out)
    settings = read_settings(json.loads(config_bag(config)), config["aws:region"])
    # The other layout's bill: the program once more, so one price logic prices both.
    other = next(layout for layout in LAYOUTS if layout != settings.layout)
    try:
        other_cost = run_program(layout_config(config, other, settings.data_volume_gb),
                                 stack=stack.name).outputs["monthlyCostUsd"]
    except (ConfigError, pulumi.RunError, AwsModelError, ValueError):
        other_cost = None
    print(summary(run, document, options.out, settings,
                  timezone_set=bool(config.get("solarmonitor:timezone")), other_cost=other_cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
