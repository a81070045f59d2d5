"""A newcomer's mistakes get one line that says what is wrong and what to do, before anything is
created: the region against AWS's own list (botocore's endpoint data), an address from the
wrong place, YAML's surprises (a tab, an IPv6 prefix YAML reads as a map), the example's
placeholder address; and the plan says which time zone the dashboard's day uses, and why."""

import json
import subprocess

import pytest
import yaml

from components.config import ConfigError, parse_home_cidrs, parse_region
from conftest import DEV_CONFIG
from fresh_clone import fresh_clone
from tools.stack_file import StackError, load_config, placeholder_cidrs, resolve


def refusal(cidrs) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_home_cidrs(cidrs)
    message = str(refused.value)
    assert message.startswith("solarmonitor:homeCidrs: got ") and "\n" not in message
    return message


@pytest.mark.parametrize("address", ["192.168.178.20", "10.0.0.7/32", "172.16.4.2",
                                     "fd00:1:2:3::/64", "fe80::1/64"])
def test_a_lan_address_says_use_the_public_one(address):
    message = refusal([address])
    assert "inside your home network (LAN), not its public one" in message
    if ":" in address:
        assert "delegated" in message and "Online-Monitor" in message
    else:
        assert "curl -4 https://checkip.amazonaws.com" in message


def test_carrier_grade_nat_says_what_it_means_and_what_to_do():
    message = refusal(["100.70.1.2/32"])
    assert "carrier-grade NAT" in message and "DS-Lite" in message
    assert "OpenDTU speaks IPv4 only" in message and "ask your provider for a public IPv4" in message


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["1.2.3.0/24"], ["2a01:4f8::/32"]])
def test_a_range_says_only_the_homes_own_address(cidrs):
    assert "never a range" in refusal(cidrs)


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8:1:2::/64"])
def test_a_documentation_address_says_so(address):
    assert "example address from the documentation" in refusal([address])


@pytest.mark.parametrize("text", ["- 2a01:4f8:1:2::", "[2a01:4f8:1:2::]", "- 8.8.8.8/32\n  - 2a01:4f8::"])
def test_an_ipv6_prefix_yaml_read_as_a_map_says_it_needs_its_length(text):
    # What YAML hands over for an unquoted prefix that ends in "::" (PyYAML here; the Pulumi CLI's
    # YAML reader follows the same rule: ": " or ":" at the end of a plain scalar starts a map).
    value = yaml.safe_load(f"homeCidrs:\n  {text}\n")["homeCidrs"]
    assert any(isinstance(item, dict) for item in value)
    message = refusal(value)
    assert "as a map because it ends in ':'" in message and "needs its length" in message
    assert "/64" in message and "got dict" in message


def test_every_other_refusal_still_says_how_to_find_the_address():
    for cidrs in (["nonsense"], [42], ["2a01:4f8:1:2::"], ["1.2.3.4/33"]):
        message = refusal(cidrs)
        assert "checkip.amazonaws.com" in message or "delegated" in message, message


def test_a_region_aws_does_not_have_is_refused_naming_the_closest():
    with pytest.raises(ConfigError) as refused:
        parse_region("eu-central-3")
    assert str(refused.value).startswith("aws:region: got 'eu-central-3'; expected an AWS region")
    assert "botocore" in str(refused.value) and "did you mean eu-central-" in str(refused.value)


def test_every_region_aws_lists_is_accepted_and_other_partitions_say_why_not():
    import boto3
    regions = boto3.Session().get_available_regions("ec2")  # botocore's endpoints.json
    assert "eu-central-1" in regions and "mx-central-1" in regions
    for region in regions:
        assert parse_region(region) == region
    with pytest.raises(ConfigError, match="GovCloud are not supported"):
        parse_region("us-gov-west-1")


def write(tmp_path, text: str):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    return path


def test_a_tab_names_file_line_and_column_and_says_spaces(tmp_path):
    path = write(tmp_path, "config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs:\n\t- 8.8.8.8/32\n")
    with pytest.raises(StackError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}:4:1: not valid YAML: found character '\\t'")
    assert "spaces, never tabs" in str(refused.value)


