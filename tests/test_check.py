"""make check, step by step: the MQTT steps against a real mosquitto started from the rendered
broker files (its certificate re-issued by the stack's CA for `localhost`, the one name that
resolves here), the Grafana steps against a small local HTTPS stand-in of Grafana's API (ours:
no Grafana here; with a self-signed certificate for `localhost`, as Grafana's is) whose
"InfluxDB" is what a Telegraf-like subscriber reads off that broker, the AWS steps against moto.
Each step passes, and fails for the right reason."""

import base64
import datetime
import json
import re
import socket
import time

import boto3
import pytest
from moto import mock_aws

from broker import (
    Broker, Client, free_port, self_signed_leaf, signed_by_stack_ca, telegraf_login, write_etc,
)
from components.opendtu_data import PROBE
from loopback_http import Server
from tools import check
from conftest import service_files

ADMIN = "grafana-admin-password"


@pytest.fixture
def program(dev_run):
    """The example stack (read only: its rendered broker files, outputs and CA)."""
    return dev_run


FIVE_YEARS = 1826  # days, as the stack issues server certificates


@pytest.fixture(scope="module")
def certificate(dev_run):
    return signed_by_stack_ca(dev_run, days=FIVE_YEARS)


@pytest.fixture(scope="module")
def grafana_certificate():
    return self_signed_leaf("localhost", days=FIVE_YEARS)


def end_of(pem: bytes | str) -> str:
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(pem if isinstance(pem, bytes) else pem.encode())
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def broker(program, certificate, tmp_path):
    etc = write_etc(service_files(program)["mqtt"], tmp_path / "rendered", certificate)
    with Broker(etc) as running:
        yield running


@pytest.fixture
def settings(program, broker):
    """What make check connects with: OpenDTU's page, its own login, this broker's address."""
    return {**check.check_settings(program.outputs), "Hostname": "localhost",
            "Port": broker.tls_port}


class StandInGrafana:
    """Grafana's API as `make check` uses it, over HTTPS with a self-signed certificate, as
    Grafana's. Its "InfluxDB" holds what a Telegraf-like subscriber received from the broker."""

    def __init__(self, certificate):
        self.cert_pem = certificate[1].decode()
        self.values: list[float] = []
        self.healthy, self.dashboard, self.rules = True, True, []
        self.late_queries = 0  # queries answered as if Telegraf had not written yet
        self.server = Server(self.respond, tls=certificate)
        self.url = self.server.url + "/"

    def respond(self, path, headers, body):
        expected = "Basic " + base64.b64encode(f"admin:{ADMIN}".encode()).decode()
        if headers.get("Authorization") != expected:
            status, answer = 401, {"message": "invalid username or password"}
        elif path == "/api/ds/query":
            flux = json.loads(body)["queries"][0]["query"]
            wanted = [v for v in self.values if f"r._value == {v!r}" in flux
                      and 'r._measurement == "solarmonitor_probe"' in flux]
            if self.late_queries:
                self.late_queries, wanted = self.late_queries - 1, []
            status, answer = 200, {"results": {"probe": {"status": 200, "frames": [
                {"schema": {"fields": [{"name": "_value"}]}, "data": {"values": [wanted]}}]}}}
        elif path == "/api/datasources/uid/solarmonitor-influxdb/health":
            status, answer = 200, ({"status": "OK", "message": "datasource is working. 3 buckets found"}
                                   if self.healthy else {"status": "ERROR", "message": "401 Unauthorized"})
        elif path == "/api/dashboards/uid/solarmonitor-opendtu" and self.dashboard:
            status, answer = 200, {"dashboard": {"title": "OpenDTU solar"}}
        elif path == "/api/v1/provisioning/alert-rules":
            status, answer = 200, [{"uid": uid} for uid in self.rules]
        else:
            status, answer = 404, {"message": "not found"}
        return status, {"Content-Type": "application/json"}, json.dumps(answer)

    def close(self):
        self.server.close()


@pytest.fixture
def grafana(grafana_certificate):
    stand_in = StandInGrafana(grafana_certificate)
    yield stand_in
    stand_in.close()


