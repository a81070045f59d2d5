#!/usr/bin/env python3
"""solarmonitor IP agent: keeps the AWS home security group on this home's public address.

Run every minute by solarmonitor-ip-agent.timer. It sends the IpGuard Lambda only addresses that
two independent sources vouch for as the home's own:
- IPv4: the FritzBox's WAN address (UPnP `GetExternalIPAddress`) when it is globally routable
  AND an HTTPS echo service sees this Pi's traffic come from that same address. A carrier-NAT,
  DS-Lite or private WAN address, no FritzBox, or any disagreement: no IPv4 in the event, so the
  Lambda leaves the group's IPv4 rules as they are.
- IPv6: the /64 this Pi lives in (from the kernel's own global addresses) when it lies inside the
  prefix the FritzBox says was delegated to the home (`X_AVM_DE_GetIPv6Prefix`). The FritzBox's
  answer only confirms, it never widens: the rule is the /64, whatever length the FritzBox names.
The FritzBox is asked over plain HTTP, so a host on the LAN answering as fritz.box can at most
make the sources disagree (no change); it cannot choose the address.

It invokes the Lambda when the addresses differ from what the Lambda last acknowledged, and
re-asserts them every five minutes even when unchanged, so that a stale seed or a change made
with a copy of this Pi's key is undone within minutes. Prints one line per run.

Exit codes: 0 fine; 1 nothing confirmed, or a source failed or disagreed; 2 the Lambda refused
or could not be called (throttled included: the state is then not written, the next run retries);
3 bad config. Standard library plus boto3; Python 3.11 (Raspberry Pi OS).
"""

from __future__ import annotations

import argparse
import configparser
import http.client
import ipaddress
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]  # installed side by side, or in the repository
from home_address import (  # noqa: E402
    CGNAT, AddressError, normalise_ipv4, normalise_ipv6_prefix,
)

TIMEOUT_SECONDS = 5
MAX_BODY = 64 * 1024
# The timer starts a run every minute (give or take its 5 s accuracy): re-asserting after 4.5
# minutes makes every fifth run call the Lambda, 288 calls a day.
REASSERT_SECONDS = 270
WAN_IP_PATH = "/igdupnp/control/WANIPConn1"
WAN_IP_SERVICE = "urn:schemas-upnp-org:service:WANIPConnection:1"
# RFC 6333 section 5.7: IANA's range for the DS-Lite tunnel's own ends; the FritzBox's WAN side
# of a DS-Lite line is 192.0.0.2, the carrier's AFTR 192.0.0.1.
DS_LITE = ipaddress.IPv4Network("192.0.0.0/29")
# RFC 7421: a LAN that gives addresses by SLAAC is a /64, and so is every FritzBox LAN.
LAN_PREFIX_LENGTH = 64
EXIT_OK, EXIT_DETECTION, EXIT_LAMBDA, EXIT_CONFIG = 0, 1, 2, 3


class DetectionError(Exception):
    """A source gave no usable answer."""


@dataclass(frozen=True)
class Settings:
    region: str
    function_name: str
    access_key_id: str | None
    secret_access_key: str | None
    endpoint_url: str | None
    fritzbox_url: str
    ipv4_urls: list[str]
    ipv6: bool
    state_path: Path
    own_ipv6_file: Path


