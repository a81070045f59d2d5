"""`make plan`: the offline plan, its files and its refusals, run as a user runs it."""

import json
import subprocess

import pytest
import yaml

from conftest import DEV_CONFIG, ROOT


def plan(tmp_path, config: dict | None = None, config_text: str | None = None):
    config_file = tmp_path / "Pulumi.test.yaml"
    if config_text is None:
        config_text = yaml.safe_dump({"config": config if config is not None else DEV_CONFIG})
    config_file.write_text(config_text)
    out = tmp_path / "plan"
    done = subprocess.run(["make", "-s", "plan", f"CONFIG={config_file}", f"OUT={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done, out


@pytest.fixture(scope="module")
def dev_plan(tmp_path_factory):
    done, out = plan(tmp_path_factory.mktemp("dev"))
    assert done.returncode == 0, done.stderr
    return done, out, json.loads((out / "plan.json").read_text())


def test_plan_lists_resources_with_parents_and_camel_case_inputs(dev_plan):
    _, _, document = dev_plan
    resources = {(r["type"], r["name"]): r for r in document["resources"]}
    assert set(document) == {"resources", "outputs", "monthlyCostUsd"}
    function = resources[("aws:lambda/function:Function", "ipguard-function")]
    assert function["parent"] == "ipguard"
    assert function["inputs"]["runtime"].startswith("python3.")
    assert resources[("solarmonitor:index:IpGuard", "ipguard")]["parent"] is None
    assert resources[("aws:ec2/vpc:Vpc", "network-vpc")]["inputs"]["assignGeneratedIpv6CidrBlock"]
    for resource in document["resources"]:
        assert set(resource) == {"type", "name", "parent", "inputs"}


def test_plan_masks_every_secret(dev_plan):
    _, out, document = dev_plan
    outputs = document["outputs"]
    assert outputs["piSecretAccessKey"] == "[secret]" and outputs["piAgentConfig"] == "[secret]"
    text = (out / "plan.json").read_text()
    assert "mock-secret-" not in text and "PRIVATE KEY" not in text


def test_plan_prices_the_stack(dev_plan):
    done, _, document = dev_plan
    cost = document["monthlyCostUsd"]
    assert cost["total"] == pytest.approx(sum(item["monthlyUsd"] for item in cost["items"]), abs=0.01)
    assert cost["pricesAsOf"] and cost["region"] == "eu-central-1"
    assert "Monthly cost estimate" in done.stdout and "total" in done.stdout


@pytest.mark.parametrize("overrides, key", [
    ({"solarmonitor:homeCidrs": ["0.0.0.0/0"]}, "homeCidrs"),
    ({"solarmonitor:homeCidrs": ["10.0.0.1/32"]}, "homeCidrs"),
    ({"solarmonitor:homeCidrs": ["2a01:4f8:1:2::/64"]}, "homeCidrs"),  # DS-Lite: no IPv4 of its own
    ({"solarmonitor:homeCidrs": None}, "homeCidrs"),
    ({"solarmonitor:nodes": {"printer": {}}}, "nodes"),
    ({"solarmonitor:nodes": {"influx": {"instanceType": "t9.mega"}}}, "instanceType"),
    ({"solarmonitor:layout": "compact", "solarmonitor:nodes": {"mqtt": {}}}, "nodes.mqtt"),
    ({"solarmonitor:influxRetention": -3}, "influxRetention"),
    ({"aws:region": "nowhere"}, "aws:region"),
])
def test_invalid_config_exits_with_one_clear_line(tmp_path, overrides, key):
    config = {k: v for k, v in {**DEV_CONFIG, **overrides}.items() if v is not None}
    done, out = plan(tmp_path, config)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip() and "make" not in line]
    assert len(lines) == 1, done.stderr
    assert key in lines[0] and "Traceback" not in done.stderr + done.stdout
    assert not (out / "plan.json").exists()


def test_unreadable_config_file_is_one_line(tmp_path):
    done, _ = plan(tmp_path, config_text="config: [unclosed")
    assert done.returncode != 0 and "Traceback" not in done.stderr


def test_plan_shows_every_nodes_files_and_prices_the_data_volume(dev_plan):
    _, out, document = dev_plan
    for node, path in (("mqtt", "etc/mosquitto/mosquitto.conf"),
                       ("telegraf", "etc/telegraf/telegraf.conf"),
                       ("influx", "etc/influxdb/config.toml"),
                       ("grafana", "etc/grafana/provisioning/datasources/solarmonitor.yaml")):
        assert (out / "files" / node / path).is_file(), (node, path)
    labels = [item["item"] for item in document["monthlyCostUsd"]["items"]]
    assert "influx: gp3 data volume" in labels and any("snapshots" in l for l in labels)
    assert document["outputs"]["monthlyCostUsd"] == document["monthlyCostUsd"]


def test_plan_with_another_valid_config(tmp_path):
    config = {"aws:region": "eu-west-1",
              "solarmonitor:homeCidrs": ["8.8.8.8/32", "2a01:4f8:1:2::/64"],
              "solarmonitor:nodes": {"grafana": {"publicIpv4": False},
                                     "influx": {"instanceType": "t3.small", "volumeGb": 50}},
              "solarmonitor:mqttPlaintext": True, "solarmonitor:topicPrefix": "home/pv",
              "solarmonitor:influxRetention": "52w", "solarmonitor:domain": "solar.example.org"}
    done, out = plan(tmp_path, config)
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "plan.json").read_text())
    assert document["monthlyCostUsd"]["pricedAs"] == "us-east-1"
    assert "priced as us-east-1" in done.stdout
    assert "Time zone: Europe/Dublin, eu-west-1's default" in done.stdout
    volume = next(r for r in document["resources"] if r["type"] == "aws:ebs/volume:Volume")
    assert volume["inputs"]["size"] == 50
    conf = (out / "files/mqtt/etc/mosquitto/mosquitto.conf").read_text()
    assert "listener 1883" in conf
    assert "topic write home/pv/#" in (out / "files/mqtt/etc/mosquitto/acl").read_text()
    assert document["outputs"]["mqttHost"] == "mqtt.solar.example.org"


def test_plan_without_a_region_plans_for_the_default(tmp_path):
    done, out = plan(tmp_path, {"solarmonitor:homeCidrs": ["8.8.8.8"]})
    assert done.returncode == 0 and "aws:region is not set" in done.stderr


def test_plan_renders_the_pis_config_with_stand_in_secrets(tmp_path):
    config = {**DEV_CONFIG, "solarmonitor:solixDevices": ["AA:BB:CC:DD:EE:FF=Solarbank2"]}
    done, out = plan(tmp_path, config)
    assert done.returncode == 0, done.stderr
    ini = (out / "files/pi/etc/solarmonitor/solarmonitor.ini").read_text()
    assert "[solix]\n" in ini and "devices = AA:BB:CC:DD:EE:FF=Solarbank2" in ini
    assert "username = solix" in ini and "secret_access_key = mock-secret-" in ini
    conf = (out / "files/telegraf/etc/telegraf/telegraf.conf").read_text()
    assert 'name_override = "solix"' in conf and 'name_override = "solix_info"' in conf


def test_plan_shows_the_data_volumes_growth(dev_plan):
    from components.storage import growth
    done, _, _ = dev_plan
    grown = growth("30d")
    assert "raw values, kept 30d" in done.stdout and f"{grown.raw_mb:.0f} MB" in done.stdout
    assert f"{grown.history_mb_per_year:.0f} MB a year" in done.stdout
    assert f"full after about {grown.years_to_fill(10):.0f} years" in done.stdout
