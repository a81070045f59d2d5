"""Every node's instance, its network access and its provisioning steps, under the mock engine."""

import hashlib
import json

import pytest

from components.host import NODE_TAG
from components.provisioning import parse_install_command
from conftest import shared_run, host_eip, layout_nodes, node_of, service_files, waits_for
from tools.mock_engine import SECRET

WORLD = {"0.0.0.0/0", "::/0"}


def instances(run):
    return run.find("aws:ec2/instance:Instance")


def node(instance) -> str:
    return instance.raw_inputs["tags"][NODE_TAG]


def test_every_instance_is_hardened(dev_run):
    assert instances(dev_run)
    for instance in instances(dev_run):
        inputs = instance.inputs
        assert inputs["metadataOptions"]["httpTokens"] == "required", instance.name
        assert inputs["rootBlockDevice"]["encrypted"] is True
        assert inputs["rootBlockDevice"]["volumeType"] == "gp3"
        assert inputs["creditSpecification"]["cpuCredits"] == "standard"
        assert inputs["ipv6AddressCount"] == 1


@pytest.mark.parametrize("instance_type, architecture", [
    ("t4g.small", "arm64"), ("t3.micro", "x86_64"), ("t3a.small", "x86_64")])
def test_image_architecture_follows_the_instance_type(layout_run, layout, instance_type,
                                                      architecture):
    result = layout_run(nodes=layout_nodes(layout, instanceType=instance_type))
    for instance in instances(result):
        assert instance.inputs["instanceType"] == instance_type
        assert instance.inputs["ami"] == f"ami-ubuntu2404{architecture.replace('_', '')}"


def test_root_volume_is_sized_from_config(run):
    """Of the separate layout: there a node's volumeGb is its root volume's size (the compact
    node's is the data volume's, tests/test_data_nodes_program.py)."""
    result = run(nodes={"mqtt": {"volumeGb": 12}})
    mqtt = result.one("aws:ec2/instance:Instance", "mqtt-host-instance")
    assert mqtt.inputs["rootBlockDevice"]["volumeSize"] == 12


PUBLIC_NODES = {"mqtt", "grafana", "compact"}  # Pulumi.example.yaml's defaults


def test_public_nodes_have_a_stable_address_private_nodes_none(dev_run):
    eips = {e.raw_inputs["instance"] for e in dev_run.find("aws:ec2/eip:Eip")}
    subnets = {s.id: s.name for s in dev_run.find("aws:ec2/subnet:Subnet")}
    for instance in instances(dev_run):
        public = node(instance) in PUBLIC_NODES
        assert (instance.id in eips) == public
        # The Elastic IP is the only public IPv4: none is assigned at launch as well.
        assert instance.inputs["associatePublicIpAddress"] is False
        assert subnets[instance.raw_inputs["subnetId"]] == (
            "network-public" if public else "network-private")


@pytest.mark.parametrize("full", [False, True], ids=["default", "full"])
def test_every_elastic_ip_is_associated_after_the_internet_gateway(layout, full):
    # AssociateAddress refuses an instance whose VPC has no internet gateway attached yet
    # ("Gateway.NotAttached"); the provider says to make the EIP wait for it
    # (hashicorp/terraform-provider-aws website/docs/r/eip.html.markdown, "EIP may require IGW
    # to exist prior to association"). Nothing else orders the two: they run in parallel.
    run = shared_run(layout, full=full)
    (gateway,) = run.find("aws:ec2/internetGateway:InternetGateway")
    eips = run.find("aws:ec2/eip:Eip")
    assert eips and all(waits_for(run, eip, gateway) for eip in eips)


