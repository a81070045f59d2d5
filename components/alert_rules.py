"""Grafana's alert rules, contact point and notification policy, as one provisioning file.

Each rule is a Flux query (files/grafana/alerts/<name>.flux) giving one number per inverter or
device (or one in all), reduced to its last value and compared with a threshold. Notifications go
to the stack's SNS topic through Grafana's Amazon SNS contact point, signed with the node's
instance profile (no keys: sigv4 without access keys uses the default credential chain,
grafana/alerting receivers/sns/v1/sns.go createSNSClient; the region must be given, the SDK does
not take it from the instance).

With alerts off the same file deletes what an earlier deploy provisioned, so turning
`alertEmail` off leaves no rule behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.templates import render

DAYLIGHT = (11, 14)  # hours, the owner's time zone; see files/grafana/alerts/daylight.flux
CONTACT_POINT = "solarmonitor-sns"
FOLDER = "solarmonitor"


@dataclass(frozen=True)
class Rule:
    name: str          # uid, and files/grafana/alerts/<name>.flux
    title: str
    above: float | None  # fires when the value is above this (or below `below`)
    below: float | None
    wait: str          # Grafana's `for`: how long the condition holds before it fires
    panel: str         # the dashboard panel the notification links to
    summary: str
    description: str
    batteries: bool = False  # only with Solix batteries read (Bluetooth or Anker cloud)
    lookback_seconds: int = 3600  # the query's range, for Grafana's relativeTimeRange


RULES = (
    Rule("dtu-silent", "OpenDTU sends no data", above=15, below=None, wait="1m", panel="DTU",
         lookback_seconds=7 * 86400,
         summary="No data from OpenDTU for {{ humanize $values.B.Value }} minutes.",
         description="OpenDTU sends its uptime every 5 s while it is connected to the broker. "
                     "Is it powered and on Wi-Fi? Its web page shows the MQTT state; "
                     "make check tests the broker."),
    Rule("inverter-stale", "Inverter not heard from in daylight", above=30, below=None,
         wait="5m", panel="Age of the last statistics", lookback_seconds=86400,
         summary="Inverter {{ $labels.serial }}: no statistics for "
                 "{{ humanize $values.B.Value }} minutes in daylight.",
         description="OpenDTU has not received this inverter's values for 30 minutes between "
                     f"{DAYLIGHT[0]}:00 and {DAYLIGHT[1]}:00. Check its AC breaker and the "
                     "radio (OpenDTU's live view)."),
    Rule("no-production", "Inverter produces nothing in daylight", above=0, below=None,
         wait="30m", panel="AC power per inverter and total",
         summary="Inverter {{ $labels.serial }} reports 0 W in daylight.",
         description="The inverter reports values but no power for at least an hour between "
                     f"{DAYLIGHT[0]}:00 and {DAYLIGHT[1]}:00. Check the panels, their "
                     "connectors and the inverter's power limit."),
    Rule("battery-low", "Battery low", above=None, below=None, wait="15m",
         panel="Battery state of charge", batteries=True,
         summary="Battery {{ $labels.serial }} at {{ humanize $values.B.Value }} %.",
         description="The Solix battery's state of charge is below the batteryAlertPercent "
                     "setting."),
    Rule("bridge-offline", "Battery bridge offline", above=0, below=None, wait="10m",
         panel="Battery state of charge", batteries=True, lookback_seconds=7 * 86400,
         summary="The Pi's Solix bridge is offline.",
         description="The broker published the bridge's will: the Pi or its "
                     "solarmonitor-solix-bridge service stopped. On the Pi: systemctl status "
                     "solarmonitor-solix-bridge."),
)


def rules_for(batteries: bool, battery_percent: int) -> list[Rule]:
    """The rules that apply: battery rules only with Solix batteries; the charge threshold set."""
    chosen = []
    for rule in RULES:
        if rule.batteries and not batteries:
            continue
        if rule.name == "battery-low":
            rule = Rule(**{**rule.__dict__, "below": battery_percent})
        chosen.append(rule)
    return chosen


def query(rule: Rule, bucket: str, timezone: str, history_bucket: str | None = None) -> str:
    return render(f"grafana/alerts/{rule.name}.flux", bucket=bucket, timezone=timezone,
                  history_bucket=history_bucket or f"{bucket}_history",
                  daylight_from=DAYLIGHT[0], daylight_to=DAYLIGHT[1])


def alerting_file(*, topic_arn: str | None, region: str, bucket: str, history_bucket: str,
                  timezone: str, datasource_uid: str, dashboard_uid: str, panel_ids: dict[str, int],
                  batteries: bool, battery_percent: int) -> str:
    """files/grafana/alerting.yaml rendered: the rules and where they notify, or, without a
    topic (alerts off), the deletion of everything an earlier deploy provisioned."""
    rules = []
    for rule in rules_for(batteries, battery_percent):
        evaluator = ({"type": "gt", "params": [rule.above]} if rule.above is not None
                     else {"type": "lt", "params": [rule.below]})
        rules.append({"rule": rule, "query": query(rule, bucket, timezone, history_bucket),
                      "evaluator": json.dumps(evaluator), "panel_id": panel_ids[rule.panel]})
    return render("grafana/alerting.yaml", enabled=topic_arn is not None, topic_arn=topic_arn,
                  region=region, rules=rules, all_rules=[r.name for r in RULES],
                  contact_point=CONTACT_POINT, folder=FOLDER, datasource_uid=datasource_uid,
                  dashboard_uid=dashboard_uid)
