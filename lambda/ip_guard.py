"""IpGuard: keep the home security group open to the home's current public address only.

Event: {"ipv4": "<address or /32>", "ipv6_prefix": "<prefix>/<48..128>"}. A present key sets that
family's ingress on every guarded port to exactly that CIDR; an absent key leaves the family alone.
The new CIDR is authorized before any other CIDR of its family is revoked, so the home is never
without access, and rules added by hand for other CIDRs of that family are revoked too.
Bad input answers statusCode 400 and touches nothing (an IPv6 prefix with host bits set is bad
input: the error names the prefix meant); this handler never raises on bad input.
Rules this Lambda made on ports it no longer guards are revoked on every call. The answer's
`kept` names, per family absent from the event, every CIDR that still reaches a guarded port.

`seed_handler` is the deploy's entry point (a second function on the same code): it only adds,
so a seed from an out-of-date `homeCidrs` never takes away the address the Pi agent set since,
and it raises when the group was not set, so that `pulumi up` fails with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from home_address import AddressError, normalise_ipv4, normalise_ipv6_prefix

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

RULE_DESCRIPTION = "home (managed by solarmonitor IpGuard)"
_FAMILIES = {
    # event key: (normaliser, IpPermission list key, CIDR key)
    "ipv4": (normalise_ipv4, "IpRanges", "CidrIp"),
    "ipv6_prefix": (normalise_ipv6_prefix, "Ipv6Ranges", "CidrIpv6"),
}


class BadEvent(ValueError):
    """The event cannot be applied; the message says why."""


def parse_event(event: object) -> dict[str, str]:
    """The wanted CIDR per present family key, validated and normalised."""
    if not isinstance(event, dict):
        raise BadEvent(f"event must be a JSON object, got {type(event).__name__}")
    unknown = sorted(str(key) for key in event if key not in _FAMILIES)
    if unknown:
        raise BadEvent(f"unknown event keys {unknown}; expected 'ipv4' and/or 'ipv6_prefix'")
    if not event:
        raise BadEvent("event names neither 'ipv4' nor 'ipv6_prefix'; nothing to set")
    wanted = {}
    for key, value in event.items():
        normalise = _FAMILIES[key][0]
        try:
            wanted[key] = normalise(value)
        except AddressError as error:
            raise BadEvent(f"{key}: {error}") from None
    return wanted


def guarded_ports(text: str) -> list[int]:
    ports = sorted({int(part) for part in text.split(",") if part.strip()})
    if not ports or not all(0 < port < 65536 for port in ports):
        raise ValueError(f"PORTS must list TCP ports, got {text!r}")
    return ports


def _covers(permission: dict, port: int) -> bool:
    if permission.get("IpProtocol") == "-1":
        return True
    if permission.get("IpProtocol") not in ("tcp", "6"):
        return False
    return permission.get("FromPort", 0) <= port <= permission.get("ToPort", 65535)


def plan_changes(permissions: list[dict], ports: list[int], family: str, cidr: str):
    """(ports lacking the CIDR, permissions to revoke) for one family; pure, for the handler."""
    _, ranges_key, cidr_key = _FAMILIES[family]
    exact = {
        port: {r[cidr_key] for p in permissions if p.get("IpProtocol") == "tcp"
               and p.get("FromPort") == port and p.get("ToPort") == port
               for r in p.get(ranges_key, [])}
        for port in ports
    }
    missing = [port for port in ports if cidr not in exact[port]]
    stale = []
    for permission in permissions:
        if not any(_covers(permission, port) for port in ports):
            continue
        others = [r for r in permission.get(ranges_key, []) if r[cidr_key] != cidr]
        if others:
            revoke = {"IpProtocol": permission["IpProtocol"], ranges_key: [
                {cidr_key: r[cidr_key]} for r in others
            ]}
            if permission["IpProtocol"] != "-1":
                revoke.update(FromPort=permission["FromPort"], ToPort=permission["ToPort"])
            stale.append(revoke)
    return missing, stale


def _managed(ranges: list[dict]) -> list[dict]:
    return [r for r in ranges if r.get("Description") == RULE_DESCRIPTION]


def unguarded(permissions: list[dict], ports: list[int]) -> list[dict]:
    """This Lambda's own rules on ports it no longer guards (e.g. 1883 after mqttPlaintext is
    turned off), to revoke; rules it did not make are left alone."""
    revoke = []
    for permission in permissions:
        if permission.get("IpProtocol") != "tcp" or (
                permission.get("FromPort") == permission.get("ToPort")
                and permission.get("FromPort") in ports):
            continue
        for _, ranges_key, cidr_key in _FAMILIES.values():
            mine = _managed(permission.get(ranges_key, []))
            if mine:
                revoke.append({"IpProtocol": "tcp", "FromPort": permission["FromPort"],
                               "ToPort": permission["ToPort"],
                               ranges_key: [{cidr_key: r[cidr_key]} for r in mine]})
    return revoke


def reaching(permissions: list[dict], ports: list[int], family: str) -> list[str]:
    """Every CIDR of a family that some rule lets reach a guarded port, sorted."""
    _, ranges_key, cidr_key = _FAMILIES[family]
    return sorted({r[cidr_key] for p in permissions if any(_covers(p, port) for port in ports)
                   for r in p.get(ranges_key, [])})


def present(permissions: list[dict], ports: list[int], family: str) -> set[str]:
    """CIDRs of a family that already reach some guarded port (one-port TCP rules)."""
    _, ranges_key, cidr_key = _FAMILIES[family]
    return {r[cidr_key] for p in permissions if p.get("IpProtocol") == "tcp"
            and p.get("FromPort") == p.get("ToPort") and p.get("FromPort") in ports
            for r in p.get(ranges_key, [])}


def apply(ec2, group_id: str, ports: list[int], wanted: dict[str, str],
          additive: bool = False) -> dict:
    """Set each wanted family to exactly its CIDR on every guarded port (add first, then revoke
    the others); with `additive`, only add: the wanted CIDRs and every CIDR already on a guarded
    port go onto every guarded port, and nothing on a guarded port is revoked."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    permissions = group.get("IpPermissions", [])
    added, revoked = [], []
    for family, cidr in wanted.items():
        _, ranges_key, cidr_key = _FAMILIES[family]
        cidrs = sorted({cidr} | present(permissions, ports, family)) if additive else [cidr]
        for each in cidrs:
            missing, stale = plan_changes(permissions, ports, family, each)
            if missing:
                ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                     ranges_key: [{cidr_key: each, "Description": RULE_DESCRIPTION}]}
                    for port in missing
                ])
                added += [f"{each} tcp/{port}" for port in missing]
        if stale and not additive:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=stale)
            revoked += [
                f"{r[cidr_key]} {p['IpProtocol']}/{p.get('FromPort', 'all')}-{p.get('ToPort', 'all')}"
                for p in stale for r in p[ranges_key]
            ]
    leftovers = unguarded(permissions, ports)
    if leftovers:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=leftovers)
        revoked += [f"{r.get('CidrIp') or r.get('CidrIpv6')} tcp/{p['FromPort']} (no longer guarded)"
                    for p in leftovers for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", [])]
    # What a family the event left alone still allows: the Pi agent names it in its log, since
    # it cannot read the group itself (e.g. an IPv4 rule on a line with no IPv4 of its own).
    kept = {family: reaching(permissions, ports, family) for family in _FAMILIES
            if family not in wanted}
    return {"changed": bool(added or revoked), "added": added, "revoked": revoked, "kept": kept}


def handler(event, context):
    """The Pi agent's entry point: sets the group to exactly the event's CIDRs."""
    return _answer(event, additive=False)


def _answer(event, additive: bool) -> dict:
    try:
        wanted = parse_event(event)
    except BadEvent as error:
        LOG.warning("refused event: %s", error)
        return {"statusCode": 400, "error": str(error)}
    group_id = os.environ["SECURITY_GROUP_ID"]
    ports = guarded_ports(os.environ["PORTS"])
    try:
        result = apply(boto3.client("ec2"), group_id, ports, wanted, additive=additive)
    except (ClientError, BotoCoreError) as error:
        LOG.error("could not update %s: %s", group_id, error)
        return {"statusCode": 502, "error": f"AWS refused the change: {error}",
                "retryable": _retryable(error)}
    answer = {"statusCode": 200, "securityGroupId": group_id, "ports": ports, **wanted, **result}
    LOG.info(json.dumps(answer))
    return answer


class SeedFailed(RuntimeError):
    """The deploy-time seed did not set the group; raised so that `pulumi up` fails with the
    reason (an Invocation whose function returns normally counts as a success) and the seed
    runs again on the next `pulumi up`."""


# Right after `pulumi up` creates the role, its policy may not have reached EC2 yet.
_RETRYABLE = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException",
              "RequestLimitExceeded", "Throttling", "InternalError", "Unavailable")
SEED_ATTEMPTS = 8
SEED_PAUSE_SECONDS = 5


def _retryable(error: Exception) -> bool:
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    return code in _RETRYABLE or isinstance(error, BotoCoreError)


def seed_handler(event, context):
    """The deploy's entry point (`pulumi up` invokes it with `homeCidrs`): adds the event's CIDRs
    and spreads every CIDR already allowed to every guarded port, revoking nothing the Pi agent
    set since; raises SeedFailed when the group could not be set."""
    for attempt in range(1, SEED_ATTEMPTS + 1):
        answer = _answer(event, additive=True)
        if answer["statusCode"] == 200:
            return answer
        if not answer.get("retryable") or attempt == SEED_ATTEMPTS:
            raise SeedFailed(f"the home security group was not set: {answer['error']}")
        time.sleep(SEED_PAUSE_SECONDS)
    raise AssertionError("unreachable")
