#!/usr/bin/env python3
"""solarmonitor IP agent: keeps the AWS home security group on this home's public address.

Run every minute by solarmonitor-ip-agent.timer: detects the public IPv4 (FritzBox UPnP, then
the fallback echo URLs) and the delegated IPv6 prefix (FritzBox), validates both, and invokes the
IpGuard Lambda only when they differ from what the Lambda last acknowledged (and once a day even
when unchanged, which repairs hand edits). Prints one line per run.

Exit codes: 0 fine; 1 detection failed; 2 the Lambda refused or could not be called; 3 bad config.
Standard library plus boto3; Python 3.11 (Raspberry Pi OS).
"""

from __future__ import annotations

import argparse
import configparser
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
REASSERT_SECONDS = 24 * 3600
WAN_IP_PATH = "/igdupnp/control/WANIPConn1"
WAN_IP_SERVICE = "urn:schemas-upnp-org:service:WANIPConnection:1"
EXIT_OK, EXIT_DETECTION, EXIT_LAMBDA, EXIT_CONFIG = 0, 1, 2, 3


class DetectionError(Exception):
    """The home's address could not be determined safely."""


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
    return Settings(
        region=region, function_name=function_name,
        access_key_id=aws.get("access_key_id", "").strip() or None,
        secret_access_key=aws.get("secret_access_key", "").strip() or None,
        endpoint_url=aws.get("endpoint_url", "").strip() or None,
        fritzbox_url=str(detect.get("fritzbox_url", "http://fritz.box:49000")).strip().rstrip("/"),
        ipv4_urls=[u for u in re.split(r"[\s,]+", str(detect.get("ipv4_urls", ""))) if u],
        ipv6=ipv6 in ("yes", "true", "1"), state_path=state_path)


# --- detection ---------------------------------------------------------------------------------

def _http(url: str, data: bytes | None = None, headers: dict | None = None) -> str:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
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


def detect_ipv4(settings: Settings) -> tuple[str | None, str]:
    """(the public IPv4 /32 or None on a DS-Lite line, where it came from)."""
    try:
        answer = fritzbox_call(settings.fritzbox_url, "GetExternalIPAddress")
    except (OSError, DetectionError, ValueError):
        answer = None  # no FritzBox (or not reachable): ask the echo services
    if answer is not None and "NewExternalIPAddress" in answer:
        address = answer["NewExternalIPAddress"].strip()
        if address in ("", "0.0.0.0") or _is_cgnat(address):
            # DS-Lite: the line has no public IPv4 of its own. An echo service would name the
            # carrier's shared address, which must never be opened, so send only IPv6.
            return None, "fritzbox (DS-Lite, no public IPv4)"
        try:
            return normalise_ipv4(address), "fritzbox"
        except AddressError:
            pass  # e.g. a FritzBox behind another router: its WAN address is private
    problems = []
    for url in settings.ipv4_urls:
        try:
            text = _http(url).strip()
            if text.startswith("{"):  # e.g. {"ip": "..."} from ?format=json services
                text = json.loads(text).get("ip", "")
            return normalise_ipv4(text), url
        except (OSError, ValueError, AttributeError, AddressError) as error:
            problems.append(f"{url}: {str(error)[:80]}")
    raise DetectionError("no valid public IPv4: " + ("; ".join(problems) or "no fallback URL"))


def _is_cgnat(address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in CGNAT
    except ValueError:
        return False


class Unreachable(DetectionError):
    """The FritzBox did not answer at all (there may be none)."""


def detect_ipv6(settings: Settings) -> str | None:
    """The delegated prefix, or None when the line has none right now."""
    try:
        answer = fritzbox_call(settings.fritzbox_url, "X_AVM_DE_GetIPv6Prefix")
    except (OSError, ValueError) as error:
        raise Unreachable(f"FritzBox did not answer for the IPv6 prefix ({error})") from None
    prefix = answer.get("NewIPv6Prefix", "").strip()
    length = answer.get("NewPrefixLength", "").strip()
    if not prefix or prefix == "::":
        return None
    if not length.isdigit():
        raise DetectionError(f"FritzBox gave IPv6 prefix {prefix!r} without a valid length")
    try:
        return normalise_ipv6_prefix(f"{prefix}/{length}")
    except AddressError as error:
        raise DetectionError(str(error)) from None


def detect(settings: Settings) -> tuple[dict[str, str], str]:
    """The Lambda event for the current addresses (validated), and a note on their source.

    A bad value from any source fails the run. Only an unreachable FritzBox is tolerated for
    IPv6, when IPv4 came from an echo service (a home without a FritzBox).
    """
    ipv4, source = detect_ipv4(settings)
    ipv6 = None
    if settings.ipv6:
        try:
            ipv6 = detect_ipv6(settings)
        except Unreachable as error:
            if ipv4 is None:
                raise
            source += f"; no IPv6: {error}"
    event = {key: value for key, value in (("ipv4", ipv4), ("ipv6_prefix", ipv6)) if value}
    if not event:
        raise DetectionError(f"neither a public IPv4 nor an IPv6 prefix ({source})")
    return event, source


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


def run_once(settings: Settings, now: float | None = None) -> int:
    now = time.time() if now is None else now
    try:
        event, source = detect(settings)
    except DetectionError as error:
        print(f"detection failed: {error}; nothing sent")
        return EXIT_DETECTION
    state = read_state(settings.state_path)
    if not needs_invoke(state, event, now):
        print(f"unchanged {describe(event)} (from {source})")
        return EXIT_OK
    try:
        answer = invoke(settings, event)
    except Exception as error:  # boto3 raises many types; any of them means "not acknowledged"
        print(f"lambda call failed for {describe(event)}: {type(error).__name__}: {error}")
        return EXIT_LAMBDA
    if answer.get("statusCode") != 200:
        print(f"lambda refused {describe(event)}: {answer.get('error', answer)}")
        return EXIT_LAMBDA
    write_state(settings.state_path, event, now)
    what = "updated" if state.get("event") != event else "re-asserted"
    print(f"{what} {describe(event)} (from {source}; changed={answer.get('changed')})")
    return EXIT_OK


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
