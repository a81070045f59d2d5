"""Every `pulumi up` after the first, read off the program under the mock engine: steps run in
order and again on a new instance, replacements keep data and addresses, hosts are verified."""

import hashlib
import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from components.provisioning import parse_install_command
from conftest import waits_for
from tools.mock_engine import SECRET

# Each node's steps in the order they must run; a name ending in "/" stands for the file steps
# written together before the script after them (files under that host path prefix); a tuple of
# such names is one group.
ORDER = {
    "mqtt": ["mqtt-file-usr-local-lib-solarmonitor-apt-sh",
             "mqtt-file-etc-apt-apt-conf-d-52solarmonitor-unattended-upgrades",
             "mqtt-install", "mqtt-file-etc-", "mqtt-apply"],
    "nat": ["nat-file-usr-local-lib-solarmonitor-apt-sh",
            "nat-file-etc-apt-apt-conf-d-52solarmonitor-unattended-upgrades",
            "nat-file-", "nat-enable"],
    "influx": ["influx-file-usr-local-lib-solarmonitor-apt-sh",
               "influx-file-etc-apt-apt-conf-d-52solarmonitor-unattended-upgrades",
               "influx-mount-data",
               "influx-file-etc-systemd-system-influxdb-service-d-solarmonitor-conf",
               "influx-repo", "influx-install", "influx-file-", "influx-setup",
               ("influx-file-etc-solarmonitor-influx-tasks-",
                "influx-file-etc-solarmonitor-influx-backfill-"), "influx-tasks", "influx-tokens"],
    "telegraf": ["telegraf-file-usr-local-lib-solarmonitor-apt-sh",
                 "telegraf-file-etc-apt-apt-conf-d-52solarmonitor-unattended-upgrades",
                 "telegraf-repo", "telegraf-install", "telegraf-file-", "telegraf-check",
                 "telegraf-apply"],
    "grafana": ["grafana-file-usr-local-lib-solarmonitor-apt-sh",
                "grafana-file-etc-apt-apt-conf-d-52solarmonitor-unattended-upgrades",
                "grafana-install", "grafana-file-", "grafana-apply"],
}


def commands(run):
    return run.find("command:remote:Command")


def groups(run, node: str) -> list[list]:
    """The node's steps, grouped as in ORDER (a prefix group holds the files not named alone and
    not under a longer prefix)."""
    steps = [s for s in commands(run) if s.name.startswith(f"{node}-")]
    named = {name for name in ORDER[node] if any(s.name == name for s in steps)}
    group_by_prefix = {prefix: entry for entry in ORDER[node] if entry not in named
                       for prefix in (entry if isinstance(entry, tuple) else (entry,))}

    def group_of(step):
        if step.name in named:
            return step.name
        longest = max((p for p in group_by_prefix if step.name.startswith(p)), key=len, default="")
        return group_by_prefix.get(longest)

    result = [[s for s in steps if group_of(s) == entry] for entry in ORDER[node]]
    assert sum(map(len, result)) == len(steps), f"{node}: a step is missing from ORDER"
    return result


@pytest.mark.parametrize("node", ORDER)
def test_each_nodes_steps_run_one_after_the_other(dev_run, node):
    chain = groups(dev_run, node)
    assert all(chain), [len(group) for group in chain]
    for before, after in zip(chain, chain[1:]):
        for step in after:
            for earlier in before:
                assert waits_for(dev_run, step, earlier), f"{step.name} before {earlier.name}"


def test_restart_steps_rerun_when_any_file_they_apply_changes(dev_run):
    for node in ORDER:
        chain = groups(dev_run, node)
        for files, script in zip(chain, chain[1:]):
            written = [s for s in files if parse_install_command(s.raw_inputs["create"])]
            if len(files) < 2 or len(written) != len(files):
                continue
            (step,) = script
            for file in written:
                digest = hashlib.sha256(file.raw_inputs["stdin"].encode()).hexdigest()
                assert digest in step.raw_inputs["triggers"], (step.name, file.name)


def test_telegraf_restarts_when_its_configuration_or_secrets_change(dev_run):
    apply = dev_run.one("command:remote:Command", "telegraf-apply")
    for path in ("etc-telegraf-telegraf-conf", "etc-default-telegraf",
                 "etc-telegraf-solarmonitor-ca-crt"):
        file = dev_run.one("command:remote:Command", f"telegraf-file-{path}")
        digest = hashlib.sha256(file.raw_inputs["stdin"].encode()).hexdigest()
        assert digest in apply.raw_inputs["triggers"], path


