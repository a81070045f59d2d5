"""The IpGuard Lambda's code, loaded as the Lambda runtime loads it, and reading a home group in
moto's EC2, for the tests of the Lambda and of the Pi agent that calls it."""

import importlib.util

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("ip_guard", ROOT / "lambda" / "ip_guard.py")
ip_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ip_guard)

PORTS = (22, 8883, 3000)


def ingress(ec2, group_id):
    """{(protocol, from, to): sorted CIDRs of both families}."""
    perms = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    rules = {}
    for p in perms:
        cidrs = [r["CidrIp"] for r in p.get("IpRanges", [])]
        cidrs += [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        if cidrs:
            rules[(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))] = sorted(cidrs)
    return rules


def on_every_port(*cidrs):
    return {("tcp", port, port): sorted(cidrs) for port in PORTS}
