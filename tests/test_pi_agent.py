"""The Pi agent, run as a subprocess against local servers on loopback: a fake FritzBox (SOAP),
an echo service, and a Lambda invoke endpoint that records payloads (boto3 with endpoint_url)."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from loopback_http import Server

AGENT = ROOT / "pi" / "ip_agent.py"


def soap(action: str, values: dict) -> str:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in values.items())
    return ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<s:Body><u:{action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">'
            f"{inner}</u:{action}Response></s:Body></s:Envelope>")


class Home:
    """The fake world around the agent; tests change its answers between runs."""

    def __init__(self, tmp_path):
        self.ipv4 = "8.8.8.8"  # what the FritzBox says; a raw body when it starts with "<" or "!"
        self.ipv6 = ("2a01:4f8:1:200::", "56")
        self.echo = "9.9.9.9\n"
        self.lambda_status = 200
        self.payloads = []
        self.fritzbox = Server(self._fritzbox)
        self.echo_server = Server(lambda *a: (200, {"Content-Type": "text/plain"}, self.echo))
        self.lambda_server = Server(self._lambda)
        self.state = tmp_path / "state" / "state.json"
        self.config = tmp_path / "agent.ini"
        self.write_config()

    def write_config(self, fritzbox_url=None, ipv6="yes", echo=True):
        self.config.write_text(f"""[aws]
region = eu-central-1
function_name = ipguard-test
access_key_id = AKIAEXAMPLE
secret_access_key = example-secret
endpoint_url = {self.lambda_server.url}

[detect]
fritzbox_url = {fritzbox_url or self.fritzbox.url}
ipv4_urls = {self.echo_server.url + "/ip" if echo else ""}
ipv6 = {ipv6}

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
        self.payloads.append(json.loads(body))
        if self.lambda_status == 200:
            answer = {"statusCode": 200, "changed": True}
        else:
            answer = {"statusCode": 400, "error": "ipv4: not globally routable"}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    def run(self, *extra):
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.config.parent),
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
               "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "NO_PROXY": "*"}
        done = subprocess.run([sys.executable, str(AGENT), "--config", str(self.config), "--once",
                               *extra], capture_output=True, text=True, timeout=60, env=env)
        assert len(done.stdout.strip().splitlines()) == 1, done.stdout + done.stderr
        return done

    def close(self):
        for server in (self.fritzbox, self.echo_server, self.lambda_server):
            server.close()


@pytest.fixture
def home(tmp_path):
    world = Home(tmp_path)
    yield world
    world.close()


def test_first_run_invokes_once_with_both_families(home):
    done = home.run()
    assert done.returncode == 0, done.stdout
    assert home.payloads == [{"ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:200::/56"}]
    assert json.loads(home.state.read_text())["event"] == home.payloads[0]
    assert "updated" in done.stdout


def test_unchanged_addresses_do_not_invoke(home):
    home.run()
    done = home.run()
    assert done.returncode == 0 and len(home.payloads) == 1 and "unchanged" in done.stdout


@pytest.mark.parametrize("change", ["ipv4", "ipv6"])
def test_a_changed_address_invokes_again(home, change):
    home.run()
    if change == "ipv4":
        home.ipv4 = "1.1.1.1"
    else:
        home.ipv6 = ("2a01:4f8:9:900::", "56")
    assert home.run().returncode == 0
    assert len(home.payloads) == 2
    assert home.payloads[1] == {"ipv4": "1.1.1.1/32" if change == "ipv4" else "8.8.8.8/32",
                                "ipv6_prefix": "2a01:4f8:9:900::/56" if change == "ipv6"
                                else "2a01:4f8:1:200::/56"}


def test_daily_reassert_even_when_unchanged(home):
    home.run()
    state = json.loads(home.state.read_text())
    state["acknowledged_at"] -= 25 * 3600
    home.state.write_text(json.dumps(state))
    done = home.run()
    assert done.returncode == 0 and len(home.payloads) == 2 and "re-asserted" in done.stdout


