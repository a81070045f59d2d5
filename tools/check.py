"""make check: proves, after `make deploy`, that the whole path works, before the hardware is
installed. Each step prints ✓ or ✗ with the reason, and a hint when it fails; the exit status is
1 when any step fails (– marks a step that does not apply).

  1. The home security group holds this machine's current public IPv4 (the broker is reached over
     IPv4: OpenDTU has no IPv6), and, when Grafana is served over IPv6 only, this machine's IPv6.
  2. The broker answers TLS on mqttHost, verified with caCert as OpenDTU verifies it, and accepts
     make check's own login (checkMqttPassword). Never OpenDTU's: the broker keys sessions by
     username, so a second login as OpenDTU would end the real OpenDTU's session.
  3. Grafana's InfluxDB datasource is healthy (Grafana's API, admin password).
  4. A probe published the way OpenDTU publishes (QoS 0, over TLS to mqttHost; with make check's
     login, which may publish the probe and nothing else, to <prefix>/solarmonitor/probe)
     reaches InfluxDB: read back through Grafana's /api/ds/query. Telegraf writes it to its own
     measurement, solarmonitor_probe, never to real data.
  5. The dashboard is provisioned.
  6. With alerts on: the rules are provisioned and the email subscription is confirmed.
  7. Every certificate the stack issued has more than its first warning's days left: the
     broker's and Grafana's as they are served (and the ones the stack issued), the CA's and
     InfluxDB's as issued (certificateExpiry).

Grafana is verified with grafanaCert, its own certificate, as the browser verifies it.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import json
import random
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.alert_rules import RULES  # noqa: E402
from components.certificates import ISSUED, RENEWAL_DAYS, WARN_DAYS  # noqa: E402
from components.grafana_node import DATASOURCE_UID, PORT as GRAFANA_PORT  # noqa: E402
from components.mqtt_users import CHECK  # noqa: E402
from components.opendtu_data import PROBE  # noqa: E402
from home_address import AddressError, normalise_ipv4, normalise_ipv6_prefix  # noqa: E402
from tools.opendtu_mqtt import connect, opendtu_client  # noqa: E402
from tools.stack_outputs import OutputsError, load_outputs, opendtu_settings  # noqa: E402
from tools.stack_file import StackError, add_stack_arguments, stack_from  # noqa: E402

ECHO_URL = "https://checkip.amazonaws.com"
# Any global IPv6 address does: connecting a UDP socket sends nothing, it only makes the kernel
# pick the source address it would use to reach the internet (no NAT in IPv6: that address is
# this machine's public one).
GLOBAL_IPV6_DESTINATION = "2001:4860:4860::8888"
DASHBOARD_UID = "solarmonitor-opendtu"
BROKER_PORT_FROM_HOME = 8883
PASS, FAIL, SKIP = "✓", "✗", "–"


@dataclass(frozen=True)
class Result:
    mark: str
    step: str
    reason: str
    hint: str = ""

    def lines(self) -> list[str]:
        return [f"{self.mark} {self.step}: {self.reason}"] + (
            [f"    hint: {self.hint}"] if self.mark == FAIL and self.hint else [])


def passed(step: str, reason: str) -> Result:
    return Result(PASS, step, reason)


def failed(step: str, reason: str, hint: str) -> Result:
    return Result(FAIL, step, reason, hint)


# --- 1. the home's address ----------------------------------------------------------------------

def public_ipv6_of_this_machine(destination: str = GLOBAL_IPV6_DESTINATION) -> str | None:
    """The global IPv6 address this machine reaches `destination` from, or None without one."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect((destination, 53))
            address = probe.getsockname()[0].split("%")[0]
        return normalise_ipv6_prefix(f"{address}/128").removesuffix("/128")
    except (OSError, AddressError):
        return None


def _group_ranges(permissions: list[dict], port: int, ranges: str, key: str) -> list[str]:
    return [r.get(key) for rule in permissions
            if rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535)
            for r in rule.get(ranges, []) if r.get(key)]