def load_settings(path: str) -> Settings:
    ini = configparser.ConfigParser()
    if not ini.read(path):
        raise ValueError(f"cannot read config file {path}")
    try:
        aws = ini["aws"]
        region, function_name = aws["region"].strip(), aws["function_name"].strip()
    except KeyError as missing:
        raise ValueError(f"{path}: missing setting {missing}") from None
    state = ini["state"] if ini.has_section("state") else {}
    # Left out: next to the config file.
    state_path = Path(str(state.get("path", "")).strip() or f"{path}.state.json")
    detect = ini["detect"] if ini.has_section("detect") else {}
    ipv6 = str(detect.get("ipv6", "yes")).strip().lower()
    if ipv6 not in ("yes", "no", "true", "false", "1", "0"):
        raise ValueError(f"{path}: [detect] ipv6 must be yes or no, got {ipv6!r}")
    ipv4_urls = [u for u in re.split(r"[\s,]+", str(detect.get("ipv4_urls", ""))) if u]
    for url in ipv4_urls:
        # Over plain HTTP anyone on the path could answer, and agree with a lying fritz.box.
        if not url.lower().startswith("https://"):
            raise ValueError(f"{path}: [detect] ipv4_urls: {url!r} must be an https:// URL")
    return Settings(
        region=region, function_name=function_name,
        access_key_id=aws.get("access_key_id", "").strip() or None,
        secret_access_key=aws.get("secret_access_key", "").strip() or None,
        endpoint_url=aws.get("endpoint_url", "").strip() or None,
        fritzbox_url=str(detect.get("fritzbox_url", "http://fritz.box:49000")).strip().rstrip("/"),
        ipv4_urls=ipv4_urls, ipv6=ipv6 in ("yes", "true", "1"), state_path=state_path,
        own_ipv6_file=Path(str(detect.get("own_ipv6_file", "")).strip() or "/proc/net/if_inet6"))


# --- detection ---------------------------------------------------------------------------------

# What a source that is down, absent or talking nonsense raises (http.client's protocol errors
# are not OSErrors).
_SOURCE_ERRORS = (OSError, ValueError, http.client.HTTPException, DetectionError)


@dataclass(frozen=True)
class Finding:
    """One family's outcome: the CIDR the sources agree on, or None and why not."""
    cidr: str | None
    note: str
    doubtful: bool = False
    """A source failed or the sources disagreed (worth a non-zero exit), rather than the line
    having no such address of its own."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Neither a FritzBox nor an echo service redirects; following one could take an https://
    question to a plain-HTTP answer. A redirect fails the request (urllib raises HTTPError)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _http(url: str, data: bytes | None = None, headers: dict | None = None) -> str:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
        return response.read(MAX_BODY).decode("utf-8", errors="replace")


def fritzbox_call(base_url: str, action: str) -> dict[str, str]:
    """One TR-064/UPnP SOAP action on the WANIPConnection service; its response arguments."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action} xmlns:u="{WAN_IP_SERVICE}"/></s:Body></s:Envelope>')
    body = _http(base_url + WAN_IP_PATH, envelope.encode(), {
        "Content-Type": 'text/xml; charset="utf-8"',
        "SOAPAction": f'"{WAN_IP_SERVICE}#{action}"'})
    values = dict(re.findall(r"<(?:\w+:)?(New\w+)>([^<]*)</(?:\w+:)?\1>", body))
    if not values:
        raise DetectionError(f"FritzBox gave no {action} answer")
    return values


def not_the_homes_own(address: str) -> str | None:
    """Why a (valid) IPv4 WAN address belongs to no home alone, or None when it is global."""
    ip = ipaddress.IPv4Address(address)
    if ip in DS_LITE:
        return f"DS-Lite: the FritzBox's WAN address {ip} is the tunnel's, the line has no IPv4"
    if ip in CGNAT:
        return (f"carrier-grade NAT: the FritzBox's WAN address {ip} is in 100.64.0.0/10, the "
                "public IPv4 is the carrier's, shared with other customers")
    try:
        normalise_ipv4(address)
    except AddressError:
        return (f"the FritzBox's WAN address {ip} is private: another router or the carrier's "
                "NAT sits in front of it, the public IPv4 is not the FritzBox's own")
    return None


def echo(url: str) -> str:
    """The public IPv4 an echo service sees this Pi's request come from, validated."""
    text = _http(url).strip()
    if text.startswith("{"):  # e.g. {"ip": "..."} from ?format=json services
        text = str(json.loads(text).get("ip", ""))
    return normalise_ipv4(text)