@pytest.fixture
def telegraf(broker, program, grafana):
    """Subscribes to the probe topic as Telegraf does and hands each value to the stand-in."""
    client = Client(broker, *telegraf_login(program, consumer=_probe_consumer(program)),
                    port=broker.internal_port)
    assert client.connect()
    client.client.subscribe("solar/" + PROBE.topic, qos=1)
    client.client.on_message = lambda c, u, message: grafana.values.append(float(message.payload))
    yield client
    client.close()


def _probe_consumer(program) -> int:
    from components.opendtu_data import CONSUMERS
    return next(i for i, c in enumerate(CONSUMERS) if c.name == "probe")


def stand_in_of(grafana, program) -> check.Grafana:
    return check.Grafana(grafana.url, ADMIN, grafana.cert_pem)


# --- 2. the broker ----------------------------------------------------------------------------

def test_the_broker_step_passes_with_the_stacks_settings(settings):
    result = check.broker_accepts_check_login(settings)
    assert result.mark == check.PASS, result.lines()


def test_the_broker_step_and_the_probe_knock_no_real_client_off(settings, program, broker,
                                                                 grafana, telegraf):
    """OpenDTU and Telegraf are connected while make check runs: both stay (the broker keys
    sessions by username, and make check has a login of its own)."""
    page = {e["field"]: e["value"] for e in program.outputs["openDtuSettings"]}
    opendtu = Client(broker, page["Username"], page["Password"], client_id="OpenDTU-3221224")
    assert opendtu.connect()
    assert check.broker_accepts_check_login(settings).mark == check.PASS
    assert check.probe_arrives(settings, stand_in_of(grafana, program), "hoymiles", wait=10,
                               poll=0.2).mark == check.PASS
    time.sleep(0.3)
    assert opendtu.disconnects == [] and opendtu.client.is_connected()
    assert telegraf.disconnects == [] and telegraf.client.is_connected()
    opendtu.close()


def test_make_check_needs_its_own_login_in_the_outputs(program):
    outputs = {k: v for k, v in program.outputs.items() if k != "checkMqttPassword"}
    with pytest.raises(check.OutputsError, match="checkMqttPassword"):
        check.check_settings(outputs)


def test_the_broker_step_fails_on_a_wrong_password(settings):
    result = check.broker_accepts_check_login({**settings, "Password": "wrong"})
    assert result.mark == check.FAIL and "refused the login" in result.reason
    assert "password" in result.hint


def test_the_broker_step_fails_on_a_certificate_from_elsewhere(settings):
    from broker import self_signed
    _, other_ca = self_signed("another CA", ca=True)
    result = check.broker_accepts_check_login({**settings, "CA-Root-Certificate": other_ca.decode()})
    assert result.mark == check.FAIL and result.reason.startswith("TLS")
    assert "caCert" in result.hint


def test_the_broker_step_fails_on_a_name_the_certificate_does_not_hold(settings):
    result = check.broker_accepts_check_login({**settings, "Hostname": "127.0.0.1"})
    assert result.mark == check.FAIL and result.reason.startswith("TLS")


def test_the_broker_step_fails_when_nothing_listens(settings):
    result = check.broker_accepts_check_login({**settings, "Port": free_port()})
    assert result.mark == check.FAIL and "no TLS connection" in result.reason


# --- 3-6. Grafana -----------------------------------------------------------------------------

def test_the_probe_travels_from_the_broker_to_the_readback(settings, grafana, telegraf, program):
    result = check.probe_arrives(settings, stand_in_of(grafana, program), "hoymiles", wait=10,
                                 poll=0.2)
    assert result.mark == check.PASS, result.lines()
    assert len(grafana.values) == 1


def test_the_probe_is_read_again_until_it_arrives(settings, grafana, telegraf, program):
    """Telegraf writes every 10 s: the first reads find nothing, a later one finds the probe."""
    grafana.late_queries = 2
    result = check.probe_arrives(settings, stand_in_of(grafana, program), "hoymiles", wait=10,
                                 poll=0.1)
    assert result.mark == check.PASS, result.lines()
    assert sum(path == "/api/ds/query" for path, _, _ in grafana.server.requests) == 3