@pytest.mark.parametrize("fritzbox, echo", [
    ("!garbage", "garbage\n"),
    ("<html><body>Login</body></html>", "<html>502 Bad Gateway</html>"),
    ("192.168.178.20", "10.0.0.7"),
    ("not-an-ip", "100.64.3.4"),
    ("8.8.8.8; rm -rf /", "8.8.8.0/24"),
])
def test_bad_addresses_fail_without_invoking(home, fritzbox, echo):
    home.ipv4, home.echo = fritzbox, echo
    done = home.run()
    assert done.returncode != 0 and home.payloads == [] and not home.state.exists()
    assert "detection failed" in done.stdout


def test_cgnat_without_ipv6_fails_without_invoking(home):
    home.ipv4 = "100.64.12.34"
    home.write_config(ipv6="no")
    done = home.run()
    assert done.returncode != 0 and home.payloads == []


def test_ds_lite_sends_only_ipv6_and_never_the_carriers_address(home):
    for answer in ("", "100.80.1.2"):
        home.ipv4, home.payloads[:] = answer, []
        home.state.unlink(missing_ok=True)
        done = home.run()
        assert done.returncode == 0, done.stdout
        assert home.payloads == [{"ipv6_prefix": "2a01:4f8:1:200::/56"}]
    assert home.echo_server.requests == []


def test_bad_ipv6_prefix_fails_without_invoking(home):
    for prefix in (("fd00:1:2::", "48"), ("2a01:4f8::", "32"), ("garbage", "56"), ("2a01::", "x")):
        home.ipv6 = prefix
        done = home.run()
        assert done.returncode != 0 and home.payloads == [], prefix


def test_fritzbox_down_falls_back_to_the_echo_service(home):
    home.write_config(fritzbox_url="http://127.0.0.1:9", ipv6="yes")
    done = home.run()
    assert done.returncode == 0, done.stdout
    assert home.payloads == [{"ipv4": "9.9.9.9/32"}]
    assert "no IPv6" in done.stdout


def test_nothing_reachable_fails(home):
    home.write_config(fritzbox_url="http://127.0.0.1:9", echo=False)
    done = home.run()
    assert done.returncode != 0 and home.payloads == []


def test_lambda_refusal_fails_keeps_state_and_retries(home):
    home.lambda_status = 400
    done = home.run()
    assert done.returncode != 0 and "refused" in done.stdout
    assert not home.state.exists() and len(home.payloads) == 1
    home.lambda_status = 200
    assert home.run().returncode == 0
    assert len(home.payloads) == 2 and home.state.exists()


def test_unreachable_lambda_fails_and_keeps_state(home):
    home.run()
    before = home.state.read_text()
    home.ipv4 = "1.1.1.1"
    home.lambda_server.close()
    done = home.run()
    assert done.returncode != 0 and home.state.read_text() == before


def test_config_errors_are_one_line(home, tmp_path):
    broken = tmp_path / "broken.ini"
    broken.write_text("[aws]\nregion = eu-central-1\n")
    done = subprocess.run([sys.executable, str(AGENT), "--config", str(broken), "--once"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 3 and "config error" in done.stdout and done.stderr == ""


def test_every_network_call_has_a_timeout():
    source = AGENT.read_text()
    assert "urlopen(request, timeout=TIMEOUT_SECONDS)" in source
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


def test_fritzbox_answer_without_the_address_is_not_taken_for_ds_lite(home):
    home.ipv4 = "!" + soap("GetExternalIPAddress", {"NewSomethingElse": "x"})
    done = home.run()
    assert done.returncode == 0
    assert home.payloads == [{"ipv4": "9.9.9.9/32", "ipv6_prefix": "2a01:4f8:1:200::/56"}]


def test_echo_service_json_answers_are_understood(home):
    home.write_config(fritzbox_url="http://127.0.0.1:9", ipv6="no")
    home.echo = '{"ip": "9.9.9.9"}'
    assert home.run().returncode == 0 and home.payloads == [{"ipv4": "9.9.9.9/32"}]