def served_over_ipv6(url: str, resolve=socket.getaddrinfo) -> bool:
    """Whether the host of a https://host:port/ URL is reachable over IPv6 only: Grafana without
    a public IPv4 (issue 15), named by its bracketed address or by grafana.<domain>."""
    host = urllib.parse.urlsplit(url).hostname
    try:
        families = {info[0] for info in resolve(host, None, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return False  # the Grafana steps say why it cannot be reached
    return families == {socket.AF_INET6}


def home_address_allowed(ec2, group_id: str, echo_url: str = ECHO_URL,
                         grafana_url: str = "", ipv6_of_this_machine=public_ipv6_of_this_machine
                         ) -> Result:
    step = "home address"
    try:
        with urllib.request.urlopen(echo_url, timeout=10) as answer:
            address = normalise_ipv4(answer.read().decode().strip())
    except (OSError, ValueError, AddressError) as error:
        return failed(step, f"cannot tell this machine's public IPv4 from {echo_url}: {error}",
                      "run make check from the home network, with internet access")
    try:
        group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    except Exception as error:  # botocore's errors: credentials, permissions, a wrong id
        return failed(step, f"cannot read security group {group_id}: {error}",
                      "set AWS credentials for the stack's account (as for make deploy)")
    permissions = group.get("IpPermissions", [])
    if address not in _group_ranges(permissions, BROKER_PORT_FROM_HOME, "IpRanges", "CidrIp"):
        return failed(step, f"the home group {group_id} does not hold {address}",
                      "the Pi agent updates it within a minute of a change: is it running "
                      "(systemctl status solarmonitor-ip-agent.timer)? Or run make deploy from home")
    if not served_over_ipv6(grafana_url):
        return passed(step, f"{address} may reach the broker and Grafana")
    ipv6 = ipv6_of_this_machine()
    if ipv6 is None:
        return failed(step, f"{address} may reach the broker, but Grafana is served over IPv6 "
                            "and this machine has no global IPv6 address",
                      "run make check from the home network with IPv6 on, or give Grafana an "
                      "IPv4 (solarmonitor:nodes.grafana.publicIpv4: true, then make deploy)")
    prefixes = _group_ranges(permissions, GRAFANA_PORT, "Ipv6Ranges", "CidrIpv6")
    if not any(ipaddress.IPv6Address(ipv6) in ipaddress.IPv6Network(p) for p in prefixes):
        return failed(step, f"{address} may reach the broker, but the home group {group_id} "
                            f"holds no IPv6 prefix with {ipv6} "
                            f"({', '.join(prefixes) or 'none at all'})",
                      "the Pi agent sends the FritzBox's IPv6 prefix ([detect] ipv6 = yes): is "
                      "it running? Or put the home's prefix in solarmonitor:homeCidrs and run "
                      "make deploy")
    return passed(step, f"{address} may reach the broker and {ipv6} Grafana (IPv6)")


# --- 2. the broker --------------------------------------------------------------------------------

def check_settings(outputs: dict) -> dict:
    """OpenDTU's settings page with make check's own login in place of OpenDTU's."""
    for output in ("checkMqttPassword", "grafanaCert"):
        if not outputs.get(output):
            raise OutputsError(f"the outputs have no {output}: run make deploy (this version "
                               "adds it), and read them with --show-secrets")
    return {**opendtu_settings(outputs), "Username": CHECK.name,
            "Password": outputs["checkMqttPassword"]}


def connect_as_check(settings: dict, timeout: float = 10):
    """(client, None) connected as OpenDTU connects, with make check's login (no will: the check
    must not speak for the DTU), or (None, why not)."""
    client = opendtu_client(settings, f"solarmonitor-check-{random.randrange(16**6):06x}")
    problem = connect(client, settings, timeout)
    return (None, problem) if problem else (client, None)


def broker_accepts_check_login(settings: dict) -> Result:
    step = "broker"
    client, problem = connect_as_check(settings)
    if client is None:
        hint = ("the certificate does not verify: type caCert into OpenDTU's CA-Root-Certificate "
                "field and mqttHost into Hostname" if problem.startswith("TLS") else
                "check the password (checkMqttPassword)" if "refused the login" in problem else
                "is this machine's address in the home group (step 1)? Is the broker up "
                "(EC2 console, make deploy)?")
        return failed(step, problem, hint)
    client.disconnect()
    client.loop_stop()
    return passed(step, f"TLS to {settings['Hostname']}:{settings['Port']} verified with caCert "
                        "as OpenDTU verifies it; make check's login accepted")


# --- 3-6. Grafana -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grafana:
    url: str  # https://host:3000/
    password: str
    trusted_cert: str  # grafanaCert: Grafana's own certificate, as the browser trusts it

    def request(self, path: str, body: dict | None = None, timeout: float = 15) -> tuple[int, object]:
        context = ssl.create_default_context(cadata=self.trusted_cert)
        token = base64.b64encode(f"admin:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")[:200]


def _unreachable(step: str, error: Exception) -> Result:
    return failed(step, f"Grafana does not answer: {error}",
                  "is this machine's address in the home group (step 1)? Grafana's node up "
                  "(make logs NODE=grafana)?")


def datasource_healthy(grafana: Grafana) -> Result:
    step = "InfluxDB datasource"
    try:
        status, body = grafana.request(f"/api/datasources/uid/{DATASOURCE_UID}/health")
    except (OSError, ValueError) as error:
        return _unreachable(step, error)
    if status == 401:
        return failed(step, "Grafana refused the admin password",
                      "use grafanaAdminPassword from the outputs (make deploy resets it)")
    if status == 200 and isinstance(body, dict) and body.get("status") == "OK":
        return passed(step, f"healthy ({body.get('message', 'OK')})")
    return failed(step, f"not healthy: HTTP {status} {body}",
                  "InfluxDB or its token: run make deploy again, then look at "
                  "make logs NODE=influx")


def probe_query(bucket: str, nonce: float) -> str:
    return (f'from(bucket: {json.dumps(bucket)}) |> range(start: -15m) '
            f'|> filter(fn: (r) => r._measurement == "{PROBE.landing.measurement}" '
            f'and r._field == "{PROBE.landing.field}" and r._value == {nonce!r})')


def frames_hold(body: object, nonce: float) -> bool:
    """Whether Grafana's /api/ds/query answer holds the value `nonce`."""
    if not isinstance(body, dict):
        return False
    for result in body.get("results", {}).values():
        for frame in result.get("frames", []):
            for column in frame.get("data", {}).get("values", []):
                if any(isinstance(v, (int, float)) and v == nonce for v in column):
                    return True
    return False


def probe_arrives(settings: dict, grafana: Grafana, bucket: str, wait: float = 90,
                  poll: float = 5) -> Result:
    step = "probe to InfluxDB"
    nonce = float(random.randrange(1, 2**31))
    client, problem = connect_as_check(settings)
    if client is None:
        return failed(step, f"cannot publish: {problem}", "fix the broker step first")
    topic = settings["Base Topic"] + PROBE.topic
    client.publish(topic, repr(nonce), qos=0, retain=False).wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()
    query = {"queries": [{"refId": "probe", "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
                          "query": probe_query(bucket, nonce)}],
             "from": "now-15m", "to": "now"}
    deadline = time.monotonic() + wait
    while True:
        try:
            status, body = grafana.request("/api/ds/query", query)
        except (OSError, ValueError) as error:
            return _unreachable(step, error)
        if status == 200 and frames_hold(body, nonce):
            return passed(step, f"published {nonce:.0f} to {topic} at QoS 0; Grafana reads it "
                                "back from InfluxDB")
        if time.monotonic() >= deadline:
            return failed(step, f"{nonce:.0f} published to {topic} did not arrive within "
                                f"{wait:.0f} s (last answer: HTTP {status})",
                          "Telegraf: make logs NODE=telegraf; the broker: make logs NODE=mqtt")
        time.sleep(poll)


def dashboard_provisioned(grafana: Grafana) -> Result:
    step = "dashboard"
    try:
        status, body = grafana.request(f"/api/dashboards/uid/{DASHBOARD_UID}")
    except (OSError, ValueError) as error:
        return _unreachable(step, error)
    if status == 200 and isinstance(body, dict):
        return passed(step, f"\"{body.get('dashboard', {}).get('title')}\" is provisioned")
    return failed(step, f"not found: HTTP {status}",
                  "Grafana reads /etc/grafana/dashboards at start: run make deploy again")


def alerts_provisioned(grafana: Grafana, sns, topic_arn: str | None) -> Result:
    step = "alerts"
    if topic_arn is None:
        return Result(SKIP, step, "off (set solarmonitor:alertEmail to have them)")
    try:
        status, body = grafana.request("/api/v1/provisioning/alert-rules")
    except (OSError, ValueError) as error:
        return _unreachable(step, error)
    expected = {rule.name for rule in RULES if not rule.batteries}
    have = {rule.get("uid") for rule in body} if status == 200 and isinstance(body, list) else set()
    if not expected <= have:
        return failed(step, f"rules missing in Grafana: {', '.join(sorted(expected - have))}",
                      "Grafana reads /etc/grafana/provisioning/alerting at start: run make "
                      "deploy again, then journalctl -u grafana-server")
    try:
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    except Exception as error:  # botocore's errors
        return failed(step, f"cannot read the topic's subscriptions: {error}",
                      "set AWS credentials for the stack's account (as for make deploy)")
    emails = [s for s in subscriptions if s.get("Protocol") == "email"]
    if not any(s.get("SubscriptionArn", "").startswith("arn:") for s in emails):
        return failed(step, "the email subscription is not confirmed"
                      if emails else "the topic has no email subscription",
                      "click the link in AWS's \"Subscription Confirmation\" email (look in "
                      "spam); make deploy sends a new one if it expired")
    return passed(step, f"{len(have & {r.name for r in RULES})} rules provisioned; "
                        f"email to {emails[0].get('Endpoint')} confirmed")


# --- 7. certificates ----------------------------------------------------------------------------

def served_certificate_end(host: str, port: int, trust_pem: str,
                           timeout: float = 10) -> datetime.datetime:
    """When the certificate `host:port` serves ends, verified against `trust_pem` for `host`."""
    context = ssl.create_default_context(cadata=trust_pem)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            not_after = tls.getpeercert()["notAfter"]
    return datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after),
                                           datetime.timezone.utc)