def detect_ipv4(settings: Settings) -> Finding:
    """The IPv4 /32 when the FritzBox's WAN address is global and an echo service agrees."""
    try:
        answer = fritzbox_call(settings.fritzbox_url, "GetExternalIPAddress")
        wan = answer["NewExternalIPAddress"].strip()
    except KeyError:
        return Finding(None, "the FritzBox's answer named no WAN address", doubtful=True)
    except _SOURCE_ERRORS as error:
        return Finding(None, f"no usable answer from a FritzBox at {settings.fritzbox_url} "
                             f"({error}); an echo service alone cannot tell the home's own "
                             "address from a shared one", doubtful=True)
    if wan in ("", "0.0.0.0"):
        return Finding(None, "the FritzBox has no IPv4 WAN address (a DS-Lite line)")
    try:
        shared = not_the_homes_own(wan)
    except ValueError:
        return Finding(None, f"the FritzBox's WAN address {wan[:64]!r} is not an IPv4 address",
                       doubtful=True)
    if shared:
        return Finding(None, shared)
    problems = []
    for url in settings.ipv4_urls:
        try:
            seen = echo(url)
        except (*_SOURCE_ERRORS, AttributeError) as error:
            problems.append(f"{url}: {str(error)[:80]}")
            continue
        if seen == normalise_ipv4(wan):
            return Finding(seen, f"the FritzBox and {url} agree")
        return Finding(None, f"the FritzBox says {wan} but {url} says {seen}", doubtful=True)
    return Finding(None, f"no echo service confirmed the FritzBox's {wan} ("
                         + ("; ".join(problems) or "no ipv4_urls") + ")", doubtful=True)


def own_lans(path: Path) -> set[ipaddress.IPv6Network]:
    """The /64 around each globally routable IPv6 address of this machine.

    `path` is in the format of Linux's /proc/net/if_inet6 (net/ipv6/addrconf.c,
    if6_seq_show: 32 hex digits of the address, then interface index, prefix length, scope,
    flags and name). The addresses come from the router's announcements to this very LAN."""
    lans = set()
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or not re.fullmatch(r"[0-9a-fA-F]{32}", fields[0]):
            continue
        address = ipaddress.IPv6Address(int(fields[0], 16))
        try:
            normalise_ipv6_prefix(f"{address}/128")
        except AddressError:
            continue  # link-local, unique-local and other addresses no one outside can see
        lans.add(ipaddress.IPv6Network(f"{address}/{LAN_PREFIX_LENGTH}", strict=False))
    return lans


def detect_ipv6(settings: Settings) -> Finding:
    """This Pi's /64 when it lies inside the prefix the FritzBox says was delegated."""
    if not settings.ipv6:
        return Finding(None, "ipv6 = no")
    try:
        answer = fritzbox_call(settings.fritzbox_url, "X_AVM_DE_GetIPv6Prefix")
    except _SOURCE_ERRORS as error:
        return Finding(None, f"no FritzBox answered for the IPv6 prefix ({error})", doubtful=True)
    prefix = answer.get("NewIPv6Prefix", "").strip()
    length = answer.get("NewPrefixLength", "").strip()
    # Some firmware writes the prefix in CIDR notation too ("2001:db8:8406:7600::/56", as
    # public FritzBox clients' test data shows); its length must then be NewPrefixLength.
    prefix, slash, inline = prefix.partition("/")
    if not prefix or prefix == "::":
        return Finding(None, "the FritzBox has no IPv6 prefix")
    try:
        if not length.isdigit() or (slash and inline != length):
            raise AddressError(f"IPv6 prefix {prefix[:64]!r} has no valid length")
        delegated = ipaddress.IPv6Network(normalise_ipv6_prefix(f"{prefix}/{length}"))
    except AddressError as error:
        return Finding(None, f"the FritzBox's answer is unusable: {error}", doubtful=True)
    try:
        lans = own_lans(settings.own_ipv6_file)
    except OSError as error:
        return Finding(None, f"cannot read this Pi's addresses: {error}", doubtful=True)
    inside = sorted(lan for lan in lans if lan.subnet_of(delegated))
    if len(inside) == 1:
        return Finding(str(inside[0]), f"this Pi's {inside[0]} lies in the FritzBox's {delegated}")
    if inside:
        return Finding(None, f"this Pi is in several networks of {delegated}: "
                             + ", ".join(map(str, inside)), doubtful=True)
    mine = ", ".join(map(str, sorted(lans))) or "none"
    return Finding(None, f"the FritzBox's {delegated} holds none of this Pi's global networks "
                         f"({mine})", doubtful=True)


