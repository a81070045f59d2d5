"""InfluxNode and TelegrafNode under the mock engine: durable data, backups, scoped secrets."""

import json

import pytest

from components.influx_node import BACKUP_TAG
from conftest import host_eip, host_instance, service_files, waits_for
from expected_bill import expected_total
from tools.mock_engine import SECRET


def test_data_volume_is_encrypted_attached_and_protected(dev_run):
    volume = dev_run.one("aws:ebs/volume:Volume", "influx-data")
    assert volume.inputs["encrypted"] is True and volume.inputs["type"] == "gp3"
    assert volume.inputs["size"] == 10 and volume.protect
    instance = host_instance(dev_run, "influx")
    attachment = dev_run.one("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
    assert attachment.raw_inputs["volumeId"] == volume.id
    assert attachment.raw_inputs["instanceId"] == instance.id
    assert not attachment.protect  # the attachment goes with the instance; the volume stays


def test_data_volume_is_mounted_by_uuid_with_nofail(dev_run):
    volume = dev_run.one("aws:ebs/volume:Volume", "influx-data")
    mount = dev_run.one("command:remote:Command", "influx-mount-data")
    assert mount.raw_inputs["create"] == f"sudo bash -s -- {volume.id}"
    script = mount.raw_inputs["stdin"]
    assert "set -euo pipefail" in script and "UUID=$uuid" in script and "nofail" in script
    config = service_files(dev_run)["influx"]["/etc/influxdb/config.toml"]
    assert all(line.split("=")[1].strip().strip('"').startswith("/var/lib/influxdb/")
               for line in config.splitlines() if "-path" in line)


def test_daily_snapshots_kept_backup_days(run):
    result = run(backupDays=14)
    policy = result.one("aws:dlm/lifecyclePolicy:LifecyclePolicy", "influx-backup")
    details = policy.raw_inputs["policyDetails"]
    volume = result.one("aws:ebs/volume:Volume", "influx-data")
    assert details["resourceTypes"] == ["VOLUME"]
    assert details["targetTags"] == {BACKUP_TAG: volume.raw_inputs["tags"][BACKUP_TAG]}
    schedule = details["schedules"][0]
    assert schedule["retainRule"]["count"] == 14
    assert schedule["createRule"]["interval"] == 24 and schedule["createRule"]["intervalUnit"] == "HOURS"
    role = result.one("aws:iam/role:Role", "influx-backup-role")
    trust = json.loads(role.raw_inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "dlm.amazonaws.com"}
    assert policy.raw_inputs["executionRoleArn"] == role.outputs["arn"]


def test_token_steps_log_nothing_and_their_output_is_secret(dev_run):
    tokens = dev_run.one("command:remote:Command", "influx-tokens")
    assert tokens.inputs["logging"] == "none" and "stdout" in tokens.secret_outputs
    assert {"influxAdminToken", "influxTelegrafToken", "influxGrafanaToken"} <= dev_run.secret_outputs
    script = tokens.raw_inputs["stdin"]
    assert "--write-bucket" in script and "--read-bucket" in script
    assert "influx auth delete" in script  # re-running rotates instead of piling up


def test_setup_uses_the_stack_operator_token_and_config(run):
    result = run(influxOrg="home", influxBucket="pv", influxRetention=365, rawRetention=14)
    env = service_files(result)["influx"]["/etc/solarmonitor/influx-setup.env"]
    values = dict(line.split("=", 1) for line in env.splitlines() if "=" in line and line[0] != "#")
    assert values["INFLUX_OPERATOR_TOKEN"] == result.outputs["influxAdminToken"]
    assert (values["INFLUX_ORG"], values["INFLUX_BUCKET"], values["INFLUX_RETENTION"]) == (
        "home", "pv", "14d")
    assert (values["INFLUX_HISTORY_BUCKET"], values["INFLUX_HISTORY_RETENTION"]) == (
        "pv_history", "365d")
    setup_file = result.one("command:remote:Command", "influx-file-etc-solarmonitor-influx-setup-env")
    assert setup_file.inputs["stdin"] == SECRET and setup_file.inputs["logging"] == "none"
    assert "/api/v2/setup" in result.one("command:remote:Command", "influx-setup").raw_inputs["stdin"]


def test_telegraf_waits_for_broker_and_influx(dev_run):
    first = dev_run.one("command:remote:Command", "telegraf-repo")
    for name in ("mqtt-apply", "influx-tokens"):
        assert waits_for(dev_run, first, dev_run.one("command:remote:Command", name)), name
    if dev_run.find("aws:ec2/route:Route", "nat-route"):  # the separate layout: through the NAT
        assert waits_for(dev_run, first, dev_run.one("command:remote:Command", "nat-enable"))
        assert waits_for(dev_run, first, dev_run.one("aws:ec2/route:Route", "nat-route"))


def test_private_nodes_are_reached_through_the_broker(separate_run):
    """Of the separate layout: the compact one has no private node."""
    dev_run = separate_run
    broker = host_eip(dev_run, "mqtt")
    for name in ("telegraf-repo", "influx-mount-data"):
        connection = dev_run.one("command:remote:Command", name).raw_inputs["connection"]
        assert connection["proxy"]["host"] == broker.outputs["publicIp"]
        assert connection["proxy"]["user"] == "ubuntu"
        assert connection["host"].startswith("10.42.1.")


def test_telegraf_files_carry_the_scoped_token_only(dev_run):
    files = service_files(dev_run)["telegraf"]
    env = files["/etc/default/telegraf"]
    assert f"INFLUX_TOKEN={dev_run.outputs['influxTelegrafToken']}" in env
    assert dev_run.outputs["influxAdminToken"] not in env
    assert files["/etc/telegraf/solarmonitor-ca.crt"] == dev_run.outputs["caCert"]
    env_step = dev_run.one("command:remote:Command", "telegraf-file-etc-default-telegraf")
    assert env_step.raw_inputs["create"].startswith("sudo install -D -m 0600 -o root -g root")


def test_the_bill_includes_data_volume_and_snapshots(dev_run):
    labels = [item["item"] for item in dev_run.outputs["monthlyCostUsd"]["items"]]
    assert "influx: gp3 data volume" in labels
    assert any("snapshots" in label for label in labels)


@pytest.mark.parametrize("overrides", [
    {}, {"nodes": {"influx": {"volumeGb": 40}}}, {"nodes": {"grafana": {"publicIpv4": False}}},
    {"layout": "compact", "nodes": None},
    {"layout": "compact", "nodes": {"compact": {"instanceType": "t4g.micro", "volumeGb": 40}}}])
def test_the_exported_bill_matches_an_independent_recomputation(run, overrides):
    result = run(**overrides)
    assert result.outputs["monthlyCostUsd"]["total"] == pytest.approx(
        expected_total(result, "eu-central-1"), abs=0.011)
