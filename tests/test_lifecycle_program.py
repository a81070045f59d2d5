"""Every `pulumi up` after the first, read off the program under the mock engine: steps run in
order and again on a new instance, replacements keep data and addresses, hosts are verified."""

import hashlib
import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from components.provisioning import parse_install_command
from conftest import (
    host_eip, host_instance, layout_nodes, nodes_setting, service_files, shared_run, waits_for)
from tools.mock_engine import SECRET, continued

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


# On a host a service shares (the compact layout), each service first gets its memory share, and
# the host its swap file.
UNITS = {"mqtt": "mosquitto", "influx": "influxdb", "telegraf": "telegraf",
         "grafana": "grafana-server"}
SWAP = ["swap-file-etc-sysctl-d-60-solarmonitor-swap-conf", "swap-enable"]


def order(run) -> dict[str, list]:
    """ORDER as `run`'s layout has it."""
    if "nat-enable" in {s.name for s in commands(run)}:
        return ORDER
    shared = {"swap": SWAP}
    for service, steps in ORDER.items():
        if service != "nat":  # before the package is installed
            at = next(i for i, step in enumerate(steps) if step in (f"{service}-repo",
                                                                     f"{service}-install"))
            shared[service] = [*steps[:at], f"{service}-file-etc-systemd-system-"
                               f"{UNITS[service]}-service-d-solarmonitor-memory-conf",
                               f"{service}-memory", *steps[at:]]
    return shared


def commands(run):
    return run.find("command:remote:Command")


def groups(run, node: str) -> list[list]:
    """The node's steps, grouped as in ORDER (a prefix group holds the files not named alone and
    not under a longer prefix)."""
    entries = order(run)[node]
    steps = [s for s in commands(run) if s.name.startswith(f"{node}-")]
    named = {name for name in entries if any(s.name == name for s in steps)}
    group_by_prefix = {prefix: entry for entry in entries if entry not in named
                       for prefix in (entry if isinstance(entry, tuple) else (entry,))}

    def group_of(step):
        if step.name in named:
            return step.name
        longest = max((p for p in group_by_prefix if step.name.startswith(p)), key=len, default="")
        return group_by_prefix.get(longest)

    result = [[s for s in steps if group_of(s) == entry] for entry in entries]
    assert sum(map(len, result)) == len(steps), f"{node}: a step is missing from ORDER"
    return result


def test_each_components_steps_run_one_after_the_other(dev_run):
    for node in order(dev_run):
        chain = groups(dev_run, node)
        assert all(chain), (node, [len(group) for group in chain])
        for before, after in zip(chain, chain[1:]):
            for step in after:
                for earlier in before:
                    assert waits_for(dev_run, step, earlier), f"{step.name} before {earlier.name}"


def test_no_two_scripts_run_on_one_host_at_the_same_time(dev_run):
    """Services sharing a host (all four in the compact layout, the broker and the NAT in the
    separate one) take turns: of any two steps on one host, one waits for the other, unless
    both only write a file (apt's and dpkg's locks, and restarts, are the scripts')."""
    by_host: dict[str, list] = {}
    for step in commands(dev_run):
        by_host.setdefault(host_of(dev_run, step).id, []).append(step)
    for steps in by_host.values():
        scripts = [s for s in steps if not parse_install_command(s.raw_inputs["create"])]
        for script in scripts:
            for other in steps:
                if other is not script:
                    assert waits_for(dev_run, script, other) or waits_for(dev_run, other, script), (
                        script.name, other.name)


def test_restart_steps_rerun_when_any_file_they_apply_changes(dev_run):
    for node in order(dev_run):
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


