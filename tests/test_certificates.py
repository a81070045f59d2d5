"""The certificates the stack issues: what the browser trusts vouches for Grafana alone (tried
with OpenSSL, through Python's ssl and curl, against a loopback HTTPS server with the rendered
files); why the broker keeps its CA (OpenDTU's mbedTLS 2.28 refuses a name-constrained one); and
nothing ends unseen: renewal on `pulumi up` before the owner is warned, warnings scheduled
before every certificate's end, read off the program under the mock engine; and `pulumi up`
says which certificate it issued that needs the owner's hand."""

import datetime
import gzip
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import botocore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pulumi.runtime.rpc import UNKNOWN

from broker import OpenDtu, issued_by, signed_by_stack_ca
from components.alerts import warning_expression
from components.certificates import (CA_VALIDITY_HOURS, EARLY_RENEWAL_HOURS, ISSUED,
                                     RENEWAL_DAYS, WARN_DAYS, issued_since)
from components.grafana_node import GRAFANA_INI
from loopback_http import Server
from conftest import LAYOUTS, dev_config, service_files
from tools.mock_engine import run_program

GRAFANA_DIR = "/etc/grafana/solarmonitor"


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def grafana(dev_run):
    files = service_files(dev_run)["grafana"]
    cert = x509.load_pem_x509_certificate(files[f"{GRAFANA_DIR}/server.crt"].encode())
    key = serialization.load_pem_private_key(files[f"{GRAFANA_DIR}/server.key"].encode(), None)
    return cert, key, files


def https(key: bytes, chain: bytes) -> Server:
    return Server(lambda *request: (200, {"Content-Type": "text/plain"}, "ok\n"),
                  tls=(key, chain))


def curl(url: str, trust: Path, host: str) -> subprocess.CompletedProcess:
    """apply.sh's check: curl verifying `host` with --cacert `trust`, sent to the server."""
    port = url.rsplit(":", 1)[1]
    return subprocess.run(["curl", "-fsS", "--max-time", "10", "--cacert", str(trust),
                           "--connect-to", f"{host}:{port}:127.0.0.1:{port}",
                           f"https://{host}:{port}/"], capture_output=True, text=True, timeout=30)


def test_grafanas_certificate_is_no_ca_and_is_what_the_browser_is_given(dev_run, grafana):
    cert, _, files = grafana
    assert dev_run.outputs["grafanaCert"] == files[f"{GRAFANA_DIR}/server.crt"]
    assert cert.issuer == cert.subject  # self-signed: nothing above it to trust
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    assert f"cert_file = {GRAFANA_DIR}/server.crt" in files[GRAFANA_INI]
    # Not signed by the stack's CA: trusting caCert would not vouch for it, nor it for the CA.
    ca = x509.load_pem_x509_certificate(dev_run.outputs["caCert"].encode())
    with pytest.raises(Exception):
        cert.verify_directly_issued_by(ca)


def test_trusting_grafanas_certificate_vouches_for_grafana_and_nothing_else(dev_run, grafana,
                                                                             tmp_path):
    """Grafana's certificate verifies for Grafana's name (as apply.sh checks it, with curl). A
    certificate for another name signed with Grafana's key (someone who read the key on the
    node or in the state) does not: OpenSSL refuses an issuer that is no CA. The same made with
    the stack's CA key verifies, which is why the browser is no longer asked to trust the CA."""
    cert, key, files = grafana
    host = dev_run.outputs["grafanaUrl"].split("//")[1].split(":")[0]
    trust = tmp_path / "grafana.crt"
    trust.write_text(dev_run.outputs["grafanaCert"])
    server = https(files[f"{GRAFANA_DIR}/server.key"].encode(), pem(cert))
    try:
        done = curl(server.url, trust, host)
        assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    finally:
        server.close()

    # What someone holding Grafana's key could make.
    forged_key, forged = issued_by(cert, key, "bank.example.org")
    server = https(forged_key, forged + pem(cert))
    try:
        done = curl(server.url, trust, "bank.example.org")
        assert done.returncode == 60, done  # curl: the peer's certificate did not verify
        assert "invalid CA certificate" in done.stderr, done.stderr
    finally:
        server.close()

    ca_trust = tmp_path / "ca.crt"
    ca_trust.write_text(dev_run.outputs["caCert"])
    server = https(*signed_by_stack_ca(dev_run, "bank.example.org"))
    try:
        assert curl(server.url, ca_trust, "bank.example.org").returncode == 0
    finally:
        server.close()


