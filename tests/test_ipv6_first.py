"""IPv6 first: Grafana without a paid public IPv4 when the home has IPv6 (the separate layout's:
in the compact one Grafana shares the broker's address), and the costs side by side with the
other layout and the original manual design."""

import ipaddress
import json
import socket
import ssl
import subprocess

import pytest
import yaml

from conftest import ROOT, dev_config, host_instance, service_files
from tools.mock_engine import run_program
from expected_bill import TABLE, expected_total
from test_opendtu_tls import serve_tls_once

IPV6_HOME = ["8.8.8.8/32", "2a01:4f8:1:2::/64"]


@pytest.fixture(scope="module")
def v6_run():
    from conftest import dev_config
    from tools.mock_engine import run_program
    return run_program(dev_config(homeCidrs=IPV6_HOME))


@pytest.fixture(scope="module")
def v4_run():
    """The example with an IPv4-only home: read by several tests of this module."""
    return run_program(dev_config(homeCidrs=["8.8.8.8/32"]))


# The example has no solarmonitor:nodes and is of the separate layout, so these configurations
# are the module's shared runs': dev_config(homeCidrs=home, nodes=None) is v4_run's or v6_run's.
SHARED_HOMES = {tuple(IPV6_HOME): "v6_run", ("8.8.8.8/32",): "v4_run"}


def grafana(run):
    return host_instance(run, "grafana")


def test_an_ipv6_home_reaches_grafana_over_ipv6_without_a_public_ipv4(v6_run):
    instance = grafana(v6_run)
    subnet = v6_run.one("aws:ec2/subnet:Subnet", "network-ipv6")
    assert instance.raw_inputs["subnetId"] == subnet.id
    assert not v6_run.find("aws:ec2/eip:Eip", "grafana-host-eip")
    address = instance.raw_inputs["ipv6Addresses"][0]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet.raw_inputs["ipv6CidrBlock"])
    assert v6_run.outputs["grafanaUrl"] == f"https://[{address}]:3000/"
    home = v6_run.one("aws:ec2/securityGroup:SecurityGroup", "ipguard-home")
    assert home.id in instance.raw_inputs["vpcSecurityGroupIds"]
    # The home group's IPv6 rule for 3000: the seed sets every guarded port for the prefix.
    seed = v6_run.one("aws:lambda/invocation:Invocation", "ipguard-seed")
    assert json.loads(seed.raw_inputs["input"])["ipv6_prefix"] == IPV6_HOME[1]
    function = v6_run.one("aws:lambda/function:Function", "ipguard-seeder")
    assert "3000" in function.raw_inputs["environment"]["variables"]["PORTS"].split(",")


def test_the_ipv6_subnet_routes_ipv6_both_ways_and_ipv4_out_through_the_nat(v6_run):
    table = v6_run.one("aws:ec2/routeTable:RouteTable", "network-ipv6-rt")
    gateway = v6_run.one("aws:ec2/internetGateway:InternetGateway", "network-igw")
    routes = [r for r in v6_run.find("aws:ec2/route:Route") if r.raw_inputs["routeTableId"] == table.id]
    ipv6 = next(r for r in routes if r.raw_inputs.get("destinationIpv6CidrBlock") == "::/0")
    assert ipv6.raw_inputs["gatewayId"] == gateway.id
    ipv4 = next(r for r in routes if r.raw_inputs.get("destinationCidrBlock") == "0.0.0.0/0")
    broker = v6_run.one("aws:ec2/instance:Instance", "mqtt-host-instance")
    assert ipv4.raw_inputs["networkInterfaceId"] == broker.outputs["primaryNetworkInterfaceId"]
    # Provisioned through the broker, like the private nodes.
    apply = v6_run.one("command:remote:Command", "grafana-apply")
    assert apply.raw_inputs["connection"]["host"] == grafana(v6_run).raw_inputs["privateIp"]
    assert apply.raw_inputs["connection"]["proxy"]["host"]


