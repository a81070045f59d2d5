"""An independent recomputation of the monthly bill from the recorded resources and the price
table, written apart from components/bill.py so the two can disagree."""

from __future__ import annotations

import json

from conftest import ROOT

TABLE = json.loads((ROOT / "components" / "prices.json").read_text())


def expected_total(run, region: str) -> float:
    """USD a month for what `run` created, priced from prices.json alone."""
    priced = region if region in TABLE["instanceHourly"] else "us-east-1"
    hours = TABLE["hoursPerMonth"]
    gp3, snap = TABLE["gp3GbMonth"][priced], TABLE["snapshotGbMonth"][priced]
    address = TABLE["publicIpv4Hourly"][priced] * hours
    backed_up = [r.raw_inputs["policyDetails"]["targetTags"]
                 for r in run.find("aws:dlm/lifecyclePolicy:LifecyclePolicy")]
    amounts = []
    for r in run.resources:
        inputs = r.raw_inputs
        if r.type == "aws:ec2/instance:Instance":
            amounts.append(TABLE["instanceHourly"][priced][inputs["instanceType"]] * hours)
            amounts.append(gp3 * (inputs.get("rootBlockDevice") or {}).get("volumeSize", 8))
            if inputs.get("associatePublicIpAddress"):
                amounts.append(address)
        elif r.type == "aws:ec2/eip:Eip":
            amounts.append(address)
        elif r.type == "aws:ebs/volume:Volume":
            amounts.append(gp3 * inputs["size"])
            tags = inputs.get("tags") or {}
            if any(all(tags.get(k) == v for k, v in wanted.items()) for wanted in backed_up):
                amounts.append(snap * inputs["size"])
    return sum(round(a, 2) for a in amounts)