def host_of(run, step):
    """The instance a step's connection reaches: by its Elastic IP or its private address."""
    host = step.raw_inputs["connection"]["host"]
    for eip in run.find("aws:ec2/eip:Eip"):
        if eip.outputs["publicIp"] == host:
            return run.by_urn(next(r.urn for r in run.resources if r.id == eip.raw_inputs["instance"]))
    return next(i for i in run.find("aws:ec2/instance:Instance") if i.outputs["privateIp"] == host)


def test_every_step_is_tied_to_the_instance_it_runs_on(dev_run):
    # pulumi-command runs `create` only when an input changes; a public node keeps its Elastic
    # IP across a replacement, so only the instance id in the triggers makes the steps run again.
    for step in commands(dev_run):
        instance = host_of(dev_run, step)
        assert instance.id in step.raw_inputs["triggers"], step.name


def test_a_replaced_instance_reruns_every_step_on_it(run, dev_run):
    # arm64 -> x86 replaces the telegraf instance (see the next test); the mock gives a new id.
    before = {s.name: s.raw_inputs["triggers"] for s in commands(dev_run)}
    after = run(nodes={"telegraf": {"instanceType": "t3a.nano"}})
    rerun = {s.name for s in commands(after) if s.raw_inputs["triggers"] != before[s.name]}
    instance = after.one("aws:ec2/instance:Instance", "telegraf-host-instance")
    assert instance.replacement_trigger == "x86_64"
    assert {s.name for s in commands(after) if s.name.startswith("telegraf-")} <= rerun


def test_instances_are_replaced_not_refused_when_the_architecture_changes(dev_run):
    for instance in dev_run.find("aws:ec2/instance:Instance"):
        assert instance.ignore_changes == ["ami"], instance.name  # a new image is no reason
        expected = "arm64" if instance.raw_inputs["instanceType"].startswith("t4g.") else "x86_64"
        assert instance.replacement_trigger == expected, instance.name
        # The fixed private address is free only once the old instance is gone.
        assert instance.delete_before_replace and instance.raw_inputs["privateIp"]


