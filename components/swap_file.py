"""SwapFile: a swap file on the host it is given, for an instance its services share (the compact
layout): what goes over for a moment (an upgrade's dpkg, Grafana starting, a wide query) is
swapped out instead of the kernel's OOM killer ending a service (components/memory.py).

Ubuntu's cloud images have no swap. The file is on the root volume (the data volume moves between
hosts); `vm.swappiness` 10 keeps the kernel from swapping before memory runs short.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.host import Host
from components.provisioning import Provisioner, RemoteFile
from components.templates import source


@dataclass(frozen=True)
class SwapFileArgs:
    host: Host
    """The host it is made on. Required."""
    size_mib: int
    """Its size; another size makes it anew. Required."""
    after: list[pulumi.Resource] | None = None
    """Resources SSH needs first (the home rules being seeded). Left out: none."""


class SwapFile(pulumi.ComponentResource):
    ready: pulumi.Resource
    """The step after which the swap file is on."""

    def __init__(self, name: str, args: SwapFileArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("solarmonitor:index:SwapFile", name, None, opts)
        steps = Provisioner(name, args.host, self, after=list(args.after or []), helpers=False)
        self.ready = steps.apply("enable", "common/swap.sh", [
            RemoteFile("/etc/sysctl.d/60-solarmonitor-swap.conf", source("common/swap.conf"))],
            args=[str(args.size_mib)])
        self.register_outputs({})
