"""Grafana: the dashboard against the data description, provisioning files, the component."""

import json
import re

import pytest
import yaml

from components.grafana_node import DATASOURCE_UID, dashboard
from components.opendtu_data import fields_of, measurements, tags_of
from conftest import waits_for
from tools.mock_engine import SECRET
from tools.plan import rendered_files

DASHBOARD = json.loads(dashboard("hoymiles"))
COLUMNS = {"_measurement", "_field", "_value", "_time", "_start", "_stop", "name"}


def queries():
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            yield panel, target["query"]
    for variable in DASHBOARD["templating"]["list"]:
        yield variable, variable["query"]


def filter_bodies(query: str) -> list[str]:
    return re.findall(r"filter\(fn: \(r\) => (.*?)\)\n", query + "\n")


def test_dashboard_loads_with_unique_panel_ids_and_no_import_placeholders():
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) and ids
    text = json.dumps(DASHBOARD)
    assert "__inputs" not in DASHBOARD and "${DS_" not in text


def test_every_panel_and_variable_uses_the_provisioned_datasource():
    for item, _ in queries():
        assert item["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == DATASOURCE_UID


def test_queries_use_only_described_measurements_tags_and_fields():
    for item, query in queries():
        for body in filter_bodies(query):
            used = set(re.findall(r'r\._measurement == "([^"]+)"', body))
            assert used <= measurements(), (item.get("title") or item.get("name"), used)
        query_measurements = set(re.findall(r'r\._measurement == "([^"]+)"', query))
        allowed_fields = set().union(*(fields_of(m) for m in query_measurements)) if query_measurements else set()
        allowed_tags = set().union(*(tags_of(m) for m in query_measurements)) if query_measurements else set()
        for body in filter_bodies(query):
            for field in re.findall(r'r\._field == "([^"]+)"', body):
                assert field in allowed_fields, (item.get("title"), field)
            for column in re.findall(r"r\.(\w+)", body):
                assert column in COLUMNS or column in allowed_tags, (item.get("title"), column)
        for tag in re.findall(r'tag: "(\w+)"', query):
            assert tag in tags_of("mqtt_consumer")


def test_every_panel_filters_by_the_chosen_inverters_where_it_shows_inverters():
    for panel, query in queries():
        if '"mqtt_consumer"' in query and "title" in panel:
            assert "${serial:regex}" in query, panel["title"]
        if "title" in panel:
            assert '"${bucket}"' in query


def test_required_views_exist():
    titles = " / ".join(panel["title"] for panel in DASHBOARD["panels"]).lower()
    for words in ("ac power", "dc power per input", "yield today", "total yield", "status", "dtu"):
        assert words in titles
    daily = next(p for p in DASHBOARD["panels"] if p["title"] == "Yield today")
    assert '"yieldtotal"' in daily["targets"][0]["query"] and "spread()" in daily["targets"][0]["query"]
    assert daily["timeFrom"] == "now/d"
    names = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert names == {"bucket", "serial", "solix_serial"}
    serial = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "serial")
    assert serial["multi"] and serial["includeAll"]


def test_bucket_variable_defaults_to_the_stack_bucket():
    document = json.loads(dashboard("pv"))
    bucket = next(v for v in document["templating"]["list"] if v["name"] == "bucket")
    assert bucket["current"]["value"] == "pv"


@pytest.fixture(scope="module")
def grafana_files(dev_run):
    return rendered_files(dev_run)["grafana"]


def test_provisioning_yaml_parses_and_token_is_only_in_secure_json_data(dev_run, grafana_files):
    source = yaml.safe_load(grafana_files["/etc/grafana/provisioning/datasources/solarmonitor.yaml"])
    (datasource,) = source["datasources"]
    token = dev_run.outputs["influxGrafanaToken"]
    assert datasource["uid"] == DATASOURCE_UID and datasource["type"] == "influxdb"
    assert datasource["jsonData"] == {"version": "Flux", "organization": "solar",
                                      "defaultBucket": "hoymiles", "tlsAuthWithCACert": True}
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
    eip = dev_run.one("aws:ec2/eip:Eip", "grafana-host-eip").outputs
    assert dev_run.outputs["grafanaUrl"] == f"https://{eip['publicDns']}:3000/"
    assert set(sans.get_values_for_type(x509.DNSName)) == {eip["publicDns"]}
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {eip["publicIp"]}


def test_domain_gives_real_names(run):
    result = run(domain="solar.example.org")
    assert result.outputs["grafanaUrl"] == "https://grafana.solar.example.org:3000/"
    assert result.outputs["mqttHost"] == "mqtt.solar.example.org"
    cert = result.one("tls:index/certRequest:CertRequest", "grafana-server-csr")
    eip = result.one("aws:ec2/eip:Eip", "grafana-host-eip").outputs
    assert cert.raw_inputs["dnsNames"] == ["grafana.solar.example.org", eip["publicDns"]]


def test_grafana_node_is_public_in_the_home_group_and_waits_for_influx(dev_run):
    instance = dev_run.one("aws:ec2/instance:Instance", "grafana-host-instance")
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
