"""Alerts: the SNS topic and its email, the CloudWatch alarms and their price, Grafana's instance
profile and its alerting file, read off the program under the mock engine; every rule's query
against the data description."""

import json
import re

import pytest
import yaml

from components.alert_rules import CONTACT_POINT, DAYLIGHT, RULES
from components.config import ConfigError, parse_settings
from components.grafana_node import ALERTING_FILE, DASHBOARD_FILE, DATASOURCE_UID
from flux_contract import alert_queries, check_no_spread_or_last_on_counters, check_query, code
from conftest import host_instance, service_files



@pytest.fixture(scope="module")
def alerting_run(full_run):
    """Alerts on for owner@example.org, a battery, a threshold of 15 %."""
    return full_run


def alerting_file(run) -> dict:
    return yaml.safe_load(service_files(run)["grafana"][ALERTING_FILE])


@pytest.mark.parametrize("value", ["owner", "owner@", "@example.org", "a b@example.org",
                                   "owner@example", "x@-example.org", 42, ["a@example.org"]])
def test_a_bad_alert_email_is_refused_naming_the_setting(value):
    with pytest.raises(ConfigError, match="alertEmail"):
        parse_settings({"homeCidrs": ["1.2.3.4/32"], "alertEmail": value}, "eu-central-1")


@pytest.mark.parametrize("value", [0, 100, "low", True])
def test_a_bad_battery_threshold_is_refused_naming_the_setting(value):
    with pytest.raises(ConfigError, match="batteryAlertPercent"):
        parse_settings({"homeCidrs": ["1.2.3.4/32"], "batteryAlertPercent": value}, "eu-central-1")


def test_without_an_email_there_is_no_topic_no_alarm_and_the_rules_are_removed(dev_run):
    for kind in ("aws:sns/topic:Topic", "aws:cloudwatch/metricAlarm:MetricAlarm",
                 "aws:iam/instanceProfile:InstanceProfile"):
        assert dev_run.find(kind) == [], kind
    assert "alertTopicArn" not in dev_run.outputs
    removal = alerting_file(dev_run)
    assert {r["uid"] for r in removal["deleteRules"]} == {rule.name for rule in RULES}
    assert removal["deleteContactPoints"] == [{"orgId": 1, "uid": CONTACT_POINT}]
    assert "groups" not in removal and "contactPoints" not in removal