def test_a_probe_that_never_arrives_fails_in_bounded_time(settings, grafana, program):
    # No Telegraf: the broker takes the probe, nothing writes it.
    result = check.probe_arrives(settings, stand_in_of(grafana, program), "hoymiles", wait=1,
                                 poll=0.2)
    assert result.mark == check.FAIL and "did not arrive within 1 s" in result.reason
    assert "telegraf" in result.hint


def test_only_the_probes_own_value_counts_as_arrived():
    def answer(*values):
        return {"results": {"probe": {"frames": [{"data": {"values": [list(values)]}}]}}}
    assert check.frames_hold(answer(5.0, 1234.0), 1234.0)
    assert not check.frames_hold(answer(5.0, 99.0), 1234.0)  # an older probe, someone else's
    assert not check.frames_hold({"results": {"probe": {"error": "bucket not found"}}}, 1234.0)


def test_the_probe_query_reads_only_the_probe_measurement():
    query = check.probe_query("hoymiles", 123.0)
    assert 'r._measurement == "solarmonitor_probe"' in query and 'r._field == "probe"' in query
    assert PROBE.landing.measurement == "solarmonitor_probe"


def test_datasource_health_passes_and_fails(grafana, program):
    assert check.datasource_healthy(stand_in_of(grafana, program)).mark == check.PASS
    grafana.healthy = False
    result = check.datasource_healthy(stand_in_of(grafana, program))
    assert result.mark == check.FAIL and "not healthy" in result.reason


def test_a_wrong_admin_password_is_named(grafana, program):
    result = check.datasource_healthy(check.Grafana(grafana.url, "wrong", grafana.cert_pem))
    assert result.mark == check.FAIL and "admin password" in result.reason


def test_grafana_is_verified_with_its_own_certificate_only(grafana, program):
    from broker import self_signed
    _, other_ca = self_signed("another CA", ca=True)
    for trusted in (other_ca.decode(), program.outputs["caCert"]):
        result = check.datasource_healthy(check.Grafana(grafana.url, ADMIN, trusted))
        assert result.mark == check.FAIL and "does not answer" in result.reason


# --- 7. certificates ------------------------------------------------------------------------

def served_outputs(program, settings, grafana, certificate) -> dict:
    """The stack's outputs for this broker and this Grafana stand-in."""
    return {**program.outputs, "grafanaUrl": grafana.url, "grafanaCert": grafana.cert_pem,
            "certificateExpiry": {**program.outputs["certificateExpiry"],
                                  "mqtt": end_of(certificate[1]),
                                  "grafana": end_of(grafana.cert_pem)}}


def test_the_certificates_step_shows_the_days_left_of_each(program, settings, grafana,
                                                           certificate):
    result = check.certificates_last(served_outputs(program, settings, grafana, certificate),
                                     settings)
    assert result.mark == check.PASS, result.lines()
    # The CA 20 years, the others 5 (a day less, as the days are counted whole).
    assert re.fullmatch(r"days left: CA 7\d\d\d, broker 182\d, InfluxDB 182\d, Grafana 182\d",
                        result.reason), result.reason


