"""The Pi agent, run as a subprocess against local servers on loopback: a fake FritzBox (SOAP,
plain HTTP like the real one), an HTTPS echo service (a certificate the agent trusts through
OpenSSL's SSL_CERT_FILE), the kernel's address list, and a Lambda invoke endpoint (boto3 with
endpoint_url) that records payloads and answers as the test says: by default 200, or through
the real IpGuard handler against moto's EC2 (`aws_group`)."""

import ipaddress
import json
import re
import shutil
import subprocess
import sys

import boto3
import pytest
from cryptography import x509
from moto import mock_aws

from broker import self_signed
from conftest import ROOT
from ip_guard_moto import PORTS, ingress, ip_guard, on_every_port
from loopback_http import Server

AGENT = ROOT / "pi" / "ip_agent.py"
HOME_LAN = "2a01:4f8:1:200::/64"  # the Pi's /64 inside the FritzBox's 2a01:4f8:1:200::/56
REASSERT_SECONDS = 270  # pi/ip_agent.py


def soap(action: str, values: dict) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items())
    return ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<s:Body><u:{action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">'
            f"{inner}</u:{action}Response></s:Body></s:Envelope>")


def if_inet6(addresses) -> str:
    """Linux's /proc/net/if_inet6 (net/ipv6/addrconf.c, if6_seq_show) for these addresses."""
    return "".join(f"{int(ipaddress.IPv6Address(a)):032x} 02 40 {scope} 80     eth0\n"
                   for a, scope in ((a, "20" if a.startswith("fe80") else "00") for a in addresses))


def throttled(event):
    """What Lambda answers a synchronous call beyond the function's reserved concurrency:
    HTTP 429 TooManyRequestsException (botocore's lambda/2015-03-31 service model; this
    stand-in is ours, moto does not throttle)."""
    return 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, json.dumps(
        {"Type": "User", "message": "Rate Exceeded.",
         "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})


@pytest.fixture(scope="module")
def echo_tls(tmp_path_factory):
    key, cert = self_signed("localhost", [x509.DNSName("localhost")])
    trusted = tmp_path_factory.mktemp("echo-ca") / "trusted.pem"
    trusted.write_bytes(cert)
    return key, cert, trusted


class Home:
    """The fake world around the agent; tests change its answers between runs."""

    def __init__(self, tmp_path, echo_tls):
        self.ipv4 = "8.8.8.8"  # the FritzBox's WAN address; a raw body when it starts with "<" or "!"
        self.ipv6 = ("2a01:4f8:1:200::", "56")  # the prefix the FritzBox says it was delegated
        self.echo = "8.8.8.8\n"  # what the echo service sees
        # The Pi's own addresses: SLAAC in the home LAN, link-local, unique-local.
        self.own_ipv6 = ["2a01:4f8:1:200:ba27:ebff:fe12:3456", "fe80::ba27:ebff:fe12:3456",
                         "fd00::ba27:ebff:fe12:3456"]
        self.lambda_answer = lambda event: {"statusCode": 200, "changed": True}
        self.payloads = []
        self.fritzbox = Server(self._fritzbox)
        self.echo_server = Server(lambda *a: self.echo if isinstance(self.echo, tuple) else (
            200, {"Content-Type": "text/plain"}, self.echo), tls=echo_tls[:2])
        self.trusted = echo_tls[2]
        self.lambda_server = Server(self._lambda)
        self.state = tmp_path / "state" / "state.json"
        self.config = tmp_path / "agent.ini"
        self.addresses = tmp_path / "if_inet6"
        self.write_config()

    def write_config(self, fritzbox_url=None, ipv6="yes", echo=True, echo_url=None):
        self.config.write_text(f"""[aws]
region = eu-central-1
function_name = ipguard-test
access_key_id = AKIAEXAMPLE
secret_access_key = example-secret
endpoint_url = {self.lambda_server.url}

[detect]
fritzbox_url = {fritzbox_url or self.fritzbox.url}
ipv4_urls = {echo_url or (self.echo_server.url + "/ip" if echo else "")}
ipv6 = {ipv6}
own_ipv6_file = {self.addresses}

[state]
path = {self.state}
""")

    def _fritzbox(self, path, headers, body):
        if path != "/igdupnp/control/WANIPConn1":
            return 404, {}, "not found"
        action = headers.get("SOAPAction", "").strip('"').split("#")[-1]
        if action == "GetExternalIPAddress":
            if self.ipv4.startswith(("<html", "!")):
                return 200, {"Content-Type": "text/html"}, self.ipv4.lstrip("!")
            return 200, {"Content-Type": "text/xml"}, soap(action, {"NewExternalIPAddress": self.ipv4})
        if action == "X_AVM_DE_GetIPv6Prefix":
            prefix, length = self.ipv6
            return 200, {"Content-Type": "text/xml"}, soap(action, {
                "NewIPv6Prefix": prefix, "NewPrefixLength": length,
                "NewValidLifetime": "86400", "NewPreferredLifetime": "3600"})
        return 500, {}, "unknown action"

    def _lambda(self, path, headers, body):
        match = re.match(r"^/2015-03-31/functions/([^/]+)/invocations$", path)
        assert match and match.group(1) == "ipguard-test", path
        event = json.loads(body)
        self.payloads.append(event)
        answer = self.lambda_answer(event)
        if isinstance(answer, tuple):
            return answer
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    def run(self, *extra, trusted=None):
        self.addresses.write_text(if_inet6(self.own_ipv6))
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.config.parent),
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "NO_PROXY": "*",
               "SSL_CERT_FILE": str(trusted or self.trusted)}
        done = subprocess.run([sys.executable, str(AGENT), "--config", str(self.config), "--once",
                               *extra], capture_output=True, text=True, timeout=60, env=env)
        assert len(done.stdout.strip().splitlines()) == 1, done.stdout + done.stderr
        assert done.stderr == "", done.stderr
        return done

    def age_state(self, seconds):
        """As if the last acknowledged call was `seconds` longer ago."""
        state = json.loads(self.state.read_text())
        state["acknowledged_at"] -= seconds
        self.state.write_text(json.dumps(state))

    def close(self):
        for server in (self.fritzbox, self.echo_server, self.lambda_server):
            server.close()