def test_grafanas_certificate_verifies_for_its_ipv6_url(v6_run, tmp_path):
    files = service_files(v6_run)["grafana"]
    for name in ("server.crt", "server.key"):
        (tmp_path / name).write_text(files[f"/etc/grafana/solarmonitor/{name}"])
    host = v6_run.outputs["grafanaUrl"].split("[")[1].split("]")[0]
    port = serve_tls_once(tmp_path / "server.crt", tmp_path / "server.key")
    client = ssl.create_default_context(cadata=v6_run.outputs["grafanaCert"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version()
            tls.sendall(b"x")
    ini = files["/etc/grafana/grafana.ini"]
    assert f"root_url = https://[{host}]:3000/" in ini and f"domain = {host}\n" in ini


@pytest.mark.parametrize("home, grafana_setting, reach", [
    (["8.8.8.8/32"], None, "ipv4"),
    (IPV6_HOME, None, "ipv6"),
    (IPV6_HOME, True, "ipv4"),
    (["8.8.8.8/32"], False, "private"),
    (IPV6_HOME, "compact", "ipv4"),  # on the broker's address, which OpenDTU needs anyway
])
def test_the_choice_for_each_kind_of_home(run, request, home, grafana_setting, reach):
    if grafana_setting == "compact":
        result = run(homeCidrs=home, layout="compact", nodes=None)
    elif grafana_setting is None:  # the example's nodes: a shared run (read only)
        result = request.getfixturevalue(SHARED_HOMES[tuple(home)])
    else:
        result = run(homeCidrs=home, nodes={"grafana": {"publicIpv4": grafana_setting}}
                     if grafana_setting is not None else None)
    eip = [e for e in result.find("aws:ec2/eip:Eip")
           if e.raw_inputs["instance"] == grafana(result).id]
    url = result.outputs["grafanaUrl"]
    subnet = {s.id: s.name for s in result.find("aws:ec2/subnet:Subnet")}[
        grafana(result).raw_inputs["subnetId"]]
    if reach == "ipv4":
        assert eip and "amazonaws.com" in url and subnet == "network-public"
    elif reach == "ipv6":
        assert not eip and url.startswith("https://[") and subnet == "network-ipv6"
    else:
        assert not eip and url.startswith("https://10.42.1.") and subnet == "network-private"


def test_the_broker_keeps_its_ipv4_for_opendtu(v6_run):
    assert v6_run.find("aws:ec2/eip:Eip", "mqtt-host-eip")


def test_defaults_with_an_ipv6_home_cost_at_most_29_20_in_frankfurt(v6_run):
    total = v6_run.outputs["monthlyCostUsd"]["total"]
    assert total <= 29.20
    assert total == pytest.approx(expected_total(v6_run, "eu-central-1"), abs=0.011)


def original_design(region: str) -> float:
    """Recomputed from the price table: four nodes, each with its own public IPv4 and 8 GB."""
    hours = TABLE["hoursPerMonth"]
    types = ("t4g.nano", "t3a.nano", "t4g.micro", "t4g.micro")
    return sum(round(TABLE["instanceHourly"][region][t] * hours, 2)
               + round(TABLE["publicIpv4Hourly"][region] * hours, 2)
               + round(TABLE["gp3GbMonth"][region] * 8, 2) for t in types)


def side_by_side(stdout: str) -> dict[str, dict[str, float]]:
    """make plan's table of both layouts and the original: {row: {column: USD}}."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Side by side"))
    columns = lines[start + 1].split()
    table = {}
    for line in lines[start + 2:]:
        words = line.removesuffix(" USD").split()
        try:
            table[" ".join(words[:-len(columns)])] = dict(zip(columns, map(
                float, words[-len(columns):]), strict=True))
        except ValueError:
            break
    return table


@pytest.mark.parametrize("home, layout", [(["8.8.8.8/32"], "separate"), (IPV6_HOME, "compact")])
def test_make_plan_shows_the_costs_side_by_side(tmp_path, request, home, layout):
    """Whichever layout is chosen, the table has both and the original, each priced by the
    program itself: this configuration's column is the plan's bill, the other's the program run
    in the other layout, the original recomputed from the price table."""
    config = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())["config"]
    config["solarmonitor:homeCidrs"] = home
    if layout == "compact":
        config = {**config, "solarmonitor:layout": "compact"}
        config.pop("solarmonitor:nodes", None)
    (tmp_path / "Pulumi.side.yaml").write_text(yaml.safe_dump({"config": config}))
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "tools/plan.py", "--config",
                           str(tmp_path / "Pulumi.side.yaml"), "--out", str(tmp_path / "plan")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    bill = json.loads((tmp_path / "plan" / "plan.json").read_text())["monthlyCostUsd"]
    table = side_by_side(done.stdout)
    assert f"(this configuration: the {layout} layout)" in done.stdout
    assert table["total"][layout] == pytest.approx(bill["total"])
    other = "separate" if layout == "compact" else "compact"
    other_config = {**dev_config(homeCidrs=home), "solarmonitor:layout": other}
    other_config.pop("solarmonitor:nodes", None)
    # The separate layout is the example's: that configuration is a shared run's.
    other_run = (request.getfixturevalue(SHARED_HOMES[tuple(home)]) if other == "separate"
                 else run_program(other_config))
    assert table["total"][other] == pytest.approx(expected_total(
        other_run, "eu-central-1"), abs=0.011)
    assert table["total"]["original"] == pytest.approx(original_design("eu-central-1"))
    for column in table["total"]:  # each column adds up
        assert sum(row[column] for label, row in table.items() if label != "total") == (
            pytest.approx(table["total"][column], abs=0.011))
    reason = ("over its public IPv4" if layout == "compact" or len(home) == 1
              else "over IPv6, no public IPv4")
    assert f"Grafana: {reason}" in done.stdout


def test_the_readme_cost_table_is_make_plans(v4_run, v6_run):
    """README's two profiles are the defaults' totals: kept true when prices or defaults move."""
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| **this stack** |"))
    v4_total, v6_total = (float(cell.strip(" *").split()[0]) for cell in row.split("|")[2:4])
    assert v4_total == v4_run.outputs["monthlyCostUsd"]["total"]
    assert v6_total == v6_run.outputs["monthlyCostUsd"]["total"]
    # The first screen's figures: the separate layout's, IPv4 and IPv6 home, in eu-central-1.
    lines = readme.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| **total** | **"))
    assert "eu-central-1" in lines[at - 2] and at < 40
    assert f"**{v4_total:.2f} USD** ({v6_total:.2f} with an IPv6 home)" in lines[at]
    original = next(line for line in readme.splitlines() if "the original manual design (" in line)
    assert f"{original_design('eu-central-1'):.2f} USD" in original