def test_the_certificates_step_fails_before_the_first_warning(program, settings, grafana,
                                                              certificate):
    outputs = served_outputs(program, settings, grafana, certificate)
    now = datetime.datetime.now(datetime.timezone.utc)

    def ca_ending_in(days: float) -> check.Result:
        end = (now + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return check.certificates_last(
            {**outputs, "certificateExpiry": {**outputs["certificateExpiry"], "ca": end}},
            settings, now=now)

    result = ca_ending_in(44.9)
    assert result.mark == check.FAIL and result.reason.startswith("days left: CA 44, broker")
    assert "the stack's CA (caCert) ends in less than 45 days" in result.reason
    assert "make deploy renews" in result.hint and "OpenDTU" in result.hint
    assert ca_ending_in(45.1).mark == check.PASS
    result = check.certificates_last(outputs, settings, now=now + datetime.timedelta(days=1826))
    assert result.mark == check.FAIL and "broker ended" in result.reason
    assert "the broker's certificate, InfluxDB's certificate" in result.reason


def test_the_certificates_step_fails_when_a_node_serves_another_certificate(
        program, settings, grafana, certificate):
    outputs = served_outputs(program, settings, grafana, certificate)
    issued = {**outputs, "certificateExpiry": program.outputs["certificateExpiry"]}
    result = check.certificates_last(issued, settings)
    assert result.mark == check.FAIL, result.lines()
    assert "the broker serves a certificate ending" in result.reason
    assert "the Grafana serves a certificate ending" in result.reason


def test_the_certificates_step_names_what_it_cannot_read(program, settings, grafana, certificate):
    outputs = served_outputs(program, settings, grafana, certificate)
    result = check.certificates_last({**outputs, "grafanaUrl": f"https://localhost:{free_port()}/"},
                                     settings)
    assert result.mark == check.FAIL and "cannot read the Grafana's certificate" in result.reason
    result = check.certificates_last({k: v for k, v in outputs.items()
                                      if k != "certificateExpiry"}, settings)
    assert result.mark == check.FAIL and "make deploy" in result.hint


def test_the_dashboard_step(grafana, program):
    assert check.dashboard_provisioned(stand_in_of(grafana, program)).mark == check.PASS
    grafana.dashboard = False
    assert check.dashboard_provisioned(stand_in_of(grafana, program)).mark == check.FAIL


# --- AWS: the home group, the email subscription -------------------------------------------------

@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.Session(region_name="eu-central-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")


@pytest.fixture
def echo():
    """An echo service answering with the home's public address."""
    server = Server(lambda *request: (200, {"Content-Type": "text/plain"}, "1.2.3.4\n"))
    yield server.url + "/"
    server.close()


def test_the_home_address_step(aws, echo):
    ec2 = aws.client("ec2")
    group = ec2.create_security_group(GroupName="home", Description="home")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{  # the old address
        "IpProtocol": "tcp", "FromPort": 8883, "ToPort": 8883,
        "IpRanges": [{"CidrIp": "5.6.7.8/32"}]}])
    result = check.home_address_allowed(ec2, group, echo)
    assert result.mark == check.FAIL and "does not hold 1.2.3.4/32" in result.reason
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8883, "ToPort": 8883,
        "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}])
    assert check.home_address_allowed(ec2, group, echo).mark == check.PASS


def test_an_ipv6_only_grafana_needs_this_machines_ipv6_in_the_home_group(aws, echo):
    """Grafana without a public IPv4 (an IPv6 home, issue 15) is reached over IPv6: step 1 then
    also needs this machine's IPv6 address inside a prefix the group opens for Grafana's port."""
    ec2 = aws.client("ec2")
    group = ec2.create_security_group(GroupName="home", Description="home")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "IpRanges": [{"CidrIp": "1.2.3.4/32"}]} for port in (8883, 3000)])
    url = "https://[2a01:4f8:1:2::9]:3000/"

    def step(ipv6):
        return check.home_address_allowed(ec2, group, echo, url, lambda: ipv6)

    result = step(None)
    assert result.mark == check.FAIL and "no global IPv6 address" in result.reason
    assert "publicIpv4" in result.hint
    result = step("2a01:4f8:1:2::1234")
    assert result.mark == check.FAIL and "none at all" in result.reason
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{  # another home's prefix
        "IpProtocol": "tcp", "FromPort": 3000, "ToPort": 3000,
        "Ipv6Ranges": [{"CidrIpv6": "2a01:4f8:5::/48"}]}])
    result = step("2a01:4f8:1:2::1234")
    assert result.mark == check.FAIL and "2a01:4f8:5::/48" in result.reason
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{  # on the broker port only
        "IpProtocol": "tcp", "FromPort": 8883, "ToPort": 8883,
        "Ipv6Ranges": [{"CidrIpv6": "2a01:4f8:1:2::/64"}]}])
    assert step("2a01:4f8:1:2::1234").mark == check.FAIL
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 3000, "ToPort": 3000,
        "Ipv6Ranges": [{"CidrIpv6": "2a01:4f8:1:2::/64"}]}])
    result = step("2a01:4f8:1:2::1234")
    assert result.mark == check.PASS and "2a01:4f8:1:2::1234" in result.reason
    # Grafana with an IPv4 (an IPv4 home, or publicIpv4: true) needs no IPv6 here.
    assert check.home_address_allowed(ec2, group, echo, "https://localhost:3000/",
                                      lambda: None).mark == check.PASS


