"""The monthly bill, computed once from the resources the program creates.

`Bill.watch()` registers a stack transformation, so every resource the program creates passes
by `Bill.see` with its type and arguments; the billable ones (instances, public IPv4 addresses,
gp3 volumes, snapshots a lifecycle policy keeps, CloudWatch alarms) become lines. A new node or volume is priced
without touching this file. The `monthlyCostUsd` output is `Bill.monthly_cost()`, and `make plan`
shows that output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi

from components import prices
from components.host import NODE_TAG

DEFAULT_ROOT_GB = 8  # what EC2 gives an Ubuntu instance without a root_block_device size


@dataclass(frozen=True)
class Line:
    """One thing AWS bills every month: an instance, a public IPv4, GB of gp3 or of snapshots."""
    node: str
    kind: str  # "instance" | "publicIpv4" | "gp3" | "snapshot" | "alarm"
    detail: str  # instance type, the volume's role, or what the alarm watches
    quantity: float  # instances, addresses, alarms: 1; volumes: GB


def _get(value: Any, key: str, default: Any = None) -> Any:
    """A property of a resource argument given as an Args object or as a dict."""
    if value is None:
        return default
    if isinstance(value, Mapping):
        return value.get(key, default)
    found = getattr(value, key, None)
    return default if found is None else found


def _plain(value: Any, what: str) -> Any:
    if isinstance(value, pulumi.Output):
        raise TypeError(f"the bill needs {what} as a plain value, not an Output")
    return value


@dataclass
class Bill:
    """Collects the billable resources as the program creates them; see the module docstring."""
    _volumes: list[tuple[str, int, dict]] = field(default_factory=list)
    _backup_tags: list[dict] = field(default_factory=list)
    _lines: list[Line] = field(default_factory=list)

    def watch(self) -> None:
        """Start seeing every resource created from now on (call before creating any)."""
        pulumi.runtime.register_stack_transformation(self.see)

    def see(self, args: pulumi.ResourceTransformationArgs) -> None:
        """The stack transformation: records, never changes a resource."""
        self.add(args.type_, args.props)
        return None

    def add(self, type_: str, props: Mapping[str, Any]) -> None:
        tags = _plain(props.get("tags") or {}, "tags")
        node = tags.get(NODE_TAG, "stack")
        if type_ == "aws:ec2/instance:Instance":
            root = _get(props.get("root_block_device"), "volume_size", DEFAULT_ROOT_GB)
            self._lines.append(Line(node, "instance", _plain(props["instance_type"], "instance_type"), 1))
            self._lines.append(Line(node, "gp3", "root", _plain(root, "root volume size")))
            if _plain(props.get("associate_public_ip_address"), "associate_public_ip_address"):
                self._lines.append(Line(node, "publicIpv4", "address", 1))
        elif type_ == "aws:ec2/eip:Eip":
            self._lines.append(Line(node, "publicIpv4", "address", 1))
        elif type_ == "aws:ebs/volume:Volume":
            self._volumes.append((node, _plain(props["size"], "volume size"), tags))
        elif type_ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            self._lines.append(Line(node, "alarm", _plain(props["metric_name"], "metric name"), 1))
        elif type_ == "aws:dlm/lifecyclePolicy:LifecyclePolicy":
            self._backup_tags.append(_plain(_get(props.get("policy_details"), "target_tags", {}),
                                            "lifecycle policy target tags"))

    def lines(self) -> list[Line]:
        lines = list(self._lines)
        for node, size, tags in self._volumes:
            lines.append(Line(node, "gp3", "data", size))
            if any(wanted and wanted.items() <= tags.items() for wanted in self._backup_tags):
                lines.append(Line(node, "snapshot", "data", size))
        return lines

    def monthly_cost(self, region: str) -> dict:
        return monthly_cost(self.lines(), region)


def _price(line: Line, region: str) -> tuple[str, str, float]:
    """(label, unit, USD per unit and month) of a line."""
    if line.kind == "instance":
        return (f"{line.node}: EC2 {line.detail}", "instance-month",
                prices.instance_month(line.detail, region))
    if line.kind == "publicIpv4":
        return f"{line.node}: public IPv4 address", "address-month", prices.public_ipv4_month(region)
    if line.kind == "gp3":
        return f"{line.node}: gp3 {line.detail} volume", "GB-month", prices.gp3_gb_month(region)
    if line.kind == "alarm":
        return (f"{line.node}: CloudWatch alarm on {line.detail}", "alarm-month",
                prices.alarm_month(region))
    # Snapshots are incremental: the first holds the used blocks, later ones only changes, so the
    # volume's size is an upper bound for the whole retention window.
    return (f"{line.node}: EBS snapshots of the {line.detail} volume (upper bound)", "GB-month",
            prices.snapshot_gb_month(region))


def monthly_cost(lines: list[Line], region: str) -> dict:
    """{"total", "currency", "region", "pricedAs", "pricesAsOf", "items": [...]}, in cents."""
    rows = []
    for line in sorted(lines, key=lambda l: (l.node, l.kind, l.detail)):
        label, unit, price = _price(line, region)
        rows.append({"item": label, "kind": line.kind, "quantity": line.quantity, "unit": unit,
                     "unitPriceUsd": round(price, 4), "monthlyUsd": round(price * line.quantity, 2)})
    return {
        "total": round(sum(row["monthlyUsd"] for row in rows), 2),
        "currency": "USD",
        "region": region,
        "pricedAs": prices.priced_region(region),
        "pricesAsOf": prices.PRICES["asOf"],
        "items": rows,
    }


# The design this project started from, done by hand: every node with its own public IPv4 and
# an 8 GB gp3 root volume, no separate data volume, no backups.
ORIGINAL_DESIGN = {"mqtt": "t4g.nano", "telegraf": "t3a.nano", "influx": "t4g.micro",
                   "grafana": "t4g.micro"}


def original_design_cost(region: str) -> dict:
    """The original manual design, priced with the same table for the same region."""
    lines = []
    for node, instance_type in ORIGINAL_DESIGN.items():
        lines += [Line(node, "instance", instance_type, 1), Line(node, "publicIpv4", "address", 1),
                  Line(node, "gp3", "root", DEFAULT_ROOT_GB)]
    return monthly_cost(lines, region)
