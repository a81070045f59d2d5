"""Monthly cost estimate: the dated price table in `prices.json` applied to what the stack runs.

Two views of the same bill: `items_from_settings` (what the program exports as `monthlyCostUsd`)
and `items_from_resources` (what `make plan` reads off the recorded resources). Tests hold them
equal, so the exported figure is the plan's figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from components.config import Settings

PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
NODE_TAG = "solarmonitor:node"
BACKUP_TAG = "solarmonitor:backup"
ROOT_VOLUME_GB_WITH_DATA_VOLUME = 8


@dataclass(frozen=True)
class Billable:
    """One thing AWS bills every month: an instance, a public IPv4, GB of gp3 or of snapshots."""
    node: str
    kind: str  # "instance" | "publicIpv4" | "gp3" | "snapshot"
    detail: str  # instance type, or the volume's role
    quantity: float  # instances or addresses: 1; volumes: GB


def items_from_settings(settings: "Settings") -> list[Billable]:
    items = []
    for node, spec in settings.nodes.items():
        items.append(Billable(node, "instance", spec.instance_type, 1))
        if spec.public_ipv4:
            items.append(Billable(node, "publicIpv4", "address", 1))
        if node == "influx":
            items.append(Billable(node, "gp3", "root", ROOT_VOLUME_GB_WITH_DATA_VOLUME))
            items.append(Billable(node, "gp3", "data", spec.volume_gb))
            items.append(Billable(node, "snapshot", "data", spec.volume_gb))
        else:
            items.append(Billable(node, "gp3", "root", spec.volume_gb))
    return items


def items_from_resources(resources: Iterable[Mapping]) -> list[Billable]:
    """Billables from recorded resources: dicts with `type`, `id` and raw `inputs`."""
    resources = list(resources)
    with_eip = {r["inputs"].get("instance") for r in resources if r["type"] == "aws:ec2/eip:Eip"}
    items = []
    for resource in resources:
        inputs = resource["inputs"]
        node = (inputs.get("tags") or {}).get(NODE_TAG, "?")
        if resource["type"] == "aws:ec2/instance:Instance":
            items.append(Billable(node, "instance", inputs["instanceType"], 1))
            root = inputs.get("rootBlockDevice") or {}
            items.append(Billable(node, "gp3", "root", root.get("volumeSize", 8)))
            if inputs.get("associatePublicIpAddress") and resource["id"] not in with_eip:
                items.append(Billable(node, "publicIpv4", "address", 1))
        elif resource["type"] == "aws:ec2/eip:Eip":
            items.append(Billable(node, "publicIpv4", "address", 1))
        elif resource["type"] == "aws:ebs/volume:Volume":
            items.append(Billable(node, "gp3", "data", inputs["size"]))
            if (inputs.get("tags") or {}).get(BACKUP_TAG):
                items.append(Billable(node, "snapshot", "data", inputs["size"]))
    return items


FALLBACK_REGION = "us-east-1"


def monthly_cost(items: Iterable[Billable], region: str) -> dict:
    """{"total", "currency", "region", "pricedAs", "pricesAsOf", "items": [...]}, in cents.

    A region the table lacks is priced with us-east-1's prices (`pricedAs` says so); most
    regions cost the same or a little more."""
    priced_as = region if region in PRICES["instanceHourly"] else FALLBACK_REGION
    hours = PRICES["hoursPerMonth"]
    rows = []
    for item in sorted(items, key=lambda i: (i.node, i.kind, i.detail)):
        if item.kind == "instance":
            unit, price = "instance-month", PRICES["instanceHourly"][priced_as][item.detail] * hours
            label = f"{item.node}: EC2 {item.detail}"
        elif item.kind == "publicIpv4":
            unit, price = "address-month", PRICES["publicIpv4Hourly"][priced_as] * hours
            label = f"{item.node}: public IPv4 address"
        elif item.kind == "gp3":
            unit, price = "GB-month", PRICES["gp3GbMonth"][priced_as]
            label = f"{item.node}: gp3 {item.detail} volume"
        else:
            # Snapshots are incremental: the first holds the used blocks, later ones only changes,
            # so the volume's size is an upper bound for the whole retention window.
            unit, price = "GB-month", PRICES["snapshotGbMonth"][priced_as]
            label = f"{item.node}: EBS snapshots of the {item.detail} volume (upper bound)"
        rows.append({"item": label, "quantity": item.quantity, "unit": unit,
                     "unitPriceUsd": round(price, 4), "monthlyUsd": round(price * item.quantity, 2)})
    return {
        "total": round(sum(row["monthlyUsd"] for row in rows), 2),
        "currency": "USD",
        "region": region,
        "pricedAs": priced_as,
        "pricesAsOf": PRICES["asOf"],
        "items": rows,
    }
