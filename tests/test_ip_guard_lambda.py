"""The IpGuard Lambda against moto's EC2: real describe/authorize/revoke semantics."""

import json
import uuid

import boto3
import pytest
from moto import mock_aws

from ip_guard_moto import PORTS, ingress, ip_guard, on_every_port


class CountingEc2:
    """The real boto3 client, counting the calls that write."""

    def __init__(self, client):
        self.client, self.writes = client, []

    def __getattr__(self, name):
        call = getattr(self.client, name)
        if name.startswith(("authorize", "revoke")):
            def counted(**kwargs):
                self.writes.append(name)
                return call(**kwargs)
            return counted
        return call


@pytest.fixture(scope="module")
def ec2():
    """moto's EC2, started once for the module (starting it costs a second); each test makes a
    group of its own in it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            client = boto3.client("ec2")
            yield client, client.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]


@pytest.fixture
def group(ec2, monkeypatch):
    client, vpc = ec2
    group_id = client.create_security_group(GroupName=f"home-{uuid.uuid4().hex[:8]}",
                                            Description="home", VpcId=vpc)["GroupId"]
    monkeypatch.setenv("SECURITY_GROUP_ID", group_id)
    monkeypatch.setenv("PORTS", ",".join(map(str, PORTS)))
    counting = CountingEc2(client)
    monkeypatch.setattr(ip_guard.boto3, "client", lambda service, **kw: counting)
    yield client, group_id, counting


def invoke(event):
    answer = ip_guard.handler(event, None)
    json.dumps(answer)  # the answer must be JSON for the Lambda runtime
    return answer


def test_first_address_opens_every_port(group):
    ec2, group_id, counting = group
    answer = invoke({"ipv4": "8.8.8.8"})
    assert answer["statusCode"] == 200 and answer["changed"] is True
    assert answer["ipv4"] == "8.8.8.8/32"
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32")


def test_same_address_again_writes_nothing(group):
    ec2, group_id, counting = group
    invoke({"ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    counting.writes.clear()
    answer = invoke({"ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    assert answer == {**answer, "statusCode": 200, "changed": False}
    assert counting.writes == []


def test_changed_ipv4_adds_before_revoking_and_keeps_ipv6(group):
    ec2, group_id, counting = group
    invoke({"ipv4": "8.8.8.8", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    counting.writes.clear()
    answer = invoke({"ipv4": "9.9.9.9"})
    assert answer["changed"] is True
    assert counting.writes == ["authorize_security_group_ingress", "revoke_security_group_ingress"]
    assert ingress(ec2, group_id) == on_every_port("9.9.9.9/32", "2a01:4f8:1:2::/64")


def test_changed_ipv6_prefix_revokes_the_old_prefix(group):
    ec2, group_id, _ = group
    invoke({"ipv4": "8.8.8.8", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    invoke({"ipv6_prefix": "2a01:4f8:9:9::/64"})
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32", "2a01:4f8:9:9::/64")


def test_rules_added_by_hand_for_other_cidrs_are_revoked(group):
    ec2, group_id, _ = group
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 30, "IpRanges": [{"CidrIp": "7.7.7.0/24"}]},
        {"IpProtocol": "tcp", "FromPort": 3000, "ToPort": 3000,
         "Ipv6Ranges": [{"CidrIpv6": "2a01:4f8:5::/48"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "7.7.7.7/32"}]},
    ])
    invoke({"ipv4": "8.8.8.8", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    rules = ingress(ec2, group_id)
    # 443 is not a guarded port: the Lambda leaves it alone.
    assert rules == {**on_every_port("8.8.8.8/32", "2a01:4f8:1:2::/64"),
                     ("tcp", 443, 443): ["7.7.7.7/32"]}


def test_absent_family_is_left_alone(group):
    ec2, group_id, _ = group
    invoke({"ipv6_prefix": "2a01:4f8:1:2::/64"})
    invoke({"ipv4": "8.8.8.8"})
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32", "2a01:4f8:1:2::/64")


BAD_EVENTS = [
    {"ipv4": "10.1.2.3"}, {"ipv4": "192.168.178.1/32"}, {"ipv4": "127.0.0.1"},
    {"ipv4": "100.64.12.1"}, {"ipv4": "169.254.169.254"}, {"ipv4": "224.0.0.251"},
    {"ipv4": "0.0.0.0/0"}, {"ipv4": "0.0.0.0"}, {"ipv4": "255.255.255.255"},
    {"ipv4": "8.8.8.0/24"}, {"ipv4": "8.8.8.8/31"}, {"ipv4": "203.0.113.5"},
    {"ipv4": "2a01:4f8::1"}, {"ipv6_prefix": "8.8.8.8/32"},
    {"ipv6_prefix": "::/0"}, {"ipv6_prefix": "2a01:4f8::/32"}, {"ipv6_prefix": "2a01:4f8::/47"},
    {"ipv6_prefix": "2a01:4f8:1:2::"}, {"ipv6_prefix": "fe80::/64"}, {"ipv6_prefix": "fd12::/64"},
    {"ipv6_prefix": "::1/128"}, {"ipv6_prefix": "ff02::1/128"}, {"ipv6_prefix": "2001:db8::/48"},
    {"ipv6_prefix": "::ffff:8.8.8.8/128"}, {"ipv6_prefix": "2a01:4f8:1:2::5/64"},
    {"ipv6_prefix": "2a01:4f8:1:200::1/56"},
    {"ipv4": 134744072}, {"ipv4": None}, {"ipv4": ["8.8.8.8"]}, {"ipv4": {"a": 1}},
    {"ipv4": True}, {"ipv4": ""}, {"ipv4": " 8.8.8.8"}, {"ipv4": "8.8.8.8\n"},
    {"ipv4": "8.8.8.8; curl evil.example"}, {"ipv4": "$(reboot)"}, {"ipv4": "8.8.8.8" * 50},
    {"ipv4": "8.8.8.8", "ipv6_prefix": "fd00::/64"}, {"ipv4": "8.8.8.8", "extra": 1},
    {"ipv6": "2a01:4f8:1:2::/64"}, {}, None, [], "8.8.8.8", 42, ["ipv4", "8.8.8.8"],
]


@pytest.mark.parametrize("event", BAD_EVENTS)
def test_bad_events_answer_400_and_touch_nothing(group, event):
    ec2, group_id, counting = group
    invoke({"ipv4": "8.8.8.8"})
    before, counting.writes[:] = ingress(ec2, group_id), []
    answer = invoke(event)
    assert answer["statusCode"] == 400 and answer["error"]
    assert counting.writes == [] and ingress(ec2, group_id) == before


def test_a_prefix_with_host_bits_is_refused_naming_the_prefix_meant(group):
    ec2, group_id, counting = group
    invoke({"ipv6_prefix": "2a01:4f8:1:2::/64"})
    before, counting.writes[:] = ingress(ec2, group_id), []
    answer = invoke({"ipv6_prefix": "2a01:4f8:1:2::5/64"})
    assert answer["statusCode"] == 400
    assert "did you mean 2a01:4f8:1:2::/64?" in answer["error"]
    assert counting.writes == [] and ingress(ec2, group_id) == before


def test_the_answer_names_what_a_family_left_alone_still_allows(group):
    ec2, group_id, _ = group
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 30, "IpRanges": [{"CidrIp": "7.7.7.0/24"}]}])
    invoke({"ipv4": "8.8.8.8"})
    answer = invoke({"ipv6_prefix": "2a01:4f8:1:2::/64"})
    assert answer["kept"] == {"ipv4": ["8.8.8.8/32"]}
    assert invoke({"ipv4": "8.8.8.8"})["kept"] == {"ipv6_prefix": ["2a01:4f8:1:2::/64"]}


def test_the_world_is_never_opened(group):
    ec2, group_id, _ = group
    for event in BAD_EVENTS:
        invoke(event)
    for cidrs in ingress(ec2, group_id).values():
        assert "0.0.0.0/0" not in cidrs and "::/0" not in cidrs


def test_aws_failure_answers_an_error_and_keeps_access(group, monkeypatch):
    ec2, group_id, _ = group
    invoke({"ipv4": "8.8.8.8"})
    monkeypatch.setenv("SECURITY_GROUP_ID", "sg-0000000000000000")
    answer = invoke({"ipv4": "9.9.9.9"})
    assert answer["statusCode"] == 502
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32")


# --- the deploy's seed, and ports no longer guarded -----------------------------------------

def seed(event):
    answer = ip_guard.seed_handler(event, None)
    json.dumps(answer)
    return answer


def test_the_seed_fills_an_empty_group(group):
    ec2, group_id, _ = group
    answer = seed({"ipv4": "8.8.8.8/32", "ipv6_prefix": "2a01:4f8:1:2::/64"})
    assert answer["statusCode"] == 200
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32", "2a01:4f8:1:2::/64")


def test_a_stale_seed_never_takes_away_the_address_the_pi_set(group):
    ec2, group_id, _ = group
    seed({"ipv4": "8.8.8.8/32"})
    invoke({"ipv4": "9.9.9.9"})  # the Pi agent: the home moved
    seed({"ipv4": "8.8.8.8/32"})  # `pulumi up` with the config's old address
    assert "9.9.9.9/32" in ingress(ec2, group_id)[("tcp", 22, 22)]


def test_the_seed_gives_newly_guarded_ports_the_addresses_already_allowed(group, monkeypatch):
    ec2, group_id, _ = group
    invoke({"ipv4": "9.9.9.9"})
    monkeypatch.setenv("PORTS", "22,8883,3000,1883")
    seed({"ipv4": "8.8.8.8/32"})
    assert ingress(ec2, group_id)[("tcp", 1883, 1883)] == ["8.8.8.8/32", "9.9.9.9/32"]


@pytest.mark.parametrize("entry", [invoke, seed])
def test_rules_on_ports_no_longer_guarded_are_revoked(group, monkeypatch, entry):
    ec2, group_id, _ = group
    monkeypatch.setenv("PORTS", "22,8883,3000,1883")  # mqttPlaintext: true
    invoke({"ipv4": "8.8.8.8"})
    monkeypatch.setenv("PORTS", "22,8883,3000")  # mqttPlaintext back to false
    entry({"ipv4": "8.8.8.8"})
    assert ("tcp", 1883, 1883) not in ingress(ec2, group_id)
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32")


def test_a_seed_that_did_not_apply_raises_with_the_reason(group, monkeypatch):
    monkeypatch.setattr(ip_guard, "SEED_PAUSE_SECONDS", 0)
    monkeypatch.setenv("SECURITY_GROUP_ID", "sg-0000000000000000")
    with pytest.raises(ip_guard.SeedFailed, match="InvalidGroup.NotFound"):
        seed({"ipv4": "8.8.8.8"})


def test_a_bad_seed_raises_and_the_pis_entry_point_still_answers_400(group):
    with pytest.raises(ip_guard.SeedFailed, match="not a globally routable"):
        seed({"ipv4": "10.0.0.1"})
    assert invoke({"ipv4": "10.0.0.1"})["statusCode"] == 400


def test_the_seed_retries_while_the_roles_policy_propagates(group, monkeypatch):
    ec2, group_id, counting = group
    monkeypatch.setattr(ip_guard, "SEED_PAUSE_SECONDS", 0)
    refusals = iter([True, True, False])
    real = counting.client.describe_security_groups

    def describe(**kwargs):
        if next(refusals, False):
            raise ip_guard.ClientError({"Error": {"Code": "UnauthorizedOperation",
                                                  "Message": "not yet"}}, "DescribeSecurityGroups")
        return real(**kwargs)

    monkeypatch.setattr(counting.client, "describe_security_groups", describe)
    assert seed({"ipv4": "8.8.8.8"})["statusCode"] == 200
    assert ingress(ec2, group_id) == on_every_port("8.8.8.8/32")
