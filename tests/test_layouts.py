"""The compact layout's promises, read off the program and `make plan` as a user runs it: its
bill in Frankfurt, and the README's figures (costs, the memory budget) kept true."""

from __future__ import annotations

import difflib
import json
import re
import subprocess

import pytest
import yaml

from components.memory import MQTT_UNCOUNTED_MIB, SWAP_MIB, compact_shares
from components.prices import memory_mib
from conftest import DEV_CONFIG, LAYOUTS, ROOT, dev_config, shared_run
from expected_bill import expected_total
from tools.mock_engine import run_program

README = (ROOT / "README.md").read_text()
MICRO = {**LAYOUTS["compact"], "nodes": {"compact": {"instanceType": "t4g.micro"}}}


@pytest.fixture(scope="module")
def micro_run():
    return run_program(dev_config(**MICRO))


def test_make_plan_prices_the_compact_layout_at_most_13_usd_on_a_micro_in_frankfurt(tmp_path):
    """As the owner plans it: the example's settings with the compact layout and a t4g.micro."""
    config = {key: value for key, value in DEV_CONFIG.items() if key != "solarmonitor:nodes"}
    config.update({"solarmonitor:layout": "compact",
                   "solarmonitor:nodes": {"compact": {"instanceType": "t4g.micro"}}})
    (tmp_path / "Pulumi.micro.yaml").write_text(yaml.safe_dump({"config": config}))
    done = subprocess.run(["make", "-s", "plan", f"CONFIG={tmp_path / 'Pulumi.micro.yaml'}",
                           f"OUT={tmp_path / 'plan'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "plan" / "plan.json").read_text())
    bill = document["monthlyCostUsd"]
    assert bill["region"] == "eu-central-1" and bill["total"] <= 13.00
    instances = [r for r in document["resources"] if r["type"] == "aws:ec2/instance:Instance"]
    assert [i["inputs"]["instanceType"] for i in instances] == ["t4g.micro"]


def test_the_compact_layout_is_one_instance_one_address_and_the_data_volume_backed_up(layout):
    run = shared_run(layout)
    instances = run.find("aws:ec2/instance:Instance")
    if layout == "separate":
        assert len(instances) == 4 and run.outputs["monthlyCostUsd"]["total"] == 32.85
        return
    (instance,) = instances
    assert instance.raw_inputs["instanceType"] == "t4g.small"
    (eip,) = run.find("aws:ec2/eip:Eip")
    assert eip.raw_inputs["instance"] == instance.id
    assert run.outputs["mqttHost"] == eip.outputs["publicDns"]
    assert run.outputs["grafanaUrl"] == f"https://{eip.outputs['publicDns']}:3000/"
    volume = run.one("aws:ebs/volume:Volume", "influx-data")
    assert volume.protect and volume.raw_inputs["size"] == 10
    assert run.one("aws:dlm/lifecyclePolicy:LifecyclePolicy", "influx-backup")
    assert not run.find("aws:ec2/route:Route", "nat-route")  # no NAT, no jump host
    assert not any("proxy" in step.raw_inputs["connection"]
                   for step in run.find("command:remote:Command"))
    assert run.outputs["monthlyCostUsd"]["total"] <= 20.00


def test_the_readme_costs_are_the_programs(micro_run):
    compact, separate = shared_run("compact"), shared_run("separate")
    totals = {"compact": compact.outputs["monthlyCostUsd"]["total"],
              "micro": micro_run.outputs["monthlyCostUsd"]["total"]}
    for run in (compact, micro_run):
        assert run.outputs["monthlyCostUsd"]["total"] == pytest.approx(
            expected_total(run, "eu-central-1"), abs=0.011)
    row = next(line for line in README.splitlines() if line.startswith("| **compact** |"))
    assert [float(cell.strip(" *").split()[0]) for cell in row.split("|")[2:4]] == [
        totals["compact"], totals["micro"]]
    row = next(line for line in README.splitlines()
               if line.startswith("| **total** | **") and "compact" not in line)
    assert re.findall(r"\*\*([\d.]+) USD\*\*", row) == [
        f"{separate.outputs['monthlyCostUsd']['total']:.2f}", f"{totals['compact']:.2f}",
        f"{totals['micro']:.2f}"]


def test_the_rounded_figures_in_the_prose_and_the_example_are_the_programs(micro_run):
    """The figures outside the tables: "about 20 USD a month instead of 33", "about 13 USD a
    month less", "saves 7 USD more", and Pulumi.example.yaml's comment on `layout`."""
    separate, compact = (shared_run(layout).outputs["monthlyCostUsd"]["total"]
                         for layout in ("separate", "compact"))
    micro = micro_run.outputs["monthlyCostUsd"]["total"]
    prose = " ".join(README.split())
    assert f"for about {round(compact)} USD a month instead of {round(separate)}" in prose
    assert f"the same stack for about {round(separate - compact)} USD a month less" in prose
    assert f"A `t4g.micro` saves {round(compact - micro)} USD more" in prose
    example = " ".join((ROOT / "Pulumi.example.yaml").read_text().replace("#", " ").split())
    assert (f"({separate:.2f} USD a month in eu-central-1)" in example
            and f"({compact:.2f} USD on the default t4g.small, {micro:.2f} on a t4g.micro)"
            in example), example


def test_the_readme_cost_tables_item_by_kind_are_the_programs(micro_run):
    """"Costs", row by row: each kind of cost of the defaults (an IPv4 and an IPv6 home) and of
    the compact layout, as the program prices it."""
    def by_kind(run, *kinds):
        return round(sum(item["monthlyUsd"] for item in run.outputs["monthlyCostUsd"]["items"]
                         if item["kind"] in kinds), 2)

    def row(start):
        line = next(line for line in README.splitlines() if line.startswith(f"| {start}"))
        return [float(cell.split()[0]) for cell in line.split("|")[2:4]]

    v6 = run_program(dev_config(homeCidrs=["8.8.8.8/32", "2a01:4f8:1:2::/64"]))
    for columns, runs in (("separate", (shared_run("separate"), v6)),
                          ("compact", (shared_run("compact"), micro_run))):
        rows = {"instances": "instances (" if columns == "separate" else "the instance |",
                "publicIpv4": "public IPv4 addresses (" if columns == "separate"
                else "one public IPv4 (",
                "volumes": "gp3 volumes (4 ×" if columns == "separate" else "gp3 volumes (8 GB"}
        assert row(rows["instances"]) == [by_kind(run, "instance") for run in runs]
        assert row(rows["publicIpv4"]) == [by_kind(run, "publicIpv4") for run in runs]
        assert row(rows["volumes"]) == [by_kind(run, "gp3", "snapshot") for run in runs]


def test_the_readme_memory_budget_is_the_programs():
    """README's table, row by row, is components/memory.py's shares, which add up to the
    instance; and the swap file is as large as it says."""
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in README.splitlines()
            if re.match(r"^\| (system|mosquitto|Telegraf|InfluxDB|Grafana) \| \d", line)}
    services = {"system": "system", "mosquitto": "mqtt", "Telegraf": "telegraf",
                "InfluxDB": "influx", "Grafana": "grafana"}
    assert set(rows) == set(services)
    for column, instance_type in enumerate(("t4g.micro", "t4g.small")):
        shares = compact_shares(memory_mib(instance_type))
        assert sum(shares.values()) == memory_mib(instance_type)
        for label, service in services.items():
            assert int(rows[label][column].strip().replace(",", "")) == shares[service], label
    assert f"A swap file of {SWAP_MIB // 1024} GiB" in " ".join(README.split())


@pytest.mark.parametrize("memory", [1024, 2048, 4096, 8192])
def test_every_share_is_positive_and_they_add_up(memory):
    shares = compact_shares(memory)
    assert min(shares.values()) > 0 and sum(shares.values()) == memory
    assert shares["grafana"] >= 512 or memory < 2048  # Grafana's recommended minimum from 2 GiB


# What the compact layout's files may differ in from the separate layout's: where a service is
# reached and listens (addresses, the loopback listeners) and its memory share; comments say so.
PLACEMENT = re.compile(r"10\.42\.\d+\.\d+|127\.0\.0\.1|ec2-[\d-]+\.|^memory_limit \d+$"
                       r"|^listener 8884$|^http-bind-address = |^$")
ONLY_SEPARATE = {"/etc/sysctl.d/60-solarmonitor-nat.conf", "/usr/local/sbin/solarmonitor-nat",
                 "/etc/systemd/system/solarmonitor-nat.service"}
ONLY_COMPACT = {"/etc/sysctl.d/60-solarmonitor-swap.conf", *(
    f"/etc/systemd/system/{unit}.service.d/solarmonitor-memory.conf"
    for unit in ("mosquitto", "telegraf", "influxdb", "grafana-server"))}


def test_each_services_files_are_the_same_in_both_layouts_but_for_the_placement():
    """One code path: every file a service writes is the same in both layouts, except the
    addresses it is reached at and listens on, and its memory share (and the certificates that
    name those addresses); the NAT's files are the separate layout's, the swap file's and the
    memory shares' the compact one's."""
    from tools.plan import rendered_files
    separate = {path: text for files in rendered_files(shared_run("separate")).values()
                for path, text in files.items()}
    (compact,) = rendered_files(shared_run("compact")).values()
    assert set(separate) - set(compact) == ONLY_SEPARATE
    assert set(compact) - set(separate) == ONLY_COMPACT
    differing = []
    for path in sorted(set(separate) & set(compact)):
        if separate[path] == compact[path] or compact[path].startswith("-----BEGIN"):
            continue  # a certificate or its key: made for the addresses it names
        lines = [line for line in difflib.ndiff(separate[path].splitlines(),
                                                compact[path].splitlines())
                 if line[:2] in ("- ", "+ ")]
        differing.append(path)
        for line in lines:
            text = line[2:].strip()
            assert text.startswith(("#", ";")) or PLACEMENT.search(text), (path, line)
    assert differing == ["/etc/grafana/grafana.ini",
                         "/etc/grafana/provisioning/datasources/solarmonitor.yaml",
                         "/etc/influxdb/config.toml", "/etc/mosquitto/mosquitto.conf",
                         "/etc/telegraf/telegraf-check.conf", "/etc/telegraf/telegraf.conf"]


def test_each_service_on_the_compact_node_is_held_to_its_share():
    """The drop-ins the compact node's services get: MemoryHigh at the share, GOMEMLIMIT at three
    quarters of it for the Go programs (README, "Memory on one instance"), none for mosquitto,
    which limits itself (memory_limit)."""
    from tools.plan import rendered_files
    (files,) = rendered_files(shared_run("compact")).values()
    shares = compact_shares(memory_mib("t4g.small"))
    for unit, service, go in (("mosquitto", "mqtt", False), ("telegraf", "telegraf", True),
                              ("influxdb", "influx", True), ("grafana-server", "grafana", True)):
        drop_in = files[f"/etc/systemd/system/{unit}.service.d/solarmonitor-memory.conf"]
        settings = [line for line in drop_in.splitlines() if line and not line.startswith("#")]
        assert settings == ["[Service]", f"MemoryHigh={shares[service]}M", *(
            [f"Environment=GOMEMLIMIT={shares[service] * 3 // 4}MiB"] if go else [])], unit
    assert f"\nmemory_limit {(shares['mqtt'] - MQTT_UNCOUNTED_MIB) * 2**20}\n" in files[
        "/etc/mosquitto/mosquitto.conf"]
