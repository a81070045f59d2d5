"""`make ssh NODE=…` and `make logs NODE=…` against real OpenSSH servers (Debian's sshd), one per
node, each with the host key the program made for that node and the stack's key authorized,
listening on the node's own address (from the stack's outputs, on loopback in a network
namespace of their own, so nothing else on this machine is reachable or disturbed). The tool runs
as a user runs it, `make` in a fresh clone, with the fake `pulumi` answering the outputs of a
mock-engine run of the program.

What it shows: a public node is reached directly and a private one through the broker, as
provisioning reaches them (components/host.py); a service's name reaches the node it runs on (the
compact layout's one node for each); a host whose key is not the one the stack made is refused;
`make logs` runs the real journalctl with the node's units; the key file is 0600."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import textwrap

import pytest

from conftest import node_of
from fresh_clone import fresh_clone
from stack_outputs_fixture import fake_pulumi_env
from tools.node_ssh import NodeError, journal_command, node_entry, ssh_files

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("sshd") or not shutil.which("unshare"),
    reason="needs root, Debian's openssh-server and unshare (make test installs them)")

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def host_keys_by_public(run) -> dict[str, str]:
    """The private half of every key the program made, by its public key (authorized_keys form)."""
    return {r.outputs["publicKeyOpenssh"].strip(): r.outputs["privateKeyOpenssh"]
            for r in run.find("tls:index/privateKey:PrivateKey")}


@pytest.fixture(scope="module")
def stack(dev_run, tmp_path_factory):
    """The outputs, the clone, and an sshd config per node (its address, the program's host key
    for it). Login is as root: this machine has no `ubuntu` user, so only the user differs."""
    return make_stack(dev_run, tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def separate_stack(separate_run, tmp_path_factory):
    """The same for the separate layout alone, whose private nodes are reached through the
    broker."""
    return make_stack(separate_run, tmp_path_factory.mktemp("ssh"))


def make_stack(dev_run, tmp):
    outputs = {**dev_run.outputs, "sshNodes": {
        name: {**entry, "user": "root",
               "jump": {**entry["jump"], "user": "root"} if entry["jump"] else None}
        for name, entry in dev_run.outputs["sshNodes"].items()}}
    private = host_keys_by_public(dev_run)
    (tmp / "authorized_keys").write_text(
        subprocess.run(["ssh-keygen", "-y", "-f", "/dev/stdin"], input=outputs["sshPrivateKey"],
                       capture_output=True, text=True, check=True).stdout)
    servers = {}
    for name, entry in outputs["sshNodes"].items():
        key = tmp / f"{name}_host_key"
        key.write_text(private[entry["hostKey"]])
        key.chmod(0o600)
        servers[name] = (entry["host"], key)
    return outputs, fresh_clone(tmp / "clone"), tmp, servers


def sshd_config(tmp, name, address, host_key, forwarding="yes") -> str:
    path = tmp / f"sshd_{name}.conf"
    path.write_text(textwrap.dedent(f"""\
        ListenAddress {address}:22
        HostKey {host_key}
        PidFile none
        AuthorizedKeysFile {tmp}/authorized_keys
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        AllowTcpForwarding {forwarding}
        LogLevel DEBUG1
        """))
    return str(path)


def in_namespace(stack, make_args: list[str], servers: dict | None = None,
                 forwarding="yes", timeout=90) -> subprocess.CompletedProcess:
    """Start one sshd per node on its address inside a fresh network namespace, run `make` there
    with the fake pulumi, stop the servers; every wait bounded."""
    outputs, clone, tmp, default_servers = stack
    servers = servers or default_servers
    lines = ["set -u", "ip link set lo up", "pids=()",
             'trap \'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null\' EXIT', "mkdir -p /run/sshd"]
    for address in sorted({address for address, _ in servers.values()}):
        lines.append(f"ip addr add {address}/32 dev lo")
    for name, (address, key) in servers.items():
        config = sshd_config(tmp, name, address, key,
                             forwarding if name == "mqtt" else "yes")
        lines += [f"{SSHD} -D -e -f {config} 2>{tmp}/sshd_{name}.log & pids+=($!)",
                  f"for i in $(seq 50); do (exec 3<>/dev/tcp/{address}/22) 2>/dev/null && break;"
                  " sleep 0.1; done"]
    lines.append(f"cd {clone} && make -s {' '.join(shlex.quote(a) for a in make_args)}")
    env = fake_pulumi_env(tmp, outputs, {"sshPrivateKey", "openDtuSettings"})
    return subprocess.run(["unshare", "--net", "bash", "-c", "\n".join(lines)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_a_public_node_is_reached_directly_with_its_pinned_host_key(stack):
    # The broker's node by the service's name: mqtt, or the compact node it runs on.
    done = in_namespace(stack, ["ssh", "NODE=mqtt", "CMD=echo reached $SSH_CONNECTION"])
    assert done.returncode == 0, done.stderr
    address = node_entry(stack[0], "mqtt")[1]["host"]
    assert f"reached {address} " in done.stdout and done.stdout.rstrip().endswith(f"{address} 22")
    # The key was on disk for the session only.
    assert not list((stack[1] / "build" / "ssh" / "dev").rglob("id_ed25519"))


def test_a_private_node_is_reached_through_the_broker(separate_stack):
    """Of the separate layout: the compact one has no private node."""
    stack = separate_stack
    outputs, _, tmp, _ = stack
    influx = outputs["sshNodes"]["influx"]
    assert influx["jump"]["host"] == outputs["sshNodes"]["mqtt"]["host"]
    done = in_namespace(stack, ["ssh", "NODE=influx", "CMD=echo reached $SSH_CONNECTION"])
    assert done.returncode == 0, done.stderr
    assert f"{influx['host']} 22" in done.stdout
    # The broker's sshd forwarded the connection (direct-tcpip), as for provisioning.
    assert f"connected to {influx['host']} port 22" in (tmp / "sshd_mqtt.log").read_text()


def test_without_the_brokers_forwarding_a_private_node_is_not_reached(separate_stack):
    """Of the separate layout: the compact one has no private node."""
    done = in_namespace(separate_stack, ["ssh", "NODE=influx", "CMD=true"], forwarding="no")
    assert done.returncode != 0


def test_a_host_with_another_key_is_refused(stack, tmp_path):
    outputs, _, _, servers = stack
    impostor = tmp_path / "impostor_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)],
                   check=True, timeout=30)
    grafana = node_entry(outputs, "grafana")[0]
    done = in_namespace(stack, ["ssh", "NODE=grafana", "CMD=echo reached"],
                        servers={**servers, grafana: (servers[grafana][0], impostor)})
    assert done.returncode != 0 and "reached" not in done.stdout
    assert "Host key verification failed" in done.stderr


def test_logs_runs_journalctl_with_the_nodes_units(stack):
    done = in_namespace(stack, ["logs", "NODE=telegraf", "ARGS=--since today"])
    # No journal in this container: the real journalctl, through sudo, says so and succeeds;
    # an option it did not know would fail.
    assert done.returncode == 0, done.stderr
    assert "No entries" in done.stdout + done.stderr
    assert journal_command(["telegraf"], ["--since", "today"]) == (
        "sudo journalctl --no-pager -n 100 -u telegraf --since today")


def test_an_unknown_node_names_the_nodes(stack):
    done = in_namespace(stack, ["ssh", "NODE=printer"])
    assert done.returncode != 0
    names = sorted({*stack[0]["sshNodes"], "mqtt", "telegraf", "influx", "grafana"})
    assert f"NODE='printer': expected one of {', '.join(names)}" in done.stderr


def test_a_service_names_the_node_it_runs_on_and_its_journal_alone(dev_run):
    outputs = dev_run.outputs
    for service, units in (("mqtt", ["mosquitto"]), ("telegraf", ["telegraf"]),
                           ("influx", ["influxdb"]), ("grafana", ["grafana-server"])):
        node, entry = node_entry(outputs, service)
        assert node == node_of(dev_run, service)
        assert entry["services"] == (units + ["solarmonitor-nat"] if node == "mqtt" else units)
    if len(outputs["sshNodes"]) == 1:  # NODE left out: the only node, with all its units
        node, entry = node_entry(outputs, "")
        assert node == "compact" and len(entry["services"]) == 4
    else:
        with pytest.raises(NodeError):
            node_entry(outputs, "")


def test_the_key_is_written_0600_in_a_private_directory(dev_run, tmp_path):
    config = ssh_files(dev_run.outputs, "dev", tmp_path / "ssh")
    key = tmp_path / "ssh" / "id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ssh").stat().st_mode) == 0o700
    assert key.read_text() == dev_run.outputs["sshPrivateKey"].rstrip("\n") + "\n"
    text = config.read_text()
    assert "StrictHostKeyChecking yes" in text and "GlobalKnownHostsFile /dev/null" in text
    known = (tmp_path / "ssh" / "known_hosts").read_text().splitlines()
    assert sorted(known) == sorted(f"solarmonitor-dev-{name} {entry['hostKey']}"
                                   for name, entry in dev_run.outputs["sshNodes"].items())


def test_every_nodes_services_are_units_its_steps_start(full_run):
    """The units `make logs` shows are the ones the node's provisioning (re)starts: by name in a
    script, or as the argument of common/restart-service.sh."""
    node_of_instance = {i.id: i.raw_inputs["tags"]["solarmonitor:node"]
                        for i in full_run.find("aws:ec2/instance:Instance")}
    started: dict[str, set[str]] = {}
    for step in full_run.find("command:remote:Command"):
        (node,) = {node_of_instance[t] for t in step.raw_inputs["triggers"] if t in node_of_instance}
        script, create = step.raw_inputs.get("stdin") or "", step.raw_inputs["create"]
        units = set(re.findall(r"systemctl restart ([\w@.-]+?)(?:\.service)?\s", script))
        if 'systemctl restart "$unit"' in script:
            units.add(shlex.split(create)[-1])
        started.setdefault(node, set()).update(units)
    for node, entry in full_run.outputs["sshNodes"].items():
        assert entry["services"] and set(entry["services"]) <= started[node], (node, started[node])