@pytest.fixture
def home(tmp_path, echo_tls):
    world = Home(tmp_path, echo_tls)
    yield world
    world.close()


@pytest.fixture
def aws_group(home, monkeypatch):
    """The real IpGuard handler behind the invoke endpoint, setting a home group in moto's EC2
    (the handler runs in this process, in the loopback server's thread)."""
    for name, value in (("AWS_DEFAULT_REGION", "eu-central-1"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        ec2 = boto3.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        group_id = ec2.create_security_group(GroupName="home", Description="home",
                                             VpcId=vpc)["GroupId"]
        monkeypatch.setenv("SECURITY_GROUP_ID", group_id)
        monkeypatch.setenv("PORTS", ",".join(map(str, PORTS)))
        home.lambda_answer = lambda event: ip_guard.handler(event, None)
        yield ec2, group_id


# --- what both sources vouch for --------------------------------------------------------------

def test_first_run_invokes_once_with_what_both_sources_vouch_for(home):
    done = home.run()
    assert done.returncode == 0, done.stdout
    assert home.payloads == [{"ipv4": "8.8.8.8/32", "ipv6_prefix": HOME_LAN}]
    assert json.loads(home.state.read_text())["event"] == home.payloads[0]
    assert "updated" in done.stdout and "agree" in done.stdout
    assert len(home.echo_server.requests) == 1


def test_unchanged_addresses_do_not_invoke_before_the_reassert_is_due(home):
    home.run()
    home.age_state(REASSERT_SECONDS - 30)
    done = home.run()
    assert done.returncode == 0 and len(home.payloads) == 1 and "unchanged" in done.stdout


@pytest.mark.parametrize("change", ["ipv4", "ipv6"])
def test_a_changed_address_invokes_again(home, change):
    home.run()
    if change == "ipv4":
        home.ipv4 = home.echo = "1.1.1.1"
    else:
        home.ipv6 = ("2a01:4f8:9:900::", "56")
        home.own_ipv6[0] = "2a01:4f8:9:901::7"
    assert home.run().returncode == 0
    assert len(home.payloads) == 2
    assert home.payloads[1] == {"ipv4": "1.1.1.1/32" if change == "ipv4" else "8.8.8.8/32",
                                "ipv6_prefix": "2a01:4f8:9:901::/64" if change == "ipv6"
                                else HOME_LAN}


def test_the_addresses_are_reasserted_every_five_minutes_even_when_unchanged(home):
    home.run()
    home.age_state(REASSERT_SECONDS)
    done = home.run()
    assert done.returncode == 0 and len(home.payloads) == 2 and "re-asserted" in done.stdout
    assert home.payloads[1] == home.payloads[0]


@pytest.mark.parametrize("wan, reason", [
    ("100.64.12.34", "carrier-grade NAT"), ("10.1.2.3", "private"),
    ("192.168.178.20", "private"), ("192.0.0.2", "DS-Lite"), ("", "DS-Lite"),
])
def test_a_wan_address_the_home_does_not_own_alone_sends_no_ipv4(home, wan, reason):
    """Carrier NAT, DS-Lite or a router in front: the echo service would name an address the
    carrier shares with other customers. It is not even asked."""
    home.ipv4 = wan
    done = home.run()
    assert done.returncode == 0, done.stdout
    assert home.payloads == [{"ipv6_prefix": HOME_LAN}]
    assert reason in done.stdout and home.echo_server.requests == []


def test_a_shared_line_without_ipv6_sends_nothing(home):
    home.ipv4 = "100.64.12.34"
    home.write_config(ipv6="no")
    done = home.run()
    assert done.returncode == 1 and home.payloads == [] and not home.state.exists()
    assert "nothing sent" in done.stdout and "carrier-grade NAT" in done.stdout


def test_without_a_fritzbox_nothing_is_sent(home):
    """The echo service alone cannot tell the home's own address from a carrier's."""
    home.write_config(fritzbox_url="http://127.0.0.1:9")
    done = home.run()
    assert done.returncode == 1 and home.payloads == [] and not home.state.exists()
    assert "no usable answer from a FritzBox" in done.stdout and home.echo_server.requests == []


def test_when_the_fritzbox_and_the_echo_disagree_ipv4_is_left_alone(home):
    home.ipv4, home.echo = "8.8.8.8", "9.9.9.9"
    done = home.run()
    assert done.returncode == 1, done.stdout
    assert home.payloads == [{"ipv6_prefix": HOME_LAN}]
    assert "8.8.8.8" in done.stdout and "9.9.9.9" in done.stdout


@pytest.mark.parametrize("lie", [
    (("1.2.3.4", ("2a01:4f8:1::", "48")), [{"ipv6_prefix": HOME_LAN}]),  # wider around the LAN
    (("1.2.3.4", ("2a01:4f8:dead::", "48")), []),  # somewhere else entirely
    (("100.64.0.1", ("2a01:4f8:1:200::", "64")), [{"ipv6_prefix": HOME_LAN}]),
])
def test_a_lan_host_posing_as_the_fritzbox_cannot_steer_the_agent(home, lie):
    """fritz.box is asked over plain HTTP: whoever answers can make the sources disagree, or
    claim a shared line, but what is sent stays what the echo and the kernel vouch for."""
    (home.ipv4, home.ipv6), sent = lie
    done = home.run()
    assert home.payloads == sent, done.stdout
    assert not any("ipv4" in payload for payload in home.payloads)


def test_an_echo_service_over_plain_http_is_refused(home):
    home.write_config(echo_url="https://checkip.example.org http://api.example.org")
    done = home.run()
    assert done.returncode == 3 and "http://api.example.org" in done.stdout
    assert home.payloads == []


def test_an_echo_service_whose_certificate_is_not_trusted_confirms_nothing(home, tmp_path):
    _, stranger = self_signed("localhost", [x509.DNSName("localhost")])
    (tmp_path / "other.pem").write_bytes(stranger)
    done = home.run(trusted=tmp_path / "other.pem")
    assert done.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in done.stdout, done.stdout
    assert home.payloads == [{"ipv6_prefix": HOME_LAN}]


def test_an_echo_redirecting_to_plain_http_is_not_followed(home):
    home.ipv4 = "1.2.3.4"  # a host posing as fritz.box, and answering plain HTTP as well
    home.echo = (302, {"Location": home.fritzbox.url + "/ip"}, "")
    home.fritzbox.respond = lambda path, headers, body: (
        (200, {}, "1.2.3.4") if path == "/ip" else Home._fritzbox(home, path, headers, body))
    done = home.run()
    assert done.returncode == 1 and home.payloads == [{"ipv6_prefix": HOME_LAN}], done.stdout


@pytest.mark.parametrize("fritzbox, echo", [
    ("!garbage", "8.8.8.8"),
    ("<html><body>Login</body></html>", "8.8.8.8"),
    ("8.8.8.8; rm -rf /", "8.8.8.8"),
    ("8.8.8.8", "<html>502 Bad Gateway</html>"),
    ("8.8.8.8", "8.8.8.0/24"),
    ("8.8.8.8", "100.64.3.4"),
    ("!" + soap("GetExternalIPAddress", {"NewSomethingElse": "x"}), "8.8.8.8"),
])
def test_unusable_ipv4_answers_never_reach_the_lambda(home, fritzbox, echo):
    home.ipv4, home.echo = fritzbox, echo
    done = home.run()
    assert done.returncode == 1, done.stdout
    assert home.payloads == [{"ipv6_prefix": HOME_LAN}]


@pytest.mark.parametrize("prefix", [
    ("fd00:1:2::", "48"), ("2a01:4f8::", "32"), ("garbage", "56"), ("2a01::", "x"),
    ("2a01:4f8:1:200::1", "56"),  # host bits set
    ("2a01:4f8:1:200::/48", "56"),  # two lengths
    ("2a01:4f8:1:200::", "96"),  # narrower than the Pi's /64: it cannot hold it
])
def test_unusable_ipv6_prefixes_never_reach_the_lambda(home, prefix):
    home.ipv6 = prefix
    done = home.run()
    assert done.returncode == 1, done.stdout
    assert home.payloads == [{"ipv4": "8.8.8.8/32"}]


@pytest.mark.parametrize("own", [
    [],  # no global address: IPv6 off on the Pi
    ["fe80::1", "fd00::1"],
    ["2a01:4f8:1:200::5", "2a01:4f8:1:2ff::5"],  # in two networks of the prefix: which one?
])
def test_ipv6_needs_exactly_one_of_the_pis_own_networks_in_the_prefix(home, own):
    home.own_ipv6 = own
    done = home.run()
    assert done.returncode == 1, done.stdout
    assert home.payloads == [{"ipv4": "8.8.8.8/32"}]


def test_a_prefix_the_fritzbox_writes_in_cidr_notation_is_understood(home):
    home.ipv6 = ("2a01:4f8:1:200::/56", "56")
    assert home.run().returncode == 0
    assert home.payloads == [{"ipv4": "8.8.8.8/32", "ipv6_prefix": HOME_LAN}]


def test_a_line_without_an_ipv6_prefix_sends_ipv4_and_is_fine(home):
    home.ipv6 = ("", "0")
    done = home.run()
    assert done.returncode == 0 and home.payloads == [{"ipv4": "8.8.8.8/32"}]


def test_the_echo_services_json_answers_are_understood(home):
    home.write_config(ipv6="no")
    home.echo = '{"ip": "8.8.8.8"}'
    assert home.run().returncode == 0 and home.payloads == [{"ipv4": "8.8.8.8/32"}]


def test_nothing_reachable_fails(home):
    home.write_config(fritzbox_url="http://127.0.0.1:9", echo=False)
    done = home.run()
    assert done.returncode != 0 and home.payloads == []


# --- the Lambda's answer ----------------------------------------------------------------------

def test_lambda_refusal_fails_keeps_state_and_retries(home):
    home.lambda_answer = lambda event: {"statusCode": 400, "error": "ipv4: not globally routable"}
    done = home.run()
    assert done.returncode == 2 and "refused" in done.stdout
    assert not home.state.exists() and len(home.payloads) == 1
    home.lambda_answer = lambda event: {"statusCode": 200, "changed": False}
    assert home.run().returncode == 0
    assert len(home.payloads) == 2 and home.state.exists()


def test_unreachable_lambda_fails_and_keeps_state(home):
    home.run()
    before = home.state.read_text()
    home.ipv4 = home.echo = "1.1.1.1"
    home.lambda_server.close()
    done = home.run()
    assert done.returncode == 2 and home.state.read_text() == before


def test_a_throttled_reassert_fails_keeps_state_and_the_next_run_retries(home):
    """With one execution at a time, a flood with a stolen key throttles the agent's calls."""
    home.run()
    home.age_state(REASSERT_SECONDS)
    before = home.state.read_text()
    home.lambda_answer = throttled
    done = home.run()
    assert done.returncode == 2 and "TooManyRequestsException" in done.stdout, done.stdout
    assert home.state.read_text() == before
    # The agent's retries={"max_attempts": 2}: two retries after the first try
    # (botocore/config.py: max_attempts counts the retries, total_max_attempts every try).
    assert len(home.payloads) == 1 + 3
    home.lambda_answer = lambda event: {"statusCode": 200, "changed": False}
    done = home.run()
    assert done.returncode == 0 and "re-asserted" in done.stdout and len(home.payloads) == 5


# --- the group converges (the real handler against moto's EC2) -------------------------------

def test_a_stale_seed_and_a_change_made_with_a_copied_key_are_undone_at_the_next_reassert(
        home, aws_group):
    ec2, group_id = aws_group
    ip_guard.seed_handler({"ipv4": "5.5.5.5/32"}, None)  # `pulumi up` with last year's address
    assert home.run().returncode == 0
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32", HOME_LAN)
    ip_guard.handler({"ipv4": "6.6.6.6", "ipv6_prefix": "2a01:4f8:6::/48"}, None)  # a thief
    ip_guard.seed_handler({"ipv4": "5.5.5.5/32"}, None)
    assert "6.6.6.6/32" in ingress(ec2, group_id)[("tcp", 22, 22)]
    home.age_state(REASSERT_SECONDS)
    done = home.run()
    assert done.returncode == 0 and "re-asserted" in done.stdout and "changed=True" in done.stdout
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32", HOME_LAN)


def test_on_a_shared_line_the_ipv4_rules_are_left_alone_and_named(home, aws_group):
    """A DS-Lite line's owner may have seeded the carrier's address on purpose (OpenDTU has
    only IPv4): the agent neither opens nor removes IPv4 there, and says what the group keeps."""
    ec2, group_id = aws_group
    ip_guard.seed_handler({"ipv4": "5.5.5.5/32"}, None)
    home.ipv4 = "192.0.0.2"
    done = home.run()
    assert done.returncode == 0, done.stdout
    assert ingress(ec2, group_id) == on_every_port("5.5.5.5/32", HOME_LAN)
    assert "left alone" in done.stdout and "ipv4 5.5.5.5/32" in done.stdout


def test_config_errors_are_one_line(home, tmp_path):
    broken = tmp_path / "broken.ini"
    broken.write_text("[aws]\nregion = eu-central-1\n")
    done = subprocess.run([sys.executable, str(AGENT), "--config", str(broken), "--once"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 3 and "config error" in done.stdout and done.stderr == ""


def test_every_network_call_has_a_timeout():
    source = AGENT.read_text()
    assert "_OPENER.open(request, timeout=TIMEOUT_SECONDS)" in source
    assert "connect_timeout=TIMEOUT_SECONDS" in source and "read_timeout=" in source


def test_installer_passes_shellcheck():
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    done = subprocess.run([shellcheck, str(ROOT / "pi" / "install.sh")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    for unit in ("solarmonitor-ip-agent.service", "solarmonitor-ip-agent.timer"):
        text = (ROOT / "pi" / unit).read_text()
        # The venv exists only on the Pi; verify everything else against this machine's python.
        text = text.replace("/opt/solarmonitor-ip-agent/venv/bin/python", sys.executable)
        (tmp_path / unit).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 0 and problems == [], problems
    timer = (ROOT / "pi" / "solarmonitor-ip-agent.timer").read_text()
    assert "OnUnitActiveSec=1min" in timer
    service = (ROOT / "pi" / "solarmonitor-ip-agent.service").read_text()
    assert "After=network-online.target" in service and "--once" in service