def test_the_data_volume_outlives_instances_in_a_pinned_zone(dev_run):
    volume = dev_run.one("aws:ebs/volume:Volume", "influx-data")
    assert volume.protect
    instance = dev_run.one("aws:ec2/instance:Instance", "influx-host-instance")
    subnet = dev_run.one("aws:ec2/subnet:Subnet", "network-private")
    # From the subnet, not the instance: a replacement must not plan to replace the volume.
    assert subnet.urn in volume.dependencies and instance.urn not in volume.dependencies
    assert volume.raw_inputs["availabilityZone"] == subnet.outputs["availabilityZone"]
    attachment = dev_run.one("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
    assert attachment.delete_before_replace  # else: VolumeInUse


def test_the_zone_offers_every_instance_type_and_stays_put(run, dev_run):
    # The mock's first zone, like some real ones, has no t4g instances.
    for subnet in dev_run.find("aws:ec2/subnet:Subnet"):
        assert subnet.raw_inputs["availabilityZone"] == "eu-central-1b"
        assert subnet.ignore_changes == ["availabilityZone"]
    x86_only = run(nodes={node: {"instanceType": "t3.micro"}
                          for node in ("mqtt", "telegraf", "influx", "grafana")})
    assert {s.raw_inputs["availabilityZone"] for s in x86_only.find("aws:ec2/subnet:Subnet")} == {
        "eu-central-1a"}


def test_a_larger_volume_grows_the_file_system(run, dev_run):
    mount = dev_run.one("command:remote:Command", "influx-mount-data")
    assert 10 in mount.raw_inputs["triggers"] and "resize2fs" in mount.raw_inputs["stdin"]
    grown = run(nodes={"influx": {"volumeGb": 40}}).one("command:remote:Command",
                                                        "influx-mount-data")
    assert grown.raw_inputs["triggers"] != mount.raw_inputs["triggers"]


def test_influxd_never_starts_without_its_data_volume(dev_run):
    drop_in = dev_run.one("command:remote:Command",
                          "influx-file-etc-systemd-system-influxdb-service-d-solarmonitor-conf")
    assert "RequiresMountsFor=/var/lib/influxdb" in drop_in.raw_inputs["stdin"]
    install = dev_run.one("command:remote:Command", "influx-install")
    assert waits_for(dev_run, install, drop_in)  # in place before the package starts influxd
    setup = dev_run.one("command:remote:Command", "influx-setup")
    volume = dev_run.one("aws:ebs/volume:Volume", "influx-data")
    assert setup.raw_inputs["create"] == f"sudo bash -s -- {volume.id}"


def test_no_step_passes_its_previous_output_through_the_environment(dev_run):
    for step in commands(dev_run):
        assert step.raw_inputs["addPreviousOutputInEnv"] is False, step.name


# --- host keys ------------------------------------------------------------------------------

def public_key_of(private_openssh: str) -> str:
    key = serialization.load_ssh_private_key(private_openssh.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def test_every_host_gets_its_key_at_boot_and_every_connection_pins_it(dev_run):
    keys = {}
    for instance in dev_run.find("aws:ec2/instance:Instance"):
        assert instance.inputs["userData"] == SECRET  # it holds the host's private key
        assert instance.raw_inputs["userDataReplaceOnChange"] is True
        config = yaml.safe_load(instance.raw_inputs["userData"])
        assert instance.raw_inputs["userData"].startswith("#cloud-config\n")
        assert config["ssh_genkeytypes"] == [] and config["ssh_deletekeys"] is True
        private, public = config["ssh_keys"]["ed25519_private"], config["ssh_keys"]["ed25519_public"]
        assert public_key_of(private) == public
        keys[instance.id] = public
    broker = dev_run.one("aws:ec2/instance:Instance", "mqtt-host-instance")
    for step in commands(dev_run):
        connection = step.raw_inputs["connection"]
        assert connection["hostKey"] == keys[host_of(dev_run, step).id], step.name
        if "proxy" in connection:
            assert connection["proxy"]["hostKey"] == keys[broker.id], step.name


def test_host_keys_are_not_outputs_and_connections_stay_secret(dev_run):
    assert not any("ssh_keys" in json.dumps(value) for value in dev_run.outputs.values())
    for step in commands(dev_run):
        assert step.inputs["connection"] == SECRET


# --- InfluxDB over TLS ------------------------------------------------------------------------

def test_influxdb_speaks_tls_with_a_certificate_for_its_fixed_address(dev_run):
    from cryptography import x509
    from tools.plan import rendered_files
    files = rendered_files(dev_run)
    config = files["influx"]["/etc/influxdb/config.toml"]
    assert 'tls-cert = "/etc/influxdb/tls/server.crt"' in config
    cert = x509.load_pem_x509_certificate(files["influx"]["/etc/influxdb/tls/server.crt"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    address = dev_run.one("aws:ec2/instance:Instance", "influx-host-instance").raw_inputs["privateIp"]
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {address, "127.0.0.1"}
    assert dev_run.outputs["influxUrl"] == f"https://{address}:8086"
    assert f'urls = ["https://{address}:8086"]' in files["telegraf"]["/etc/telegraf/telegraf.conf"]


def output_section(conf: str) -> str:
    """Telegraf's [[outputs.influxdb_v2]] section, as rendered (what its disk buffer is keyed on
    after ${} expansion: config/plugin_id.go, generatePluginID)."""
    start = conf.index("[[outputs.influxdb_v2]]")
    end = conf.index("\n[[", start + 1)
    return conf[start:end]


def test_telegrafs_disk_buffer_survives_an_influx_replacement_and_a_token_rerun(run, dev_run):
    from tools.plan import rendered_files
    before = rendered_files(dev_run)["telegraf"]
    # t4g -> t3: another architecture, so a new InfluxDB instance (and its steps run again).
    replaced = run(nodes={"influx": {"instanceType": "t3.small"}})
    old = dev_run.one("aws:ec2/instance:Instance", "influx-host-instance")
    new = replaced.one("aws:ec2/instance:Instance", "influx-host-instance")
    assert new.id != old.id and new.raw_inputs["privateIp"] == old.raw_inputs["privateIp"]
    tokens = replaced.one("command:remote:Command", "influx-tokens")
    assert tokens.raw_inputs["triggers"] != dev_run.one(
        "command:remote:Command", "influx-tokens").raw_inputs["triggers"]  # it ran again
    after = rendered_files(replaced)["telegraf"]
    conf = "/etc/telegraf/telegraf.conf"
    assert output_section(after[conf]) == output_section(before[conf])
    # The token behind ${INFLUX_TOKEN}: the step hands out the kept one (tests/test_influx_scripts).
    assert after["/etc/default/telegraf"] == before["/etc/default/telegraf"]