def test_opendtus_mbedtls_refuses_a_name_constrained_ca(mbedtls_client, tmp_path, dev_run):
    """Why the broker keeps an unconstrained CA: mbedTLS 2.28 does not know name constraints
    and refuses a certificate carrying them critical, as RFC 5280 asks (see certificates.py)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "constrained CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.NameConstraints(
              permitted_subtrees=[x509.DNSName("amazonaws.com")], excluded_subtrees=None),
              critical=True)
          .sign(key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(pem(ca))
    # It fails reading the CA, before it connects anywhere (port 1: nothing listens there).
    done = OpenDtu(mbedtls_client, None, tmp_path / "ca.pem").connect(
        "mqtt.example.org", "opendtu", "x", port=1)
    assert done.returncode == 1, done.stdout
    assert done.stdout.startswith("SETUP X509 - The extension tag or value is invalid"), done.stdout


# --- renewal and warnings ---------------------------------------------------------------------

def test_every_certificate_is_renewed_by_a_deploy_before_its_first_warning(dev_run):
    assert RENEWAL_DAYS > max(WARN_DAYS)
    certificates = (dev_run.find("tls:index/selfSignedCert:SelfSignedCert")
                    + dev_run.find("tls:index/locallySignedCert:LocallySignedCert"))
    assert {c.name for c in certificates} == {"ca-cert", "mqtt-server-cert",
                                              "influx-server-cert", "grafana-server-cert"}
    for certificate in certificates:
        assert certificate.raw_inputs["earlyRenewalHours"] == EARLY_RENEWAL_HOURS, certificate.name
    # The output names each one, with the end its certificate has.
    ends = dev_run.outputs["certificateExpiry"]
    assert set(ends) == {issued.key for issued in ISSUED}
    by_key = {"ca": "ca-cert", "mqtt": "mqtt-server-cert", "influx": "influx-server-cert",
              "grafana": "grafana-server-cert"}
    for key, name in by_key.items():
        pem_text = next(c for c in certificates if c.name == name).outputs["certPem"]
        end = x509.load_pem_x509_certificate(pem_text.encode()).not_valid_after_utc
        assert ends[key] == end.strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduler_shapes() -> dict:
    model = next((Path(botocore.__file__).parent / "data" / "scheduler").glob("*/service-2.json*"))
    return json.loads(gzip.open(model).read() if model.suffix == ".gz" else model.read_text())["shapes"]


def test_each_certificate_warns_the_owner_before_it_ends(full_run):
    topic = full_run.outputs["alertTopicArn"]
    ends = full_run.outputs["certificateExpiry"]
    schedules = {s.name: s for s in full_run.find("aws:scheduler/schedule:Schedule")}
    assert set(schedules) == {f"alerts-expiry-{i.key}-{d}d" for i in ISSUED for d in WARN_DAYS}
    shapes = scheduler_shapes()
    now = datetime.datetime.now(datetime.timezone.utc)
    role = full_run.one("aws:iam/role:Role", "alerts-expiry-role")
    for issued in ISSUED:
        end = datetime.datetime.fromisoformat(ends[issued.key].replace("Z", "+00:00"))
        for days in WARN_DAYS:
            schedule = schedules[f"alerts-expiry-{issued.key}-{days}d"].raw_inputs
            expression = schedule["scheduleExpression"]
            assert re.fullmatch(r"at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)", expression)
            at = datetime.datetime.fromisoformat(expression[3:-1]).replace(
                tzinfo=datetime.timezone.utc)
            assert at == end - datetime.timedelta(days=days) and at > now
            assert schedule["scheduleExpressionTimezone"] == "UTC"
            assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
            target = schedule["target"]
            assert target["arn"] == topic and target["roleArn"] == role.outputs["arn"]
            assert issued.what in target["input"] and "make deploy" in target["input"]
            assert f"in {days} days" in target["input"]
            assert len(schedule["description"]) <= shapes["Description"]["max"]
            assert len(expression) <= shapes["ScheduleExpression"]["max"]
    trust = json.loads(role.raw_inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                      "Action": "sts:AssumeRole"}]
    policy = json.loads(full_run.one("aws:iam/rolePolicy:RolePolicy",
                                     "alerts-expiry-publish").raw_inputs["policy"])
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [("sns:Publish", topic)]


def test_without_alerts_there_is_no_schedule(dev_run):
    assert dev_run.find("aws:scheduler/schedule:Schedule") == []


def test_the_warning_time_is_days_before_the_end_in_utc():
    assert warning_expression("2031-05-01T12:30:00Z", 45) == "at(2031-03-17T12:30:00)"
    assert warning_expression("2031-05-01T01:00:00+02:00", 14) == "at(2031-04-16T23:00:00)"


# --- what `pulumi up` says about the certificates it issued ------------------------------------

@pytest.fixture(scope="module")
def issued_then_kept(layout):
    """Two updates of a new stack of the example in `layout`: the first issues every certificate;
    the second, started after the first made them, keeps them (the mock engine keeps what
    pulumi-tls made per stack while its inputs stay, as Pulumi's state does)."""
    stack = f"fresh-{layout}-{uuid.uuid4().hex[:8]}"  # no earlier run in this process made it
    config = dev_config(**LAYOUTS[layout])
    issued = run_program(config, stack=stack)
    # The mock engine reports ends to the second (pulumi-tls to the nanosecond), and an end in
    # the second the update started counts as issued by it: the next update starts a second on
    # (real updates are minutes apart).
    time.sleep(1 - datetime.datetime.now().microsecond / 1e6)
    return issued, run_program(config, stack=stack)


def test_the_update_that_issues_the_certificates_says_what_the_owner_does(issued_then_kept):
    issued, _ = issued_then_kept
    ends = issued.outputs["certificateExpiry"]
    warnings = [line for line in issued.logs if line.startswith("warning: ")]
    assert len(warnings) == 2 and len(issued.logs) == 2, issued.logs
    ca = next(w for w in warnings if "the stack's CA (caCert)" in w)
    assert ca.startswith(f"warning: this update issued the stack's CA (caCert), valid until "
                         f"{ends['ca'][:10]}: ")
    assert "type this caCert into OpenDTU's CA-Root-Certificate field" in ca
    assert "copy piAgentConfig to the Pi" in ca and "README, the Raspberry Pi" in ca
    grafana = next(w for w in warnings if "Grafana's certificate (grafanaCert)" in w)
    assert grafana.startswith(f"warning: this update issued Grafana's certificate (grafanaCert), "
                              f"valid until {ends['grafana'][:10]}: ")
    assert "trust this grafanaCert" in grafana and "browser" in grafana
    # Phrased for a first deploy as for a renewal: nothing calls it a replacement.
    assert not any(word in w for w in warnings for word in ("new", "renew", "again"))
    # The broker's and InfluxDB's need nobody's hand: the clients trust the CA.
    assert not any("the broker's certificate" in w or "InfluxDB's certificate" in w
                   for w in warnings)


def test_an_update_that_keeps_the_certificates_says_nothing(issued_then_kept):
    issued, kept = issued_then_kept
    for output in ("caCert", "grafanaCert", "certificateExpiry"):
        assert kept.outputs[output] == issued.outputs[output], output
    assert kept.logs == []


def test_a_preview_says_nothing(layout):
    preview = run_program(dev_config(**LAYOUTS[layout]),
                          stack=f"preview-{layout}-{uuid.uuid4().hex[:8]}", preview=True)
    # A preview of a new stack knows no certificate's end (pulumi-tls makes it in the update).
    assert set(preview.outputs["certificateExpiry"].values()) == {UNKNOWN}
    assert preview.logs == []


def test_issued_since_reads_the_end_as_pulumi_tls_reports_it():
    started = datetime.datetime(2026, 3, 1, 10, 0, 0, 700000, tzinfo=datetime.timezone.utc)
    twenty_years = datetime.timedelta(hours=CA_VALIDITY_HOURS)
    # Go's time.MarshalText: RFC 3339 to the nanosecond, in the machine's zone (common_cert.go).
    made_at_start = (started + twenty_years).astimezone(
        datetime.timezone(datetime.timedelta(hours=2))).isoformat().replace("700000", "700000123")
    assert issued_since(made_at_start, CA_VALIDITY_HOURS, started)
    # The mock engine's: to the second, in UTC.
    assert issued_since("2046-02-24T10:00:00Z", CA_VALIDITY_HOURS, started)
    assert not issued_since("2046-02-24T09:59:59Z", CA_VALIDITY_HOURS, started)
    # An earlier update's, the day before.
    assert not issued_since("2046-02-23T10:00:05Z", CA_VALIDITY_HOURS, started)