def test_private_subnet_routes_ipv4_through_the_broker(separate_run):
    """Of the separate layout: the compact one's only node is public, and has no NAT."""
    dev_run = separate_run
    route = dev_run.one("aws:ec2/route:Route", "nat-route")
    broker_component = dev_run.one("solarmonitor:index:MqttBroker", "mqtt")
    # The route the broker owned before, kept.
    assert route.aliases == [{"spec": {"name": "mqtt-nat-route", "parentUrn": broker_component.urn}}]
    broker = dev_run.one("aws:ec2/instance:Instance", "mqtt-host-instance")
    private_rt = dev_run.one("aws:ec2/routeTable:RouteTable", "network-private-rt")
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert route.raw_inputs["networkInterfaceId"] == broker.outputs["primaryNetworkInterfaceId"]
    assert route.raw_inputs["routeTableId"] == private_rt.id
    assert broker.inputs["sourceDestCheck"] is False
    assert not dev_run.find("aws:ec2/natGateway:NatGateway")
    nat_unit = service_files(dev_run)["mqtt"]["/etc/systemd/system/solarmonitor-nat.service"]
    assert "solarmonitor-nat 10.42.0.0/16" in nat_unit  # the VPC, to anywhere but the VPC


def test_no_ingress_from_the_world_anywhere(dev_run):
    for group in dev_run.find("aws:ec2/securityGroup:SecurityGroup"):
        for rule in group.raw_inputs.get("ingress") or []:
            assert not WORLD & set(rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", []))
    for rule in dev_run.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.raw_inputs.get("cidrIpv4") not in WORLD
        assert rule.raw_inputs.get("cidrIpv6") not in WORLD
        assert rule.raw_inputs.get("referencedSecurityGroupId"), rule.name


def node_reaches(run, source: str, target: str, port: int) -> bool:
    """Whether the target node's groups admit TCP `port` from the source node's instance (by a
    rule naming one of the source's groups)."""
    by_node = {node(i): set(i.raw_inputs["vpcSecurityGroupIds"]) for i in instances(run)}
    return any(rule.raw_inputs["securityGroupId"] in by_node[target]
               and rule.raw_inputs.get("referencedSecurityGroupId") in by_node[source]
               and rule.raw_inputs["ipProtocol"] == "tcp"
               and rule.raw_inputs["fromPort"] <= port <= rule.raw_inputs["toPort"]
               for rule in run.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"))


def test_between_nodes_only_the_ports_each_pair_needs(separate_run):
    """Of the separate layout: flows between nodes (the compact one has a node group that admits
    nothing, below)."""
    from components.network import NODE_FLOWS
    dev_run = separate_run
    nodes = ("mqtt", "telegraf", "influx", "grafana")
    ports = (22, 80, 443, 1883, 3000, 8086, 8883, 8884)
    reached = {(source, target, port) for source in nodes for target in nodes
               for port in ports if source != target and node_reaches(dev_run, source, target, port)}
    assert reached == {(source, target, port) for source, target, port, _ in NODE_FLOWS}
    # What it means: Grafana cannot reach the broker, the broker no InfluxDB API, Telegraf no
    # SSH and nothing Grafana's port; the NAT and the jump host still work.
    assert not node_reaches(dev_run, "grafana", "mqtt", 8884)
    assert not node_reaches(dev_run, "mqtt", "influx", 8086)
    assert not node_reaches(dev_run, "telegraf", "influx", 22)
    assert node_reaches(dev_run, "influx", "mqtt", 443) and node_reaches(dev_run, "mqtt", "influx", 22)
    for instance in instances(dev_run):  # one node group each, its own
        groups = [g for g in dev_run.find("aws:ec2/securityGroup:SecurityGroup")
                  if g.id in instance.raw_inputs["vpcSecurityGroupIds"] and g.name.startswith("network-")]
        assert [g.name for g in groups] == [f"network-{node(instance)}"]


def test_the_one_node_of_the_compact_layout_admits_no_node_and_the_home_on_its_ports(layout_run):
    """Of the compact layout: its services reach each other on the host itself."""
    compact = layout_run(layout="compact", nodes=None)
    (instance,) = instances(compact)
    groups = {g.id: g.name for g in compact.find("aws:ec2/securityGroup:SecurityGroup")}
    assert sorted(groups[g] for g in instance.raw_inputs["vpcSecurityGroupIds"]) == [
        "ipguard-home", "network-compact"]
    assert not compact.find("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    function = compact.one("aws:lambda/function:Function", "ipguard-function")
    assert function.raw_inputs["environment"]["variables"]["PORTS"] == "22,8883,3000"


def test_home_group_only_on_public_nodes(dev_run):
    home = dev_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home").id
    for instance in instances(dev_run):
        in_home = home in instance.raw_inputs["vpcSecurityGroupIds"]
        assert in_home == (node(instance) in PUBLIC_NODES), instance.name


def commands(run):
    return run.find("command:remote:Command")


def test_ssh_connections_are_explicit_and_patient(dev_run):
    for step in commands(dev_run):
        connection = step.raw_inputs["connection"]
        assert connection["user"] == "ubuntu"
        assert connection["dialErrorLimit"] >= 30
        masked = step.inputs["connection"]  # the key makes the connection (or its key) secret
        assert masked == SECRET or masked["privateKey"] == SECRET


def test_every_step_waits_for_ssh_access_to_be_seeded(dev_run):
    seed = dev_run.one("aws:lambda/invocation:Invocation", "ipguard-seed")
    for step in commands(dev_run):
        assert waits_for(dev_run, step, seed), step.name
    install = dev_run.one("command:remote:Command", "mqtt-install")
    assert install.raw_inputs["connection"]["host"] == host_eip(dev_run, "mqtt").outputs["publicIp"]


def _secret_values(run):
    values = {v for k, v in run.outputs.items() if k in run.secret_outputs and isinstance(v, str)}
    for password in run.find("random:index/randomPassword:RandomPassword"):
        values.add(password.outputs["result"])
    for key in run.find("tls:index/privateKey:PrivateKey"):
        values.add(key.outputs["privateKeyPem"].splitlines()[1])
    return {v for v in values if len(v) >= 8}


def test_remote_commands_never_log_a_secret(dev_run):
    secrets = _secret_values(dev_run)
    assert secrets
    for step in commands(dev_run):
        logged = step.inputs.get("logging") != "none"
        shown = json.dumps({k: v for k, v in step.inputs.items() if k != "connection"})
        if logged:
            assert step.inputs["stdin"] != SECRET, step.name
            assert not any(secret in shown for secret in secrets), step.name
        assert "environment" not in step.inputs  # needs sshd AcceptEnv; secrets go via stdin


def test_secret_files_are_written_without_logging_and_with_tight_modes(dev_run):
    for step in commands(dev_run):
        target = parse_install_command(step.raw_inputs["create"])
        if target and step.inputs["stdin"] == SECRET:
            assert step.inputs["logging"] == "none"
            assert target["mode"] in ("0600", "0640", "0400"), target


def test_each_step_is_triggered_by_its_own_content(dev_run):
    for step in commands(dev_run):
        digest = hashlib.sha256(step.raw_inputs["stdin"].encode()).hexdigest()
        assert step.raw_inputs["triggers"][0] == digest, step.name


def test_changing_one_template_reruns_only_its_steps(dev_run, layout_run):
    changed = layout_run(topicPrefix="pv")
    before = {s.name: s.raw_inputs["triggers"] for s in commands(dev_run)}
    after = {s.name: s.raw_inputs["triggers"] for s in commands(changed)}
    differing = {name for name in before if before[name] != after.get(name)}
    mqtt_steps = {name for name in differing if name.startswith("mqtt-")}
    # The prefix is in the ACL's topics and in Telegraf's usernames (its client ids hash their
    # topics), so in the password file too; nothing else of the broker changes.
    assert mqtt_steps == {"mqtt-file-etc-mosquitto-acl", "mqtt-file-etc-mosquitto-passwd",
                          "mqtt-apply"}