def _instant(rfc3339: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))


def certificates_last(outputs: dict, settings: dict, now: datetime.datetime | None = None,
                      served=served_certificate_end) -> Result:
    step = "certificates"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        ends = {issued.key: _instant(outputs["certificateExpiry"][issued.key])
                for issued in ISSUED}
    except (KeyError, TypeError, ValueError):
        return failed(step, "the outputs have no certificateExpiry for every certificate",
                      "run make deploy (this version reports when each certificate ends)")
    grafana = urllib.parse.urlsplit(outputs["grafanaUrl"])
    problems = []
    for key, host, port, trust in (
            ("mqtt", settings["Hostname"], int(settings["Port"]), outputs["caCert"]),
            ("grafana", grafana.hostname, grafana.port or 443, outputs["grafanaCert"])):
        label = next(issued.label for issued in ISSUED if issued.key == key)
        try:
            served_end = served(host, port, trust)
        except (OSError, ssl.SSLError) as error:
            problems.append(f"cannot read the {label}'s certificate on {host}:{port}: {error}")
            continue
        if abs(served_end - ends[key]) > datetime.timedelta(minutes=1):
            problems.append(f"the {label} serves a certificate ending {served_end:%Y-%m-%d}, "
                            f"not the one the stack issued (ending {ends[key]:%Y-%m-%d})")
        ends[key] = served_end
    if problems:
        return failed(step, "; ".join(problems), "make deploy installs the certificates the "
                      "stack issued; is this machine's address in the home group (step 1)?")
    days = {issued: (ends[issued.key] - now).days for issued in ISSUED}
    report = ", ".join(f"{issued.label} {left}" if left >= 0 else f"{issued.label} ended"
                       for issued, left in days.items())
    soon = [issued for issued, left in days.items() if left < WARN_DAYS[0]]
    if soon:
        return failed(step, f"days left: {report}; {', '.join(i.what for i in soon)} "
                            f"{'ends' if len(soon) == 1 else 'end'} in less than "
                            f"{WARN_DAYS[0]} days",
                      f"make deploy renews every certificate in its last {RENEWAL_DAYS} days; "
                      f"then {'; '.join(i.after_renewal for i in soon)}")
    return passed(step, f"days left: {report}")