def test_the_topic_emails_the_owner(alerting_run):
    (topic,) = alerting_run.find("aws:sns/topic:Topic")
    (subscription,) = alerting_run.find("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email"
    assert subscription.inputs["endpoint"] == "owner@example.org"
    assert subscription.inputs["topic"] == alerting_run.outputs["alertTopicArn"] == topic.id


def test_grafana_may_publish_to_that_one_topic_and_do_nothing_else(alerting_run):
    topic = alerting_run.outputs["alertTopicArn"]
    (profile,) = alerting_run.find("aws:iam/instanceProfile:InstanceProfile")
    grafana = host_instance(alerting_run, "grafana")
    assert grafana.inputs["iamInstanceProfile"] == profile.outputs["name"]
    for instance in alerting_run.find("aws:ec2/instance:Instance"):  # the others have none
        assert instance is grafana or "iamInstanceProfile" not in instance.inputs, instance.name
    role = alerting_run.one("aws:iam/role:Role", "alerts-grafana-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]
    policy = alerting_run.one("aws:iam/rolePolicy:RolePolicy", "alerts-grafana-publish")
    assert json.loads(policy.inputs["policy"])["Statement"] == [{
        "Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]
    assert profile.inputs["role"] == role.outputs["name"]


def test_cloudwatch_watches_every_node_and_the_pis_calls_from_outside_grafana(alerting_run):
    topic = alerting_run.outputs["alertTopicArn"]
    alarms = {a.name: a.inputs for a in alerting_run.find("aws:cloudwatch/metricAlarm:MetricAlarm")}
    instances = {i.name.split("-")[0]: i.id for i in alerting_run.find("aws:ec2/instance:Instance")}
    assert set(instances) == set(alerting_run.outputs["sshNodes"])
    for node in instances:  # one alarm per instance: four, or the compact layout's one
        alarm = alarms[f"alerts-{node}-status"]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/EC2", "StatusCheckFailed")
        assert alarm["dimensions"] == {"InstanceId": instances[node]}
        assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["threshold"] == 1
    silent = alarms["alerts-ipguard-silent"]
    assert (silent["namespace"], silent["metricName"], silent["statistic"]) == (
        "AWS/Lambda", "Invocations", "Sum")
    assert silent["dimensions"] == {"FunctionName": alerting_run.outputs["ipGuardFunctionName"]}
    assert silent["period"] * silent["evaluationPeriods"] == 2 * 86400
    assert silent["comparisonOperator"] == "LessThanThreshold" and silent["threshold"] == 1
    # No call, no datapoint: silence is INSUFFICIENT_DATA, emailed (test_cloudwatch_alarms.py).
    assert silent["treatMissingData"] == "missing" and silent["insufficientDataActions"] == [topic]
    assert len(alarms) == len(instances) + 1
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [topic] and alarm["alarmDescription"]


def test_the_alarms_are_priced(alerting_run, dev_run):
    items = alerting_run.outputs["monthlyCostUsd"]["items"]
    alarms = [i for i in items if "CloudWatch alarm" in i["item"]]
    count = len(alerting_run.find("aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert len(alarms) == count and all(i["monthlyUsd"] == 0.10 for i in alarms)
    assert alerting_run.outputs["monthlyCostUsd"]["total"] == pytest.approx(
        dev_run.outputs["monthlyCostUsd"]["total"] + 0.10 * count)


def test_the_contact_point_is_amazon_sns_through_the_instance_profile(alerting_run):
    document = alerting_file(alerting_run)
    (point,) = document["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["type"] == "sns"
    assert receiver["settings"] == {"topic_arn": alerting_run.outputs["alertTopicArn"],
                                    "sigv4": {"region": "eu-central-1"}}  # no keys
    (policy,) = document["policies"]
    assert policy["receiver"] == point["name"] == receiver["uid"] == CONTACT_POINT


def test_every_rule_is_a_query_reduced_and_compared_linked_to_its_panel(alerting_run):
    document = alerting_file(alerting_run)
    dashboard = json.loads(service_files(alerting_run)["grafana"][DASHBOARD_FILE])
    panels = {p["id"]: p["title"] for p in dashboard["panels"]}
    (group,) = document["groups"]
    rules = {r["uid"]: r for r in group["rules"]}
    assert set(rules) == {rule.name for rule in RULES}
    for rule in RULES:
        provisioned = rules[rule.name]
        steps = {d["refId"]: d for d in provisioned["data"]}
        assert provisioned["condition"] == "C" and set(steps) == {"A", "B", "C"}
        assert steps["A"]["datasourceUid"] == DATASOURCE_UID
        assert steps["B"]["model"]["type"] == "reduce" and steps["B"]["model"]["expression"] == "A"
        assert steps["C"]["model"]["type"] == "threshold" and steps["C"]["model"]["expression"] == "B"
        assert provisioned["dashboardUid"] == dashboard["uid"]
        assert panels[provisioned["panelId"]] == rule.panel
        assert provisioned["annotations"]["summary"] and provisioned["annotations"]["description"]
        assert steps["A"]["relativeTimeRange"]["from"] >= range_seconds(steps["A"]["model"]["query"])
    (low,) = rules["battery-low"]["data"][2]["model"]["conditions"]
    assert low["evaluator"] == {"type": "lt", "params": [15]}


def range_seconds(query: str) -> int:
    """How far back the query reads relative to now (0: its range is its own, all time with
    `range(start: 0)` or from the end of the latest daylight, whatever the rule's relative time
    range)."""
    found = re.search(r"range\(start: -(\d+)([hd])\)", query)
    if found is None:
        assert re.search(r"range\(start: (0|date\.sub\(d: 1h, from: reference\))\)", query)
        return 0
    amount, unit = found.groups()
    return int(amount) * {"h": 3600, "d": 86400}[unit]


def test_battery_rules_only_with_batteries(run):
    document = alerting_file(run(alertEmail="owner@example.org"))
    assert {r["uid"] for r in document["groups"][0]["rules"]} == {
        rule.name for rule in RULES if not rule.batteries}


def test_every_rule_reads_only_what_the_data_description_defines(alerting_run):
    for rule, query in alert_queries(alerting_file(alerting_run)):
        check_query(rule["uid"], query, {'"hoymiles"', '"hoymiles_history"'}, '"hoymiles_history"')
        check_no_spread_or_last_on_counters(rule["uid"], query)


def test_daylight_is_the_owners(alerting_run):
    for _, query in alert_queries(alerting_file(alerting_run)):
        body = code(query)
        if "daylight" in body:
            assert 'option location = timezone.location(name: "Europe/Berlin")' in body
            assert f"hour >= {DAYLIGHT[0]} and hour < {DAYLIGHT[1]}" in body
