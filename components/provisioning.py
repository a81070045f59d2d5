"""Remote provisioning steps over SSH (pulumi-command): write a file, run a script, and the
`Provisioner` that chains a host's steps one after the other.

Both send their content on stdin, never on the command line or in `environment` (which needs
sshd's AcceptEnv), and carry the SHA-256 of that content in `triggers`, so editing one template
replaces exactly the step that uses it. Neither logs anything that could hold a secret.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.templates import sha256, source

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


def write_file(name: str, connection: command.remote.ConnectionArgs, file: RemoteFile,
               opts: pulumi.ResourceOptions) -> command.remote.Command:
    """A step writing `file` on the host; re-run whenever its content changes."""
    content = pulumi.Output.from_input(file.content)
    return command.remote.Command(
        name, connection=connection, create=install_command(file), stdin=content,
        triggers=[content.apply(sha256)], logging=command.remote.Logging.NONE, opts=opts)


def write_files(name: str, connection: command.remote.ConnectionArgs, files: list[RemoteFile],
                opts: pulumi.ResourceOptions) -> list[command.remote.Command]:
    """One `write_file` step per file, named `<name>-file-<path>`."""
    return [write_file(f"{name}-file-{slug(f.path)}", connection, f, opts) for f in files]


def content_hashes(files: list[RemoteFile]) -> list[pulumi.Output[str]]:
    """Triggers for a step that applies these files: it re-runs when any of them changes."""
    return [pulumi.Output.from_input(f.content).apply(sha256) for f in files]


def run_script(name: str, connection: command.remote.ConnectionArgs, script: str,
               opts: pulumi.ResourceOptions, args: list[pulumi.Input[str]] | None = None,
               triggers: list[pulumi.Input] | None = None,
               prints_secret: bool = False) -> command.remote.Command:
    """Run `files/<script>` as root. `triggers` adds what else should re-run it (the hashes of
    the files it applies). With `prints_secret`, nothing is logged and stdout is a secret."""
    text = source(script)
    create = pulumi.Output.all(*(args or [])).apply(
        lambda values: " ".join(["sudo bash -s --", *(shlex.quote(str(v)) for v in values)]))
    if prints_secret:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            additional_secret_outputs=["stdout"]))
    return command.remote.Command(
        name, connection=connection, create=create, stdin=text,
        triggers=[sha256(text), *(triggers or [])],
        logging=command.remote.Logging.NONE if prints_secret
        else command.remote.Logging.STDOUT_AND_STDERR,
        opts=opts)


class Provisioner:
    """The provisioning steps of one host, each run after the one before it.

    Step names are `<name>-<step>`; file steps `<name>-file-<path>`. Children of `parent`."""

    def __init__(self, name: str, connection: command.remote.ConnectionArgs,
                 parent: pulumi.Resource, after: list[pulumi.Resource]):
        self.name, self.connection, self.parent = name, connection, parent
        self.last: list[pulumi.Resource] = list(after)

    def _after_last(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, depends_on=self.last)

    def run(self, step: str, script: str, args: list[pulumi.Input[str]] | None = None,
            triggers: list[pulumi.Input] | None = None,
            prints_secret: bool = False) -> command.remote.Command:
        """Run `files/<script>` (see `run_script`) after the previous step."""
        done = run_script(f"{self.name}-{step}", self.connection, script, self._after_last(),
                          args=args, triggers=triggers, prints_secret=prints_secret)
        self.last = [done]
        return done

    def apply(self, step: str, script: str, files: list[RemoteFile],
              args: list[pulumi.Input[str]] | None = None) -> command.remote.Command:
        """Write `files`, then run `script`, again whenever any of the files changes."""
        self.last = write_files(self.name, self.connection, files, self._after_last())
        return self.run(step, script, args=args, triggers=content_hashes(files))
