"""How the compact layout's one instance shares its memory among the system and the four services
(README, "Memory on one instance", gives each figure's source). In the separate layout each
service has its instance to itself and none of this applies.

Each service's share is applied three ways (components/provisioning.py, limit_memory): a
systemd drop-in sets `MemoryHigh` to the share, so the kernel reclaims and swaps from a service
over its share before it takes from the others (systemd.resource-control(5): "the main mechanism
to control memory usage of a unit"), and, for the Go services (Telegraf, InfluxDB, Grafana),
`GOMEMLIMIT` to three quarters of it, so their garbage collector works to stay inside (Go's
runtime package, "GOMEMLIMIT ... a soft memory limit"; the quarter left is for what the limit
does not count: the program's code and the kernel's pages for its files); InfluxDB sizes its
query and cache limits from its share (components/influx_node.py, influxd_limits); mosquitto
refuses to allocate past its share less what its own count leaves out (`memory_limit`,
mosquitto_heap_limit). A swap file of SWAP_MIB takes what goes over for a moment (an upgrade's
dpkg, Grafana starting) instead of the kernel's OOM killer.
"""

from __future__ import annotations

SERVICES = ("mqtt", "telegraf", "influx", "grafana")
# Ubuntu 24.04 with nothing of ours: the kernel, systemd and journald, sshd, snapd and the SSM
# agent Ubuntu's AWS images run, cron (an estimate: nothing here boots an Ubuntu instance).
SYSTEM_MIB = 224
# mosquitto with a handful of connections uses a few MiB (tests/test_mqtt_broker_real.py measures
# it); its queues hold nothing for the stack's clients (clean sessions, files/mqtt/mosquitto.conf).
MQTT_MIB = 32
# What mosquitto's `memory_limit` does not count: it counts only the heap mosquitto allocates
# itself (src/memory_mosq.c, mosquitto__malloc), not its code and libraries, OpenSSL's
# allocations for each TLS connection, or the allocator's own. Measured here with the stack's
# clients: 11 MiB resident over a full heap (tests/test_mqtt_broker_real.py, the flood test);
# with a margin. A limit at the whole share let the broker pass it (43 MiB for a 32 MiB share)
# before it refused anything: the kernel throttled it first (MemoryHigh).
MQTT_UNCOUNTED_MIB = 16
SWAP_MIB = 1024
MIB = 2**20


def compact_shares(memory_mib: int) -> dict[str, int]:
    """{"system", "mqtt", "telegraf", "influx", "grafana": MiB} for an instance of
    `memory_mib` (at least 1024): they add up to all of it."""
    large = memory_mib >= 2048
    # Telegraf: its Go runtime, the batch it writes, and its disk buffer's segments in memory
    # while it catches up (two cached and the one written to, 20 MB each: tidwall/wal
    # DefaultOptions, which Telegraf opens it with: models/buffer_disk.go, NewDiskBuffer).
    telegraf = 128 if large else 96
    # InfluxDB: from 2 GiB, half, which is the whole of the separate layout's t4g.micro: the same
    # query and cache limits, so the dashboard behaves alike; on 1 GiB three eighths.
    influx = memory_mib // 2 if large else memory_mib * 3 // 8
    shares = {"system": SYSTEM_MIB, "mqtt": MQTT_MIB, "telegraf": telegraf, "influx": influx}
    # Grafana: the rest; Grafana recommends 512 MB at least (grafana.com/docs/grafana/v11.4/
    # setup-grafana/installation/, "Hardware recommendations"), which only 2 GiB leave it.
    shares["grafana"] = memory_mib - sum(shares.values())
    return shares


def mosquitto_heap_limit(share_mib: int) -> int:
    """mosquitto's `memory_limit` for a share of `share_mib`, in MiB: the share less what the
    limit does not count (MQTT_UNCOUNTED_MIB)."""
    return share_mib - MQTT_UNCOUNTED_MIB


def go_memory_limit(share_mib: int) -> int:
    """GOMEMLIMIT for a Go service with `share_mib`, in MiB."""
    return share_mib * 3 // 4
