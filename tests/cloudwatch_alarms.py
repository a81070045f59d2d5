"""How a CloudWatch metric alarm changes state, for the tests: our own emulation of CloudWatch's
documented evaluation (moto stores alarms and metric data but evaluates nothing). It follows the
CloudWatch User Guide, "Using Amazon CloudWatch alarms" (AlarmThatSendsEmail.md, as archived in
awsdocs/amazon-cloudwatch-user-guide at cc40332):

- "Whenever an alarm evaluates whether to change state, CloudWatch attempts to retrieve a higher
  number of data points than the number specified as Evaluation Periods" (the evaluation range;
  its example: 5 for 3 evaluation periods; other sizes are not documented, this uses N + 2);
- with at least N real points in the range, the N most recent real ones decide, whatever the
  missing-data setting;
- with fewer, "CloudWatch fills in the missing data points with the result you specified ... all
  real data points in the evaluation range are included ... uses missing data points only as few
  times as possible";
- `missing`: "If all data points in the alarm evaluation range are missing, the alarm transitions
  to INSUFFICIENT_DATA"; with some real points, only they are evaluated (the tables: "0 - - - -"
  is OK), and "Avoiding premature transitions to alarm state" for breaching ones; `ignore`
  keeps the state where `missing` would go to INSUFFICIENT_DATA or alarm prematurely.
- A new alarm is INSUFFICIENT_DATA, is evaluated at once, and "Any actions associated with the
  new state are then executed" (cloudwatch PutMetricAlarm); actions run on a change of state.
- Warm-up (cloudwatch WarmUpConfiguration): the alarm stays INSUFFICIENT_DATA and performs no
  actions for the warm-up period, which ends early once data fills its evaluation window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARE = {"GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
           "GreaterThanThreshold": lambda v, t: v > t,
           "LessThanThreshold": lambda v, t: v < t,
           "LessThanOrEqualToThreshold": lambda v, t: v <= t}


def evaluate(points: list[bool | None], periods: int, to_alarm: int, treat: str,
             current: str) -> str:
    """The state from the evaluation range's points, oldest first: True breaching, False not,
    None missing."""
    real = [p for p in points if p is not None]
    if len(real) >= periods:
        return ALARM if sum(real[-periods:]) >= to_alarm else OK
    if treat in ("breaching", "notBreaching"):
        evaluated = real + [treat == "breaching"] * (periods - len(real))
        return ALARM if sum(evaluated) >= to_alarm else OK
    # "missing" and "ignore": only the real points count.
    if not real:
        return INSUFFICIENT if treat == "missing" else current
    if all(real):
        # "Avoiding premature transitions to alarm state": ALARM once the oldest breaching point
        # of the last N is at least M old and the more recent ones are breaching or missing.
        recent = points[-periods:]
        age = next((periods - i for i, p in enumerate(recent) if p), 0)
        if age >= to_alarm:
            return ALARM if treat == "missing" else current
        raise NotImplementedError("a lone recent breaching point: the documentation says only "
                                  "that the alarm does not go to ALARM yet")
    return ALARM if sum(real[-periods:]) >= to_alarm else OK


@dataclass
class Alarm:
    """An alarm as CloudWatch keeps it (DescribeAlarms' MetricAlarms[]), run over time."""
    spec: dict
    created: datetime
    state: str = INSUFFICIENT
    emails: list[tuple[datetime, str]] = field(default_factory=list)

    def actions(self, state: str) -> list[str]:
        return self.spec.get({OK: "OKActions", ALARM: "AlarmActions",
                              INSUFFICIENT: "InsufficientDataActions"}[state]) or []

    def step(self, now: datetime, values: list[float | None]) -> None:
        """Evaluate once at `now` on the range's statistic values, oldest first."""
        periods = self.spec["EvaluationPeriods"]
        warm_up = (self.spec.get("WarmUpConfiguration") or {}).get("WarmUpPeriodDurationInMinutes")
        window_full = all(v is not None for v in values[-periods:])
        if warm_up and now - self.created < timedelta(minutes=warm_up) and not window_full:
            return
        compare = COMPARE[self.spec["ComparisonOperator"]]
        points = [None if v is None else compare(v, self.spec["Threshold"]) for v in values]
        state = evaluate(points, periods, self.spec.get("DatapointsToAlarm") or periods,
                         self.spec.get("TreatMissingData", "missing"), self.state)
        if state != self.state:
            self.state = state
            self.emails += [(now, state) for _ in self.actions(state)]