def test_other_yaml_errors_name_the_line(tmp_path):
    path = write(tmp_path, "config:\n  aws:region: eu-central-1\n  solarmonitor:homeCidrs: [8.8.8.8/32\n")
    with pytest.raises(StackError, match=rf"^{path}:4:1: not valid YAML"):
        load_config(path)
    path = write(tmp_path, "config:\n  solarmonitor:homeCidrs: 2001:db8:1:2::\n")
    with pytest.raises(StackError, match=rf"^{path}:2:40: not valid YAML: mapping values") as refused:
        load_config(path)
    assert "needs its length and quotes" in str(refused.value)


@pytest.mark.parametrize("home, expected", [
    (["1.2.3.4/32"], ["1.2.3.4/32"]), ("1.2.3.4/32", ["1.2.3.4/32"]), ("1.2.3.4", ["1.2.3.4/32"]),
    (["1.2.3.4", "2a01:4f8:1:2::/64"], ["1.2.3.4/32"]), (["8.8.8.8/32"], []),
    (["2a01:4f8:1:2::/64"], []), (["192.168.1.1"], []), (None, []),
])
def test_the_placeholder_is_found_in_any_form(home, expected):
    assert placeholder_cidrs({"solarmonitor:homeCidrs": home}) == expected


def test_the_example_holds_the_placeholder_and_plans():
    # A fresh clone's `make plan` works offline: the placeholder is a valid (if foreign) address.
    assert placeholder_cidrs(DEV_CONFIG) == ["1.2.3.4/32"]


@pytest.mark.parametrize("stack, config, expected", [
    ("", "", ("dev", "Pulumi.dev.yaml")), ("home", "", ("home", "Pulumi.home.yaml")),
    ("", "Pulumi.home.yaml", ("home", "Pulumi.home.yaml")),
    ("home", "Pulumi.home.yaml", ("home", "Pulumi.home.yaml")),
])
def test_one_name_for_every_target(tmp_path, stack, config, expected):
    resolved = resolve(stack, config, project_dir=tmp_path)
    assert (resolved.name, resolved.config_file) == (expected[0], tmp_path / expected[1])


def test_make_plan_reads_any_file_and_names_the_stack_after_it(tmp_path):
    assert resolve("", tmp_path / "Pulumi.x.yaml", any_file=True).name == "x"
    assert resolve("", tmp_path / "settings.yaml", any_file=True).name == "plan"
    with pytest.raises(StackError):
        resolve("", tmp_path / "settings.yaml")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return fresh_clone(tmp_path_factory.mktemp("clone"))


def make_plan(clone, *args):
    return subprocess.run(["make", "-s", "plan", *args], cwd=clone, capture_output=True,
                          text=True, timeout=120)


def test_a_fresh_clones_plan_copies_the_example_warns_and_says_the_time_zone(clone):
    done = make_plan(clone)
    assert done.returncode == 0, done.stderr
    assert "created Pulumi.dev.yaml from Pulumi.example.yaml" in done.stderr
    assert "placeholder 1.2.3.4/32" in done.stderr and "before make deploy" in done.stderr
    assert "Time zone: Europe/Berlin, eu-central-1's default" in done.stdout
    assert json.loads((clone / "build/plan/plan.json").read_text())["resources"]


@pytest.mark.parametrize("region, timezone, says", [
    ("eu-west-1", None, "eu-west-1's default"),  # the plan's line: tests/test_plan.py
    ("eu-west-1", "Europe/Berlin", "from solarmonitor:timezone"),
    ("me-central-1", None, "as me-central-1 has no default here"),
])
def test_the_time_zones_source_when_set_or_unknown(region, timezone, says):
    from components.config import parse_settings
    from tools.plan import timezone_source
    settings = parse_settings({"homeCidrs": ["8.8.8.8"], "timezone": timezone}, region=region)
    assert timezone_source(settings, configured=timezone is not None).startswith(says)


def test_an_unknown_region_is_one_line(clone):
    # A known region the price table lacks is priced as us-east-1 and says so: tests/test_plan.py.
    (clone / "Pulumi.r.yaml").write_text("config:\n  aws:region: eu-central-3\n"
                                         "  solarmonitor:homeCidrs: [8.8.8.8/32]\n")
    done = make_plan(clone, "STACK=r", "OUT=build/r")
    errors = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert done.returncode != 0 and len(errors) == 1 and "eu-central-3" in errors[0]
