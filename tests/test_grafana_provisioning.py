"""Grafana's provisioning files against the keys Grafana reads. Grafana decodes them with
gopkg.in/yaml.v3's plain Unmarshal (alerting/config_reader.go parseConfig), which ignores a key
it does not know: a misspelt `noDataState` or `topic_arn` would silently become a default. The keys are the yaml/json tags of Grafana's own types
(grafana/grafana pkg/services/provisioning/...):
  - alerting: alerting/types.go AlertingFileV1; alerting/rules_types.go AlertRuleGroupV1,
    AlertRuleV1, QueryV1, RuleDeleteV1; alerting/contact_point_types.go ContactPointV1,
    ReceiverV1, DeleteContactPointV1; notification_policy_types.go decodes a policy into
    definitions.Route (Alertmanager's route keys);
  - the SNS contact point's settings: grafana/alerting receivers/sns/v1/config.go Config and
    SigV4Config;
  - datasources: datasources/types.go DataSourceFromConfigV1 (with `uid`, `prune` and
    `correlations` of newer versions, as Grafana's provisioning docs show them);
  - dashboards: dashboards/types.go configs.
The values Grafana checks only when it loads the rule: noDataState and execErrState
(ngalert/models NoDataStateFromString, ErrStateFromString), the reducer (pkg/expr/mathexp
GetReduceFunc) and the threshold (pkg/expr/threshold.go: exactly one condition, a supported
type, enough params); a bad one makes Grafana refuse the whole file at start.
Grafana also puts provisioned values through os.ExpandEnv (provisioning/values/values.go
interpolateValue; `$$` is a literal `$`), except where it reads the raw text (a rule's query
model and annotations, `.Raw` in rules_types.go): a `$` anywhere else would be replaced by an
environment variable, usually by nothing."""

import pytest
import yaml

from components.grafana_node import ALERTING_FILE, DASHBOARD_PROVIDER_FILE, DATASOURCE_FILE
from conftest import service_files


ROUTE = {"receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "routes",
         "matchers", "object_matchers", "continue", "mute_time_intervals",
         "active_time_intervals", "orgId"}
QUERY = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
RULE = {"uid", "title", "condition", "data", "dasboardUid", "dashboardUid", "panelId",
        "noDataState", "execErrState", "for", "keepFiringFor", "missing_series_evals_to_resolve",
        "annotations", "labels", "isPaused", "notification_settings", "record"}
SNS_SETTINGS = {"api_url", "sigv4", "topic_arn", "phone_number", "target_arn", "subject",
                "message", "attributes"}
# Where a file's keys are checked: path of keys ("*" for each item of a list) -> allowed keys.
SCHEMAS = {
    ALERTING_FILE: {
        (): {"apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints",
             "policies", "resetPolicies", "muteTimes", "deleteMuteTimes", "templates",
             "deleteTemplates"},
        ("groups", "*"): {"orgId", "name", "folder", "interval", "rules"},
        ("groups", "*", "rules", "*"): RULE,
        ("groups", "*", "rules", "*", "data", "*"): QUERY,
        ("groups", "*", "rules", "*", "data", "*", "relativeTimeRange"): {"from", "to"},
        ("deleteRules", "*"): {"orgId", "uid"},
        ("contactPoints", "*"): {"orgId", "name", "receivers"},
        ("contactPoints", "*", "receivers", "*"): {"uid", "type", "settings",
                                                   "disableResolveMessage"},
        ("contactPoints", "*", "receivers", "*", "settings"): SNS_SETTINGS,
        ("contactPoints", "*", "receivers", "*", "settings", "sigv4"): {
            "region", "access_key", "secret_key", "profile", "role_arn"},
        ("deleteContactPoints", "*"): {"orgId", "uid"},
        ("policies", "*"): ROUTE,
    },
    DATASOURCE_FILE: {
        (): {"apiVersion", "datasources", "deleteDatasources", "prune"},
        ("datasources", "*"): {"orgId", "version", "uid", "name", "type", "access", "url",
                               "password", "user", "database", "basicAuth", "basicAuthUser",
                               "basicAuthPassword", "withCredentials", "isDefault", "jsonData",
                               "secureJsonData", "editable", "correlations"},
    },
    DASHBOARD_PROVIDER_FILE: {
        (): {"apiVersion", "providers"},
        ("providers", "*"): {"name", "type", "orgId", "folder", "folderUid", "editable",
                             "options", "disableDeletion", "updateIntervalSeconds",
                             "allowUiUpdates"},
    },
}
RAW = {("groups", "*", "rules", "*", "data", "*", "model"),
       ("groups", "*", "rules", "*", "annotations")}


NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
ERROR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
REDUCERS = {"sum", "mean", "min", "max", "count", "last", "median"}
THRESHOLD_PARAMS = {"gt": 1, "lt": 1, "eq": 1, "ne": 1, "gte": 1, "lte": 1, "within_range": 2,
                    "outside_range": 2, "within_range_included": 2, "outside_range_included": 2}


def walk(value, path=()):
    """(path, mapping) for every mapping, and (path, text) for every string, in a YAML value."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, (*path, "*"))
    elif isinstance(value, str):
        yield path, value


def unknown_keys(path_in_node: str, document: dict) -> list[str]:
    schema = SCHEMAS[path_in_node]
    return [f"{'.'.join(path)}.{key}".lstrip(".") for path, node in walk(document)
            if isinstance(node, dict) and path in schema for key in node if key not in schema[path]]


def interpolated_dollars(document: dict) -> list[str]:
    return [".".join(path) for path, node in walk(document) if isinstance(node, str)
            and "$" in node and not any(path[:len(raw)] == raw for raw in RAW)]


@pytest.fixture(scope="module", params=["alerts on", "alerts off"])
def files(request, full_run, dev_run):
    return service_files(full_run if request.param == "alerts on" else dev_run)["grafana"]


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_every_key_is_one_grafana_reads(files, path):
    document = yaml.safe_load(files[path])
    assert document["apiVersion"] == 1
    assert unknown_keys(path, document) == []


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_no_value_grafana_expands_holds_a_dollar(files, path):
    assert interpolated_dollars(yaml.safe_load(files[path])) == []


def rule_value_problems(document: dict) -> list[str]:
    problems = []
    for group in document.get("groups", []):
        for rule in group["rules"]:
            uid = rule["uid"]
            if rule.get("noDataState", "NoData") not in NO_DATA_STATES:
                problems.append(f"{uid}: noDataState {rule['noDataState']}")
            if rule.get("execErrState", "Error") not in ERROR_STATES:
                problems.append(f"{uid}: execErrState {rule['execErrState']}")
            for step in rule["data"]:
                model = step["model"]
                if model.get("type") == "reduce" and model.get("reducer") not in REDUCERS:
                    problems.append(f"{uid}: reducer {model.get('reducer')}")
                if model.get("type") == "threshold":
                    conditions = model.get("conditions", [])
                    evaluator = conditions[0]["evaluator"] if len(conditions) == 1 else {}
                    needed = THRESHOLD_PARAMS.get(evaluator.get("type"))
                    if needed is None or len(evaluator.get("params", [])) < needed:
                        problems.append(f"{uid}: threshold {conditions}")
    return problems


def test_every_rule_value_is_one_grafana_accepts(files):
    document = yaml.safe_load(files[ALERTING_FILE])
    assert rule_value_problems(document) == []


def test_a_bad_state_reducer_or_threshold_is_found():
    rule = {"uid": "r", "noDataState": "Ok", "execErrState": "Error", "data": [
        {"model": {"type": "reduce", "reducer": "avg"}},
        {"model": {"type": "threshold", "conditions": [{"evaluator": {"type": "above",
                                                                      "params": [1]}}]}}]}
    assert rule_value_problems({"groups": [{"rules": [rule]}]}) == [
        "r: noDataState Ok", "r: reducer avg",
        "r: threshold [{'evaluator': {'type': 'above', 'params': [1]}}]"]


def test_a_misspelt_key_and_an_expanded_dollar_are_found():
    document = {"apiVersion": 1, "groups": [{"name": "g", "rules": [{
        "uid": "r", "title": "Costs $5", "noDataStat": "OK",
        "annotations": {"summary": "{{ $values.B }}"},
        "data": [{"refId": "A", "model": {"query": "x =~ /^a$/"}}]}]}],
        "contactPoints": [{"receivers": [{"settings": {"topicArn": "arn:x", "sigv4": {
            "regoin": "eu-central-1"}}}]}]}
    assert unknown_keys(ALERTING_FILE, document) == [
        "groups.*.rules.*.noDataStat", "contactPoints.*.receivers.*.settings.topicArn",
        "contactPoints.*.receivers.*.settings.sigv4.regoin"]
    assert interpolated_dollars(document) == ["groups.*.rules.*.title"]