def detect(settings: Settings) -> tuple[dict[str, str], str, bool]:
    """The Lambda event (only what both sources vouch for), a note per family, any doubt."""
    findings = {"ipv4": detect_ipv4(settings), "ipv6_prefix": detect_ipv6(settings)}
    event = {key: found.cidr for key, found in findings.items() if found.cidr}
    notes = "; ".join(f"{key.split('_')[0]}: {found.note}" for key, found in findings.items())
    notes = " ".join(notes.split())  # one journal line, whatever a source answered
    return event, notes, any(found.doubtful for found in findings.values())


# --- state and the Lambda ----------------------------------------------------------------------

def read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(path: Path, event: dict, now: float) -> None:
    """Atomically: a crash leaves the old state or the new one, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    with os.fdopen(descriptor, "w") as file:
        json.dump({"event": event, "acknowledged_at": now}, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def needs_invoke(state: dict, event: dict, now: float) -> bool:
    if state.get("event") != event:
        return True
    return now - float(state.get("acknowledged_at", 0)) >= REASSERT_SECONDS


def invoke(settings: Settings, event: dict) -> dict:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda", region_name=settings.region, endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
        config=Config(connect_timeout=TIMEOUT_SECONDS, read_timeout=30,
                      retries={"max_attempts": 2, "mode": "standard"}))
    response = client.invoke(FunctionName=settings.function_name,
                             InvocationType="RequestResponse", Payload=json.dumps(event).encode())
    body = response["Payload"].read().decode("utf-8", errors="replace")
    if response.get("FunctionError"):
        return {"statusCode": 500, "error": f"function error: {body[:200]}"}
    try:
        answer = json.loads(body)
    except ValueError:
        return {"statusCode": 500, "error": f"unreadable answer: {body[:200]}"}
    return answer if isinstance(answer, dict) else {"statusCode": 500, "error": "not an object"}


def describe(event: dict) -> str:
    return f"ipv4={event.get('ipv4', 'none')} ipv6={event.get('ipv6_prefix', 'none')}"


def left_alone(answer: dict, event: dict) -> str:
    """What the group still allows in a family the event left out, as the Lambda reported it."""
    kept = answer.get("kept")
    if not isinstance(kept, dict):
        return ""
    parts = [f"{key.split('_')[0]} {', '.join(map(str, cidrs))}" for key, cidrs in kept.items()
             if key not in event and isinstance(cidrs, list) and cidrs]
    return f"; the group still allows (left alone): {'; '.join(parts)}" if parts else ""


def run_once(settings: Settings, now: float | None = None) -> int:
    now = time.time() if now is None else now
    event, notes, doubtful = detect(settings)
    if not event:
        print(f"nothing sent: no address this home owns alone was confirmed ({notes})")
        return EXIT_DETECTION
    done = EXIT_DETECTION if doubtful else EXIT_OK
    state = read_state(settings.state_path)
    if not needs_invoke(state, event, now):
        print(f"unchanged {describe(event)} ({notes})")
        return done
    try:
        answer = invoke(settings, event)
    except Exception as error:  # boto3 raises many types; any of them means "not acknowledged"
        print(f"lambda call failed for {describe(event)}: {type(error).__name__}: {error}; "
              "the next run tries again")
        return EXIT_LAMBDA
    if answer.get("statusCode") != 200:
        print(f"lambda refused {describe(event)}: {answer.get('error', answer)}")
        return EXIT_LAMBDA
    write_state(settings.state_path, event, now)
    what = "updated" if state.get("event") != event else "re-asserted"
    print(f"{what} {describe(event)} (changed={answer.get('changed')}; {notes}"
          f"{left_alone(answer, event)})")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the agent's INI file")
    parser.add_argument("--once", action="store_true",
                        help="check once and exit (the systemd timer's way); else every minute")
    options = parser.parse_args(argv)
    try:
        settings = load_settings(options.config)
    except ValueError as error:
        print(f"config error: {error}")
        return EXIT_CONFIG
    if options.once:
        return run_once(settings)
    while True:
        run_once(settings)
        sys.stdout.flush()
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main())
