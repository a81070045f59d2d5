"""When the CloudWatch alarms email, worked through with data. The alarms go into moto's CloudWatch
exactly as the provider sends them (tools/aws_model_check.api_requests), the scenario's metric
data goes into it as EC2 and Lambda would publish it, and moto hands back each period's
statistic; what CloudWatch then does with them (moto evaluates nothing) is its documented
evaluation, tests/cloudwatch_alarms.py, checked first against the documentation's own tables."""

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from cloudwatch_alarms import ALARM, INSUFFICIENT, OK, Alarm, evaluate
from components.alerts import IP_GUARD_SILENT_HOURS
from conftest import node_of
from tools.aws_model_check import api_requests

START = datetime(2026, 6, 1, tzinfo=timezone.utc)  # the deploy
RANGE_EXTRA = 2  # the evaluation range is N + 2 periods (the documented example: 5 for 3)

# "How alarm state is evaluated when data is missing", both tables (evaluation periods 3, range 5;
# 0 not breaching, X breaching, - missing): state under missing, ignore, breaching, notBreaching.
RETAIN = "retain"
TABLES = [
    (3, "0 - X - X", OK, OK, OK, OK), (3, "0 - - - -", OK, OK, OK, OK),
    (3, "- - - - -", INSUFFICIENT, RETAIN, ALARM, OK), (3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, "- - X - -", ALARM, RETAIN, ALARM, OK),
    (2, "0 - X - X", ALARM, ALARM, ALARM, ALARM), (2, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", OK, OK, ALARM, OK), (2, "- - - - 0", OK, OK, ALARM, OK),
    (2, "- - - X -", ALARM, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize("to_alarm, row, missing, ignore, breaching, not_breaching", TABLES)
def test_the_emulation_gives_the_documented_states(to_alarm, row, missing, ignore, breaching,
                                                   not_breaching):
    points = [{"0": False, "X": True, "-": None}[c] for c in row.split()]
    for treat, state in zip(("missing", "ignore", "breaching", "notBreaching"),
                            (missing, ignore, breaching, not_breaching)):
        expected = "before" if state == RETAIN else state
        assert evaluate(points, 3, to_alarm, treat, "before") == expected, (row, treat)


@pytest.fixture
def cloudwatch():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-central-1")


def alarm_of(record, cloudwatch) -> dict:
    """The PutMetricAlarm request for a recorded alarm, put into moto; moto keeps what it knows."""
    ((operation, body),) = api_requests(record.name, record.type, record.raw_inputs)
    assert operation == "cloudwatch:PutMetricAlarm"
    cloudwatch.put_metric_alarm(**body)
    (kept,) = cloudwatch.describe_alarms(AlarmNames=[body["AlarmName"]])["MetricAlarms"]
    for key in ("TreatMissingData", "AlarmActions", "OKActions", "InsufficientDataActions",
                "EvaluationPeriods", "Period", "Statistic", "Dimensions"):
        assert kept[key] == body.get(key, []), key
    return body


def publish(cloudwatch, spec: dict, points: dict[datetime, float]) -> None:
    """Metric data as the service publishes it, for the alarm's metric."""
    data = [{"MetricName": spec["MetricName"], "Dimensions": spec["Dimensions"],
             "Timestamp": when, "Value": value} for when, value in sorted(points.items())]
    for first in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace=spec["Namespace"], MetricData=data[first:first + 500])


def run_alarm(cloudwatch, spec: dict, until: timedelta, created: datetime = START) -> Alarm:
    """Evaluate the alarm once a period from its creation on, on moto's statistics."""
    alarm, period = Alarm(spec, created), timedelta(seconds=spec["Period"])
    size = spec["EvaluationPeriods"] + RANGE_EXTRA
    now = created
    while now <= START + until:
        start = now - size * period
        result = cloudwatch.get_metric_data(StartTime=start, EndTime=now, MetricDataQueries=[{
            "Id": "m", "MetricStat": {"Metric": {"Namespace": spec["Namespace"],
                                                 "MetricName": spec["MetricName"],
                                                 "Dimensions": spec["Dimensions"]},
                                      "Period": spec["Period"], "Stat": spec["Statistic"]}}])
        (series,) = result["MetricDataResults"]
        by_period = {int((t - start) / period): v for t, v in zip(series["Timestamps"],
                                                                 series["Values"])}
        alarm.step(now, [by_period.get(i) for i in range(size)])
        now += period
    return alarm


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# --- the Pi's calls ------------------------------------------------------------------------------

def ip_guard_alarm(alerting_run, cloudwatch) -> dict:
    return alarm_of(alerting_run.one("aws:cloudwatch/metricAlarm:MetricAlarm",
                                     "alerts-ipguard-silent"), cloudwatch)


def test_it_watches_the_function_the_pi_calls_not_the_seeder(full_run):
    alarm = full_run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "alerts-ipguard-silent")
    function = full_run.one("aws:lambda/function:Function", "ipguard-function")
    seed = full_run.one("aws:lambda/invocation:Invocation", "ipguard-seed")
    assert alarm.raw_inputs["dimensions"] == {"FunctionName": function.outputs["name"]}
    assert seed.raw_inputs["functionName"] != function.outputs["name"]


def test_a_fresh_deploy_is_quiet_until_the_pis_first_call(full_run, cloudwatch):
    spec = ip_guard_alarm(full_run, cloudwatch)
    # The deploy invokes the seeder, a function of its own; the Pi is not set up for a week.
    publish(cloudwatch, {**spec, "Dimensions": [{"Name": "FunctionName",
                                                 "Value": "ipguard-seeder-1234567"}]},
            {START + timedelta(minutes=3): 1})
    alarm = run_alarm(cloudwatch, spec, until=hours(7 * 24))
    assert alarm.emails == [] and alarm.state == INSUFFICIENT


def test_a_pi_that_stops_calling_is_reported_two_days_later_once(full_run, cloudwatch):
    spec = ip_guard_alarm(full_run, cloudwatch)
    # The Pi comes a day after the deploy and calls every five minutes (its reassertion,
    # pi/ip_agent.py) for three days, then goes silent.
    calls = [START + hours(26) + timedelta(minutes=5 * n) for n in range(3 * 24 * 12)]
    publish(cloudwatch, spec, {when: 1 for when in calls})
    alarm = run_alarm(cloudwatch, spec, until=hours(10 * 24))
    ((when, state),) = alarm.emails
    assert state == INSUFFICIENT
    silent = when - calls[-1]
    assert hours(IP_GUARD_SILENT_HOURS) <= silent <= hours(IP_GUARD_SILENT_HOURS + RANGE_EXTRA + 1)


# --- the nodes ------------------------------------------------------------------------------------

def status_alarm(full_run, cloudwatch, service="influx") -> dict:
    """The status alarm of the instance `service` runs on."""
    return alarm_of(full_run.one("aws:cloudwatch/metricAlarm:MetricAlarm",
                                 f"alerts-{node_of(full_run, service)}-status"), cloudwatch)


def status_data(spec, first: timedelta, last: timedelta, value: float = 0) -> dict:
    """A running instance's StatusCheckFailed, once a minute."""
    minutes = int((last - first).total_seconds() // 60)
    return {START + first + timedelta(minutes=m): value for m in range(minutes + 1)}


def test_a_fresh_node_is_quiet_while_its_first_status_data_comes(full_run, cloudwatch):
    spec = status_alarm(full_run, cloudwatch)
    # The alarm exists seconds after the instance; its first status data comes minutes later.
    publish(cloudwatch, spec, status_data(spec, timedelta(minutes=4), hours(3)))
    alarm = run_alarm(cloudwatch, spec, until=hours(3))
    assert alarm.emails == [] and alarm.state == OK
    # Without the warm-up the new alarm would read those first minutes as a node down.
    no_warm_up = {k: v for k, v in spec.items() if k != "WarmUpConfiguration"}
    assert run_alarm(cloudwatch, no_warm_up, until=hours(3)).emails[:1] == [(START, ALARM)]


def test_a_stopped_node_alarms_within_half_an_hour(full_run, cloudwatch):
    spec = status_alarm(full_run, cloudwatch)
    stopped = hours(5)
    publish(cloudwatch, spec, status_data(spec, timedelta(minutes=4), stopped))
    alarm = run_alarm(cloudwatch, spec, until=hours(8))
    ((when, state),) = alarm.emails
    assert state == ALARM and timedelta(0) < when - (START + stopped) <= timedelta(minutes=30)
    # What the alarm did before: missing data as not breaching never alarms on a stopped node.
    before = {**spec, "TreatMissingData": "notBreaching"}
    assert run_alarm(cloudwatch, before, until=hours(8)).emails == []


def test_failing_status_checks_alarm_after_ten_minutes(full_run, cloudwatch):
    spec = status_alarm(full_run, cloudwatch)
    publish(cloudwatch, spec, {**status_data(spec, timedelta(minutes=4), hours(6)),
                               **status_data(spec, hours(2), hours(6), value=1)})
    alarm = run_alarm(cloudwatch, spec, until=hours(6))
    ((when, state),) = alarm.emails
    assert state == ALARM and timedelta(minutes=10) <= when - (START + hours(2)) <= hours(0.5)


def test_a_replaced_node_gets_a_new_alarm_and_its_warm_up(full_run):
    for node in full_run.outputs["sshNodes"]:
        alarm = full_run.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"alerts-{node}-status")
        assert alarm.replace_on_changes == ["dimensions"], node