# --- the whole check -----------------------------------------------------------------------------

def run_checks(outputs: dict, ec2, sns, echo_url: str = ECHO_URL, bucket: str = "hoymiles",
               probe_wait: float = 90) -> list[Result]:
    settings = check_settings(outputs)
    grafana = Grafana(outputs["grafanaUrl"], outputs["grafanaAdminPassword"],
                      outputs["grafanaCert"])
    return [
        home_address_allowed(ec2, outputs["securityGroupId"], echo_url, outputs["grafanaUrl"]),
        broker_accepts_check_login(settings),
        datasource_healthy(grafana),
        probe_arrives(settings, grafana, bucket, wait=probe_wait),
        dashboard_provisioned(grafana),
        alerts_provisioned(grafana, sns, outputs.get("alertTopicArn")),
        certificates_last(outputs, settings),
    ]


def stack_bucket(config: Path) -> str:
    """The raw bucket from the stack's config file (default hoymiles)."""
    import yaml
    try:
        values = (yaml.safe_load(config.read_text()) or {}).get("config", {})
    except (OSError, yaml.YAMLError):
        values = {}
    return str(values.get("solarmonitor:influxBucket", "hoymiles"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi)")
    add_stack_arguments(parser)
    parser.add_argument("--echo-url", default=ECHO_URL)
    parser.add_argument("--probe-wait", type=float, default=90,
                        help="seconds to wait for the probe (Telegraf writes every 10 s)")
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options)
        outputs = load_outputs(options.outputs, stack.name)
        check_settings(outputs)
    except (OutputsError, StackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    import configparser

    import boto3
    pi = configparser.ConfigParser()
    pi.read_string(outputs.get("piAgentConfig", ""))
    session = boto3.Session(region_name=pi.get("aws", "region", fallback=None))
    results = run_checks(outputs, session.client("ec2"), session.client("sns"), options.echo_url,
                         stack_bucket(stack.config_file), options.probe_wait)
    for result in results:
        print("\n".join(result.lines()))
    failures = sum(r.mark == FAIL for r in results)
    print(f"\n{len(results) - failures} of {len(results)} steps passed" if failures else
          "\nEverything works: install OpenDTU (openDtuSettings) and watch the dashboard fill.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
