"""`make ssh NODE=<node>` and `make logs NODE=<node>`: reach a node the way provisioning does.
NODE may also name a service (mqtt, telegraf, influx, grafana): the node it runs on, and for the
logs that service's units alone; left out, it is the stack's only node (the compact layout's).

From the stack's outputs (`sshNodes`: each node's address, user and SSH host key, and the jump
host where provisioning goes through one; `sshPrivateKey`, a secret) it writes, into a directory
of its own under build/ssh/<stack>/ (mode 0700), for the length of the session:
  id_ed25519   the stack's key, mode 0600 (ssh refuses a key others can read)
  known_hosts  one line per node, under an alias, with the host key the stack made for it
  config       an ssh_config: each node by name, the jump by ProxyJump, host keys checked
               strictly (StrictHostKeyChecking yes: a host whose key differs is refused, a
               changed key is never learnt), no other key file, no agent, no global known_hosts
and runs ssh with it: a shell (or CMD) for `ssh`; the journal of the node's services for `logs`.
When ssh ends the directory goes, key included: the key (root on every node, from home) lies on
disk only while it is in use.

The aliases (HostKeyAlias solarmonitor-<stack>-<node>) tie each key to its node, not to an
address, so another stack's node at a reused address is refused too.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.stack_file import StackError, add_stack_arguments, stack_from  # noqa: E402
from tools.stack_outputs import OutputsError, load_outputs  # noqa: E402

STATE_DIR = Path("build/ssh")
LOG_LINES = 100  # enough to see a failed start and what led to it


class NodeError(Exception):
    """The node cannot be reached from these outputs; the message says why and what to do."""


def node_entry(outputs: dict, node: str) -> tuple[str, dict]:
    """The node to reach and its entry; NODE may also name a service (mqtt, telegraf, influx,
    grafana), which reaches the node it runs on and shows that service's journal alone."""
    nodes = outputs.get("sshNodes")
    if not isinstance(nodes, dict) or not outputs.get("sshPrivateKey"):
        raise NodeError("the stack's outputs have no sshNodes and sshPrivateKey: deploy this "
                        "version first (make deploy)")
    if not node and len(nodes) == 1:
        return next(iter(nodes.items()))
    if node in nodes:
        return node, nodes[node]
    for name, entry in nodes.items():
        units = (entry.get("serves") or {}).get(node)
        if units:
            return name, {**entry, "services": units}
    names = {*nodes, *(service for entry in nodes.values() for service in entry.get("serves") or {})}
    raise NodeError(f"NODE={node!r}: expected one of {', '.join(sorted(names))} "
                    "(e.g. make ssh NODE=mqtt)")


def _alias(stack: str, name: str) -> str:
    return f"solarmonitor-{stack}-{name}"


def ssh_files(outputs: dict, stack: str, directory: Path) -> Path:
    """Write the key, known_hosts and ssh_config for every node; return the config's path."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = directory / "id_ed25519"
    _write_private(key, outputs["sshPrivateKey"].rstrip("\n") + "\n")
    nodes: dict = outputs["sshNodes"]
    known, hosts = [], []
    for name, entry in nodes.items():
        known.append(f"{_alias(stack, name)} {entry['hostKey']}")
        hosts += [f"Host {name}", f"  HostName {entry['host']}", f"  User {entry['user']}",
                  f"  HostKeyAlias {_alias(stack, name)}"]
        jump = entry.get("jump")
        if jump:
            # The jump is one of the nodes (the broker) when its address and key are a node's.
            via = next((other for other, e in nodes.items() if (e["host"], e["hostKey"])
                        == (jump["host"], jump["hostKey"])), None)
            if via is None:
                via = f"{name}-jump"
                known.append(f"{_alias(stack, via)} {jump['hostKey']}")
                hosts += [f"Host {via}", f"  HostName {jump['host']}", f"  User {jump['user']}",
                          f"  HostKeyAlias {_alias(stack, via)}"]
            hosts.append(f"  ProxyJump {via}")
    (directory / "known_hosts").write_text("\n".join(known) + "\n")
    config = directory / "config"
    config.write_text("\n".join([
        f"# Written by `make ssh` for stack {stack} from its outputs; written again every time.",
        *hosts,
        "Host *",
        f"  IdentityFile {key.resolve()}",
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        f"  UserKnownHostsFile {(directory / 'known_hosts').resolve()}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  CheckHostIP no",
        "  ConnectTimeout 15",
        "  ServerAliveInterval 30", ""]))
    return config


def _write_private(path: Path, text: str) -> None:
    """Write a secret file that is never readable by others, not even for a moment."""
    temporary = path.with_suffix(".new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    temporary.replace(path)


def journal_command(services: list[str], journalctl_args: list[str]) -> str:
    """The remote command for `make logs`: the node's units' journal, newest last."""
    words = ["sudo", "journalctl", "--no-pager", "-n", str(LOG_LINES),
             *(arg for unit in services for arg in ("-u", unit)), *journalctl_args]
    return " ".join(shlex.quote(word) for word in words)


def ssh_command(config: Path, node: str, ssh_options: list[str], remote: str | None) -> list[str]:
    return ["ssh", "-F", str(config), *ssh_options, node, *([remote] if remote else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("ssh", "logs"))
    add_stack_arguments(parser)
    parser.add_argument("--node", default="")
    parser.add_argument("--ssh-options", default="", help="ssh's own options, one string")
    parser.add_argument("--command", default="", help="ssh: a command to run instead of a shell")
    parser.add_argument("--journal-options", default="", help="logs: journalctl's options")
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi)")
    options = parser.parse_args(argv)
    try:
        stack = stack_from(options)
        outputs = load_outputs(options.outputs, stack.name)
        node, entry = node_entry(outputs, options.node)
    except (StackError, OutputsError, NodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if shutil.which("ssh") is None:
        print("error: ssh is not installed (Debian/Ubuntu: apt install openssh-client)",
              file=sys.stderr)
        return 2
    remote = (journal_command(entry["services"], shlex.split(options.journal_options))
              if options.action == "logs" else options.command or None)
    (STATE_DIR / stack.name).mkdir(parents=True, exist_ok=True)
    session = Path(tempfile.mkdtemp(prefix="session-", dir=STATE_DIR / stack.name))
    try:
        config = ssh_files(outputs, stack.name, session)
        command = ssh_command(config, node, shlex.split(options.ssh_options), remote)
        process = subprocess.Popen(command)
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue  # Ctrl-C reached ssh too: it decides (ends journalctl -f, or passes it on)
    finally:
        shutil.rmtree(session, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
