"""Grafana: the dashboard against the data description, provisioning files, the component."""

import json
import re

import pytest
import yaml

from components.grafana_node import DATASOURCE_UID, dashboard
from components.opendtu_data import MAX_INVERTER_WATTS, tags_of
from components.templates import render
from conftest import host_eip, host_instance, service_files, waits_for
from flux_contract import (
    check_no_spread_or_last_on_counters, check_query, code, dashboard_queries,
)
from tools.mock_engine import SECRET

DASHBOARD = json.loads(dashboard("hoymiles", "hoymiles_history", "30d", "Europe/Berlin", 0.32, "EUR"))
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
BUCKETS = {'"${bucket}"', '"${history_bucket}"', "source"}


def queries():
    return dashboard_queries(DASHBOARD)


def test_dashboard_loads_with_unique_panel_ids_and_no_import_placeholders():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) and ids
    text = json.dumps(DASHBOARD)
    assert "__inputs" not in DASHBOARD and "${DS_" not in text and "{{" not in text


def test_the_queries_read_are_every_target_and_every_query_variable():
    targets = sum(len(panel.get("targets", [])) for panel in PANELS)
    variables = [item["name"] for item, _ in queries() if "targets" not in item]
    assert len(queries()) == targets + len(variables) and variables == ["serial", "solix_serial"]


def test_every_panel_and_variable_uses_the_provisioned_datasource():
    for item, _ in queries():
        assert item["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
    for panel in PANELS:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID


def test_queries_use_only_described_measurements_tags_fields_and_buckets():
    for item, query in queries():
        if item.get("type") == "query" and "r._measurement" not in query:
            # A variable listing a tag's values.
            assert set(re.findall(r'tag: "(\w+)"', query)) <= tags_of("mqtt_consumer") | tags_of(
                "solix"), item["name"]
            continue
        check_query(item.get("title") or item.get("name"), query, BUCKETS, '"${history_bucket}"')


def test_every_panel_filters_by_the_chosen_inverters_where_it_shows_inverters():
    for panel, query in queries():
        if ('"mqtt_consumer"' in query or '"energy_daily"' in query) and "title" in panel:
            assert "${serial:regex}" in query, panel["title"]


def test_every_panel_has_explicit_thresholds_or_a_fixed_colour():
    for panel in PANELS:
        defaults = panel["fieldConfig"]["defaults"]
        fixed = defaults.get("color", {}).get("mode") == "fixed"
        steps = defaults.get("thresholds", {}).get("steps")
        assert fixed or steps, panel["title"]
        if steps and not fixed:  # Grafana's default paints anything over 80 red
            assert steps != [{"color": "green", "value": None}, {"color": "red", "value": 80}]


def test_no_spread_or_last_on_a_cumulative_counter():
    for panel, query in queries():
        check_no_spread_or_last_on_counters(panel.get("title") or panel.get("name"), query)


def test_every_day_month_and_year_is_the_owners():
    for panel, query in queries():
        body = code(query)
        if re.search(r"every: 1(d|mo|y)\b|today\(\)|date\.truncate", body):
            assert 'option location = timezone.location(name: "${timezone}")' in body, panel["title"]
    assert DASHBOARD["timezone"] == "Europe/Berlin"
    timezone = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "timezone")
    assert timezone["query"] == "Europe/Berlin"


def test_energy_is_computed_the_same_robust_way_everywhere():
    snippet = render("flux/robust-energy.flux", max_watts=MAX_INVERTER_WATTS).strip()
    for panel, query in queries():
        if "robustSteps()" in query:
            assert snippet in query, panel["title"]
    for field_query in (q for p, q in queries() if '"yieldtotal"' in q):
        assert "robustSteps()" in field_query


def test_required_views_exist():
    titles = " / ".join(panel["title"] for panel in PANELS).lower()
    for words in ("ac power", "dc power per input", "yield today", "total yield", "status", "dtu",
                  "energy per day", "energy per month", "energy per year", "per dc input",
                  "peak power today", "temperature", "efficiency", "ac voltage and frequency",
                  "dc voltage and current", "producing and reachable", "power limit",
                  "radio statistics", "age of the last statistics", "value today",
                  "value this month", "value this year"):
        assert words in titles, words
    names = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert names == {"bucket", "history_bucket", "raw_retention", "timezone", "price", "currency",
                     "serial", "solix_serial"}
    serial = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "serial")
    assert serial["multi"] and serial["includeAll"]


