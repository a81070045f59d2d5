"""IpGuard: keep the home security group open to the home's current public address only.

Event: {"ipv4": "<address or /32>", "ipv6_prefix": "<prefix>/<48..128>"}. A present key sets that
family's ingress on every guarded port to exactly that CIDR; an absent key leaves the family alone.
The new CIDR is authorized before any other CIDR of its family is revoked, so the home is never
without access, and rules added by hand for other CIDRs of that family are revoked too.
Bad input answers statusCode 400 and touches nothing; this handler never raises on bad input.
"""

from __future__ import annotations

import json
import logging
import os

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


def apply(ec2, group_id: str, ports: list[int], wanted: dict[str, str]) -> dict:
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    permissions = group.get("IpPermissions", [])
    added, revoked = [], []
    for family, cidr in wanted.items():
        _, ranges_key, cidr_key = _FAMILIES[family]
        missing, stale = plan_changes(permissions, ports, family, cidr)
        if missing:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 ranges_key: [{cidr_key: cidr, "Description": RULE_DESCRIPTION}]}
                for port in missing
            ])
            added += [f"{cidr} tcp/{port}" for port in missing]
        if stale:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=stale)
            revoked += [
                f"{r[cidr_key]} {p['IpProtocol']}/{p.get('FromPort', 'all')}-{p.get('ToPort', 'all')}"
                for p in stale for r in p[ranges_key]
            ]
    return {"changed": bool(added or revoked), "added": added, "revoked": revoked}


def handler(event, context):
    try:
        wanted = parse_event(event)
    except BadEvent as error:
        LOG.warning("refused event: %s", error)
        return {"statusCode": 400, "error": str(error)}
    group_id = os.environ["SECURITY_GROUP_ID"]
    ports = guarded_ports(os.environ["PORTS"])
    try:
        result = apply(boto3.client("ec2"), group_id, ports, wanted)
    except (ClientError, BotoCoreError) as error:
        LOG.error("could not update %s: %s", group_id, error)
        return {"statusCode": 502, "error": f"AWS refused the change: {error}"}
    answer = {"statusCode": 200, "securityGroupId": group_id, "ports": ports, **wanted, **result}
    LOG.info(json.dumps(answer))
    return answer