def test_a_replaced_instance_reruns_every_step_on_it(layout_run, layout, dev_run):
    # arm64 -> x86 replaces the telegraf instance (see the next test); the mock gives a new id.
    before = {s.name: s.raw_inputs["triggers"] for s in commands(dev_run)}
    after = layout_run(nodes=nodes_setting(layout, "telegraf", instanceType="t3a.small"))
    rerun = {s.name for s in commands(after) if s.raw_inputs["triggers"] != before[s.name]}
    instance = host_instance(after, "telegraf")
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
    instance = host_instance(dev_run, "influx")
    subnet = dev_run.one("aws:ec2/subnet:Subnet", "network-private")
    # From the subnet, not the instance: a replacement must not plan to replace the volume.
    assert subnet.urn in volume.dependencies and instance.urn not in volume.dependencies
    assert volume.raw_inputs["availabilityZone"] == subnet.outputs["availabilityZone"]
    attachment = dev_run.one("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
    assert attachment.delete_before_replace  # else: VolumeInUse


def test_the_zone_offers_every_instance_type_and_stays_put(layout_run, layout, dev_run):
    # The mock's first zone, like some real ones, has no t4g instances.
    for subnet in dev_run.find("aws:ec2/subnet:Subnet"):
        assert subnet.raw_inputs["availabilityZone"] == "eu-central-1b"
        assert subnet.ignore_changes == ["availabilityZone"]
    x86_only = layout_run(nodes=layout_nodes(layout, instanceType="t3.micro"))
    assert {s.raw_inputs["availabilityZone"] for s in x86_only.find("aws:ec2/subnet:Subnet")} == {
        "eu-central-1a"}


def test_a_larger_volume_grows_the_file_system(layout_run, layout, dev_run):
    mount = dev_run.one("command:remote:Command", "influx-mount-data")
    assert 10 in mount.raw_inputs["triggers"] and "resize2fs" in mount.raw_inputs["stdin"]
    grown = layout_run(nodes=nodes_setting(layout, "influx", volumeGb=40)).one(
        "command:remote:Command", "influx-mount-data")
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
    broker = host_instance(dev_run, "mqtt")
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

def test_influxdb_speaks_tls_with_a_certificate_for_its_fixed_address(dev_run, layout):
    from cryptography import x509
    files = service_files(dev_run)
    config = files["influx"]["/etc/influxdb/config.toml"]
    assert 'tls-cert = "/etc/influxdb/tls/server.crt"' in config
    cert = x509.load_pem_x509_certificate(files["influx"]["/etc/influxdb/tls/server.crt"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    address = host_instance(dev_run, "influx").raw_inputs["privateIp"]
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {address, "127.0.0.1"}
    # Telegraf and Grafana reach it on its fixed address, or on the host itself: the loopback
    # address, the only one it listens on there.
    url_host = "127.0.0.1" if layout == "compact" else address
    assert dev_run.outputs["influxUrl"] == f"https://{url_host}:8086"
    assert f'urls = ["https://{url_host}:8086"]' in files["telegraf"]["/etc/telegraf/telegraf.conf"]
    assert f'http-bind-address = "{"127.0.0.1" if layout == "compact" else ""}:8086"' in config


def output_section(conf: str) -> str:
    """Telegraf's [[outputs.influxdb_v2]] section, as rendered (what its disk buffer is keyed on
    after ${} expansion: config/plugin_id.go, generatePluginID)."""
    start = conf.index("[[outputs.influxdb_v2]]")
    end = conf.index("\n[[", start + 1)
    return conf[start:end]


def test_telegrafs_disk_buffer_survives_an_influx_replacement_and_a_token_rerun(
        layout_run, layout, dev_run):
    before = service_files(dev_run)["telegraf"]
    # t4g -> t3: another architecture, so a new InfluxDB instance (and its steps run again).
    replaced = layout_run(nodes=nodes_setting(layout, "influx", instanceType="t3.small"))
    old, new = host_instance(dev_run, "influx"), host_instance(replaced, "influx")
    assert new.id != old.id and new.raw_inputs["privateIp"] == old.raw_inputs["privateIp"]
    tokens = replaced.one("command:remote:Command", "influx-tokens")
    assert tokens.raw_inputs["triggers"] != dev_run.one(
        "command:remote:Command", "influx-tokens").raw_inputs["triggers"]  # it ran again
    after = service_files(replaced)["telegraf"]
    conf = "/etc/telegraf/telegraf.conf"
    assert output_section(after[conf]) == output_section(before[conf])
    # The token behind ${INFLUX_TOKEN}: the step hands out the kept one (tests/test_influx_scripts).
    assert after["/etc/default/telegraf"] == before["/etc/default/telegraf"]


# --- switching layouts ------------------------------------------------------------------------

@pytest.mark.parametrize("before, after", [("separate", "compact"), ("compact", "separate")])
def test_switching_layouts_moves_the_data_volume_with_its_history_and_tokens(before, after):
    """`pulumi up` with the other layout, read off two runs as the engine matches the second
    against the first's state (tools/mock_engine.py, continued)."""
    old, new = shared_run(before), shared_run(after)
    matched = continued(new, [r.urn for r in old.resources])
    kept = {old.by_urn(urn).name: new.by_urn(urn_now) for urn_now, urn in matched.items()}

    # The same volume and backups: same URN and id, so nothing is made or deleted, and nothing
    # in the inputs that would replace it changes (the zone is the network's in both layouts).
    for name in ("influx-data", "influx-backup", "influx-backup-role"):
        assert name in kept and kept[name].id == old.find(kept[name].type, name)[0].id, name
    volume, was = new.one("aws:ebs/volume:Volume", "influx-data"), old.one(
        "aws:ebs/volume:Volume", "influx-data")
    assert volume.protect and volume.inputs == was.inputs
    # ...and every secret: the CA, the broker's passwords, InfluxDB's, Grafana's.
    for generated in ("tls:index/privateKey:PrivateKey", "random:index/randomPassword:RandomPassword"):
        for resource in old.find(generated):
            if not resource.name.endswith("-ssh-host-key"):  # a host's own, gone with it
                assert resource.name in kept, resource.name

    # Attached anew to the new host: the old attachment goes first (the volume is attached to
    # one instance at a time), which stops the old instance; the new host is started if need be
    # before the volume is mounted again, and InfluxDB set up on it.
    instance = host_instance(new, "influx")
    assert instance.name not in {i.name for i in old.find("aws:ec2/instance:Instance")}
    attachment = new.one("aws:ec2/volumeAttachment:VolumeAttachment", "influx-data-attachment")
    assert attachment.raw_inputs["instanceId"] == instance.id != host_instance(old, "influx").id
    assert attachment.delete_before_replace and attachment.raw_inputs["stopInstanceBeforeDetaching"]
    # ...the same attachment, replaced: one made anew would be attached while the old one holds
    # the volume (the engine deletes what the program no longer has only at the end: VolumeInUse).
    assert kept.get("influx-data-attachment") is attachment
    running = new.one("aws:ec2transitgateway/instanceState:InstanceState", "influx-running")
    assert running.raw_inputs == {"instanceId": instance.id, "state": "running"}
    assert waits_for(new, running, attachment)
    for step in ("influx-mount-data", "influx-setup", "influx-tokens"):
        now, then = new.one("command:remote:Command", step), old.one("command:remote:Command", step)
        assert waits_for(new, now, running), step
        assert instance.id in now.raw_inputs["triggers"] and now.raw_inputs["triggers"] != then.raw_inputs["triggers"]
    assert new.one("command:remote:Command", "influx-mount-data").raw_inputs["create"].endswith(volume.id)
    # The tokens are the volume's (tokens.sh hands out the ones it made: tests/test_influx_scripts),
    # so Telegraf and Grafana keep theirs.
    assert service_files(new)["telegraf"]["/etc/default/telegraf"] == service_files(old)[
        "telegraf"]["/etc/default/telegraf"]

    # The broker's Elastic IP moves to the new host (an update, AssociateAddress), so its name,
    # which OpenDTU and the Pi are given, stays (the mock gives each name its own address).
    assert kept[host_eip(old, "mqtt").name] is host_eip(new, "mqtt")

    # The new host is made while the old ones still run: its fixed address is none of theirs.
    addresses = {i.raw_inputs["privateIp"] for i in old.find("aws:ec2/instance:Instance")}
    assert not {i.raw_inputs["privateIp"] for i in new.find("aws:ec2/instance:Instance")} & addresses