def test_status_values_read_as_words():
    status = next(p for p in PANELS if p["title"] == "Producing and reachable")
    mapping = status["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert mapping["0"]["text"] == "No" and mapping["1"]["text"] == "Yes"
    dtu = next(p for p in PANELS if p["title"] == "DTU")
    mapping = dtu["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert mapping["online"]["text"] == "Online" and mapping["offline"]["text"] == "Offline"


def test_nights_are_gaps_and_now_is_0_w_without_data():
    for panel in PANELS:
        if panel["type"] == "timeseries" and panel["fieldConfig"]["defaults"].get("custom", {}).get(
                "drawStyle") != "bars":
            assert panel["fieldConfig"]["defaults"]["custom"]["spanNulls"] is False, panel["title"]
            assert "createEmpty: true" in panel["targets"][0]["query"], panel["title"]
    now = next(p for p in PANELS if p["title"] == "AC power now (all inverters)")
    assert now["fieldConfig"]["defaults"]["noValue"] == "0"


def test_the_total_is_summed_per_moment_not_windowed_twice():
    query = code(next(p for p in PANELS if p["title"] == "AC power per inverter and total")[
        "targets"][0]["query"])
    assert query.count("aggregateWindow(") == 1 and 'group(columns: ["_time"])' in query


def test_dc_inputs_without_a_name_are_kept():
    query = code(next(p for p in PANELS if p["title"] == "DC power per input")["targets"][0]["query"])
    assert "join.left(" in query and "join(" not in query.replace("join.left(", "")


def test_money_uses_the_price_and_currency():
    value = next(p for p in PANELS if p["title"] == "Value today")
    assert value["fieldConfig"]["defaults"]["unit"] == "currencyEUR"
    assert 'float(v: "${price}")' in value["targets"][0]["query"]
    price = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "price")
    assert price["query"] == "0.32"
    other = json.loads(dashboard("b", "b_history", "30d", "UTC", 0.2, "XAF"))
    assert next(p for p in other["panels"] if p["title"] == "Value today")["fieldConfig"][
        "defaults"]["unit"] == "suffix:XAF"


def test_bucket_variables_are_the_stacks_buckets():
    document = json.loads(dashboard("pv", "pv_history"))
    variables = {v["name"]: v["query"] for v in document["templating"]["list"]}
    assert variables["bucket"] == "pv" and variables["history_bucket"] == "pv_history"


@pytest.fixture(scope="module")
def grafana_files(dev_run):
    return service_files(dev_run)["grafana"]


def test_provisioning_yaml_parses_and_token_is_only_in_secure_json_data(dev_run, grafana_files):
    source = yaml.safe_load(grafana_files["/etc/grafana/provisioning/datasources/solarmonitor.yaml"])
    (datasource,) = source["datasources"]
    token = dev_run.outputs["influxGrafanaToken"]
    assert datasource["uid"] == DATASOURCE_UID and datasource["type"] == "influxdb"
    assert datasource["jsonData"] == {"version": "Flux", "organization": "solar",
                                      "defaultBucket": "hoymiles", "tlsAuthWithCACert": True,
                                      "timeInterval": "10s"}
    assert datasource["secureJsonData"] == {"token": token, "tlsCACert": dev_run.outputs["caCert"]}
    assert datasource["url"].startswith("https://")
    assert datasource["url"] == dev_run.outputs["influxUrl"]
    rest = {k: v for k, v in datasource.items() if k != "secureJsonData"}
    assert token not in json.dumps(rest)
    for path, content in grafana_files.items():
        if not path.endswith("datasources/solarmonitor.yaml"):
            assert token not in content, path
    provider = yaml.safe_load(grafana_files["/etc/grafana/provisioning/dashboards/solarmonitor.yaml"])
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    assert "/etc/grafana/dashboards/opendtu.json" in grafana_files


def test_grafana_ini_is_https_without_signup_or_anonymous(dev_run, grafana_files):
    ini = grafana_files["/etc/grafana/grafana.ini"]
    assert "protocol = https" in ini and "http_port = 3000" in ini
    assert "allow_sign_up = false" in ini and re.search(r"\[auth.anonymous\]\nenabled = false", ini)
    assert "admin_password = $__file{/etc/grafana/solarmonitor/admin-password}" in ini
    assert dev_run.outputs["grafanaAdminPassword"] not in ini
    host = re.search(r"^domain = (.+)$", ini, re.M).group(1)
    assert dev_run.outputs["grafanaUrl"] == f"https://{host}:3000/"
    assert f"root_url = https://{host}:3000/" in ini


def test_admin_password_is_secret_and_never_logged(dev_run):
    password = dev_run.outputs["grafanaAdminPassword"]
    assert "grafanaAdminPassword" in dev_run.secret_outputs
    for step in dev_run.find("command:remote:Command"):
        if step.inputs.get("logging") != "none":
            assert password not in json.dumps(step.raw_inputs), step.name


def test_certificate_names_the_url_and_the_address(dev_run, grafana_files):
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(
        grafana_files["/etc/grafana/solarmonitor/server.crt"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    eip = host_eip(dev_run, "grafana").outputs  # in the compact layout, the broker's too
    assert dev_run.outputs["grafanaUrl"] == f"https://{eip['publicDns']}:3000/"
    assert set(sans.get_values_for_type(x509.DNSName)) == {eip["publicDns"]}
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {eip["publicIp"]}


def test_domain_gives_real_names(layout_run):
    result = layout_run(domain="solar.example.org")
    assert result.outputs["grafanaUrl"] == "https://grafana.solar.example.org:3000/"
    assert result.outputs["mqttHost"] == "mqtt.solar.example.org"
    cert = result.one("tls:index/selfSignedCert:SelfSignedCert", "grafana-server-cert")
    eip = host_eip(result, "grafana").outputs
    assert cert.raw_inputs["dnsNames"] == ["grafana.solar.example.org", eip["publicDns"]]


def test_grafana_node_is_public_in_the_home_group_and_waits_for_influx(dev_run):
    instance = host_instance(dev_run, "grafana")
    home = dev_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home").id
    assert home in instance.raw_inputs["vpcSecurityGroupIds"]
    install = dev_run.one("command:remote:Command", "grafana-install")
    assert waits_for(dev_run, install, dev_run.one("command:remote:Command", "influx-tokens"))
    apply = dev_run.one("command:remote:Command", "grafana-apply")
    assert apply.raw_inputs["create"] == f"sudo bash -s -- {dev_run.outputs['grafanaUrl'].split('//')[1].split(':')[0]}"
    secret_files = [s for s in dev_run.find("command:remote:Command")
                    if s.name.startswith("grafana-file-") and s.inputs["stdin"] == SECRET]
    assert {s.name for s in secret_files} >= {
        "grafana-file-etc-grafana-solarmonitor-admin-password",
        "grafana-file-etc-grafana-solarmonitor-secret-key",
        "grafana-file-etc-grafana-provisioning-datasources-solarmonitor-yaml",
        "grafana-file-etc-grafana-solarmonitor-server-key"}


def test_a_battery_row_per_solix_device_with_what_owners_ask_for():
    row = next(p for p in DASHBOARD["panels"] if p["type"] == "row" and "Solix" in p["title"])
    assert row["repeat"] == "solix_serial"  # one row per battery, none without battery data
    below = [p for p in DASHBOARD["panels"] if p["gridPos"]["y"] > row["gridPos"]["y"]]
    text = json.dumps(below)
    for field in ("battery_percentage", "battery_charge_power", "battery_discharge_power",
                  "solar_pv_", "ac_power_out", "pv_yield", "charged_energy"):
        assert field in text, field
    variable = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "solix_serial")
    assert 'r._measurement == "solix"' in variable["query"]


def test_every_read_is_filtered_right_after_its_range():
    # InfluxDB pushes from |> range |> filter down to storage; a filter after a union or a map is
    # applied to everything read, which over years of history is slow on a small node.
    for item, query in queries():
        body = code(query)
        # (A range() later in the pipe reads nothing: it only cuts rows and sets bounds again.)
        reads = re.findall(r"\bfrom\([^)]*\)\s*\|>\s*range\((?:[^()]|\([^()]*\))*\)(.{0,40})",
                           body, re.S)
        for after_range in reads:
            assert re.match(r"\s*\|>\s*filter", after_range), (item.get("title") or item.get("name"))
        assert len(reads) == len(re.findall(r"\bfrom\(", body))
