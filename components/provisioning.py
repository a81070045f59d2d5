"""Remote provisioning steps over SSH (pulumi-command): the `Provisioner` writes files and runs
scripts on one host, one step after the other. Editing one template re-runs exactly the steps
that use it; nothing that could hold a secret is logged.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_command as command

from components.memory import go_memory_limit
from components.templates import render, sha256, source

if TYPE_CHECKING:
    from components.host import Host

APT_HELPERS = "/usr/local/lib/solarmonitor/apt.sh"
UNATTENDED_UPGRADES = "/etc/apt/apt.conf.d/52solarmonitor-unattended-upgrades"
# The vendor repositories the nodes install from (files/grafana/repo.sh,
# files/common/influxdata-repo.sh): unattended-upgrades installs what they publish.
VENDOR_SITES = ("apt.grafana.com", "repos.influxdata.com")
_INSTALL = "sudo install -D -m {mode} -o {owner} -g {group} /dev/stdin {path}"
_INSTALL_PATTERN = re.compile(
    r"^sudo install -D -m (?P<mode>[0-7]{4}) -o (?P<owner>[a-z_][a-z0-9_-]*) "
    r"-g (?P<group>[a-z_][a-z0-9_-]*) /dev/stdin (?P<path>/[^\s;|&]+)$")


@dataclass(frozen=True)
class RemoteFile:
    """A file a node writes: absolute path, content, mode and ownership."""
    path: str
    content: pulumi.Input[str]
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"


def install_command(file: RemoteFile) -> str:
    return _INSTALL.format(mode=file.mode, owner=file.owner, group=file.group,
                           path=shlex.quote(file.path))


def parse_install_command(create: str) -> dict | None:
    """The path, mode, owner and group of a file-writing step, or None for other commands."""
    match = _INSTALL_PATTERN.match(create or "")
    return match.groupdict() if match else None


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def content_hashes(files: list[RemoteFile]) -> list[pulumi.Output[str]]:
    """Triggers for a step that applies these files: it re-runs when any of them changes."""
    return [pulumi.Output.from_input(f.content).apply(sha256) for f in files]


class Provisioner:
    """The provisioning steps of one host, each run after the one before it.

    Every step carries in its `triggers` the SHA-256 of what it sends and the id of the host's
    instance: pulumi-command runs `create` again only when an input changes, so a replaced
    instance behind the same Elastic IP would otherwise get nothing. Steps send their content on
    stdin, never on the command line or in `environment` (which needs sshd's AcceptEnv), and
    never pass the previous run's stdout along (`add_previous_output_in_env`, which would also go
    through the environment). Step names are `<name>-<step>`; file steps `<name>-file-<path>`;
    all are children of `parent`.

    Steps on a host a service shares with others (the compact layout) also wait for the steps
    already placed on it (`Host.provisioned`): each service's first step runs after the previous
    service's last, so no two run apt or restart a service at the same time.
    """

    def __init__(self, name: str, host: "Host", parent: pulumi.Resource,
                 after: list[pulumi.Resource], helpers: bool = True):
        self.name, self.host, self.parent = name, host, parent
        self.last: list[pulumi.Resource] = [host, *after, *host.provisioned]
        if helpers:
            # The first steps of every service: the helpers its install scripts source, and
            # security updates from then on, without a `pulumi up`.
            self.write([RemoteFile(APT_HELPERS, source("common/apt.sh"))])
            self.write([RemoteFile(UNATTENDED_UPGRADES, render("common/unattended-upgrades.conf",
                                                               sites=VENDOR_SITES))])

    def _done(self, steps: list[pulumi.Resource]) -> None:
        self.last = steps
        self.host.provisioned = steps

    def _step(self, name: str, create: pulumi.Input[str], stdin: pulumi.Input[str],
              triggers: list[pulumi.Input], logged: bool,
              secret_stdout: bool = False) -> command.remote.Command:
        opts = pulumi.ResourceOptions(parent=self.parent, depends_on=self.last,
                                      additional_secret_outputs=["stdout"] if secret_stdout else None)
        return command.remote.Command(
            name, connection=self.host.connection, create=create, stdin=stdin,
            triggers=[*triggers, self.host.instance.id], add_previous_output_in_env=False,
            logging=command.remote.Logging.STDOUT_AND_STDERR if logged
            else command.remote.Logging.NONE, opts=opts)

    def write(self, files: list[RemoteFile]) -> list[command.remote.Command]:
        """One step per file, all after the previous step; nothing they send is logged."""
        written = []
        for file in files:
            content = pulumi.Output.from_input(file.content)
            written.append(self._step(f"{self.name}-file-{slug(file.path)}",
                                      install_command(file), content,
                                      [content.apply(sha256)], logged=False))
        self._done(written)
        return written

    def run(self, step: str, script: str, args: list[pulumi.Input[str]] | None = None,
            triggers: list[pulumi.Input] | None = None,
            prints_secret: bool = False) -> command.remote.Command:
        """Run `files/<script>` as root after the previous step. `triggers` adds what else should
        re-run it (the hashes of the files it applies). With `prints_secret`, nothing is logged
        and stdout is a secret."""
        text = source(script)
        create = pulumi.Output.all(*(args or [])).apply(
            lambda values: " ".join(["sudo bash -s --", *(shlex.quote(str(v)) for v in values)]))
        done = self._step(f"{self.name}-{step}", create, text, [sha256(text), *(triggers or [])],
                          logged=not prints_secret, secret_stdout=prints_secret)
        self._done([done])
        return done

    def apply(self, step: str, script: str, files: list[RemoteFile],
              args: list[pulumi.Input[str]] | None = None) -> command.remote.Command:
        """Write `files`, then run `script`, again whenever any of the files changes."""
        self.write(files)
        return self.run(step, script, args=args, triggers=content_hashes(files))

    def limit_memory(self, unit: str, share_mib: int, go: bool) -> command.remote.Command:
        """Hold a systemd unit to its share of a shared host's memory (components/memory.py): a
        drop-in with MemoryHigh (and GOMEMLIMIT for a Go program), applied at once to a unit that
        runs. Before the unit's package is installed, it is in place for the first start."""
        drop_in = RemoteFile(f"/etc/systemd/system/{unit}.service.d/solarmonitor-memory.conf",
                             render("common/memory-limit.conf", unit=unit, share_mib=share_mib,
                                    go_limit_mib=go_memory_limit(share_mib) if go else None))
        return self.apply("memory", "common/memory-limit.sh", [drop_in], args=[unit])