def test_grafana_is_over_ipv6_only_when_its_host_has_no_ipv4():
    assert check.served_over_ipv6("https://[2a01:4f8:1:2::9]:3000/")
    assert not check.served_over_ipv6("https://localhost:3000/")  # resolves to 127.0.0.1 too
    assert not check.served_over_ipv6("https://192.0.2.7:3000/")

    def dual_stack(host, port, type):  # grafana.<domain> with an A and an AAAA record
        assert host == "grafana.example.org"
        return [(socket.AF_INET6, type, 6, "", ("2a01:4f8:1:2::9", 0, 0, 0)),
                (socket.AF_INET, type, 6, "", ("192.0.2.7", 0))]
    assert not check.served_over_ipv6("https://grafana.example.org:3000/", dual_stack)


def test_only_a_global_ipv6_address_counts_as_this_machines():
    """The source address towards loopback is ::1, not an address the home group could hold."""
    assert check.public_ipv6_of_this_machine("::1") is None


def test_alerts_are_skipped_when_off(grafana, program):
    assert check.alerts_provisioned(stand_in_of(grafana, program), None, None).mark == check.SKIP


def test_alerts_need_their_rules_and_a_confirmed_email(aws, grafana, program):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    sns = aws.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="owner@example.org")
    stand_in = stand_in_of(grafana, program)
    result = check.alerts_provisioned(stand_in, sns, topic)
    assert result.mark == check.FAIL and "rules missing" in result.reason
    grafana.rules = [rule.name for rule in check.RULES]
    assert check.alerts_provisioned(stand_in, sns, topic).mark == check.PASS
    # Until the owner clicks AWS's link, SNS lists the subscription as "PendingConfirmation"
    # instead of an ARN (SNS ListSubscriptionsByTopic); moto confirms email at once, so the
    # test puts the unconfirmed state into moto's backend.
    backend = sns_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"]
    for subscription in backend.subscriptions.values():
        subscription.arn = "PendingConfirmation"
    result = check.alerts_provisioned(stand_in, sns, topic)
    assert result.mark == check.FAIL and "not confirmed" in result.reason
    assert "Subscription Confirmation" in result.hint


def test_the_report_prints_a_mark_a_reason_and_a_hint():
    lines = check.failed("broker", "the broker refused the login", "check the password").lines()
    assert lines == ["✗ broker: the broker refused the login", "    hint: check the password"]
    assert check.passed("dashboard", "provisioned").lines() == ["✓ dashboard: provisioned"]


def test_make_check_end_to_end(aws, echo, settings, grafana, telegraf, program, certificate,
                               tmp_path, capsys):
    """The whole command: every step passes, the report is printed, the exit status is 0; with
    the probe lost on the way (no Telegraf), it is 1."""
    ec2, sns = aws.client("ec2"), aws.client("sns")
    group = ec2.create_security_group(GroupName="home", Description="home")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8883, "ToPort": 8883,
        "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}])
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="owner@example.org")
    grafana.rules = [rule.name for rule in check.RULES]
    outputs = {**served_outputs(program, settings, grafana, certificate),
               "grafanaAdminPassword": ADMIN, "securityGroupId": group, "alertTopicArn": topic,
               "openDtuSettings": [{"field": k, "value": v} for k, v in settings.items()]}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    arguments = ["--outputs", str(tmp_path / "outputs.json"), "--echo-url", echo,
                 "--probe-wait", "10"]
    assert check.main(arguments) == 0
    report = capsys.readouterr().out
    assert report.count("✓") == 7 and "✗" not in report and "Everything works" in report
    telegraf.close()  # the probe now goes nowhere
    assert check.main([*arguments[:-1], "1"]) == 1
    report = capsys.readouterr().out
    assert "✗ probe to InfluxDB" in report and "hint:" in report and "6 of 7 steps passed" in report
    # Grafana over IPv6 only: step 1 asks for this machine's IPv6 (none here, or none in the group).
    (tmp_path / "outputs.json").write_text(json.dumps(
        {**outputs, "grafanaUrl": f"https://[::1]:{free_port()}/"}))
    assert check.main(arguments) == 1
    home = next(line for line in capsys.readouterr().out.splitlines() if "home address" in line)
    assert home.startswith("✗") and "IPv6" in home
