"""pi/install.sh run for real, as the README tells a new user to (`sudo solarmonitor/pi/install.sh
pi.ini` with the piAgentConfig the stack renders), in fresh Debian 12 "bookworm" (Python 3.11)
and 13 "trixie" (Python 3.13) roots made by `debootstrap --variant=minbase`: what Raspberry Pi OS
is built on, with less (no Python, no systemd, no CA certificates). Packages come from Debian's
mirror and PyPI, as on a Pi.

Per release, a fresh root goes from nothing to a working agent and bridge with one run, and a
second run changes nothing. A second root ends in exactly the fresh root's state (files, owners,
modes, the packages in each venv, units, user and groups) after what went before:
- bookworm: python3 without python3-venv, as on a Pi, where the installer before issue 23 fails
  (ensurepip, leaving a venv without pip); then a run killed while dpkg unpacks and one killed
  while pip installs the bridge's packages; then a run that completes;
- trixie: an install by the installer before issue 23 (tests/pi_install/install_39d115e.sh),
  then an update.

systemd cannot run in a chroot: the units are checked with its offline tools (`systemctl
is-enabled`, `systemd-analyze verify`), and each program is started as its unit says
(ExecStart=, User=), as that user. Real: Debian's packages, Python and pip, the installer, the
installed code, venvs and config, and mosquitto started from the rendered broker files. Stood in:
the FritzBox, an HTTPS echo service (its CA trusted in the root as a public CA is) and the IpGuard
Lambda (loopback servers, reached through the config's `fritzbox_url`, `ipv4_urls` and
`endpoint_url`), the broker's public name (an /etc/hosts line in the root), and the battery
(tests/pi_install/bridge_with_emulated_battery.py with anker-ble-emulator, put in the root for the
test only).
"""

from __future__ import annotations

import configparser
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from broker import Broker, Client, self_signed, write_etc
from conftest import ROOT, node_of, shared_run
from debian_root import PI_PACKAGES, Root, debootstrap
from loopback_http import Server
from test_mqtt_broker_real import add_observer
from test_pi_agent import soap
from tools.plan import rendered_files

HERE = Path(__file__).resolve().parent
OLD_INSTALLER = HERE / "pi_install" / "install_39d115e.sh"
PREFIX = "opt/solarmonitor-ip-agent"
UNITS = ("solarmonitor-ip-agent.timer", "solarmonitor-ip-agent.service",
         "solarmonitor-solix-bridge.service")
PACKAGES = ("python3", "python3-venv", "ca-certificates", "systemd", "bluez")
HOME_IPV4 = "9.9.9.9"  # what the echo service says

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("debootstrap", "unshare")),
    reason="needs root, debootstrap and unshare (make test installs debootstrap)")


# --- what the installer sets up for a config (quick) --------------------------------------------

def needs(config_text: str, tmp_path) -> subprocess.CompletedProcess:
    config = tmp_path / "pi.ini"
    config.write_text(config_text)
    return subprocess.run([sys.executable, str(ROOT / "pi" / "install_needs.py"), str(config)],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("config, parts", [
    ("[solix]\ndevices = none\n", []),
    ("[aws]\nregion = eu-central-1\n", []),
    ("[solix]\ndevices = AA:12:DE:AD:BE:EF=Solarbank2, AA:12:DE:AD:BE:F0=C1000\n",
     ["bridge", "bluetooth"]),
    ("[solix]\ndevices = none\n[solix_cloud]\nemail = owner@example.org\n", ["bridge"]),
    ("[solix]\ndevices =\n[solix_cloud]\nemail =\n", []),
])
def test_the_config_decides_the_bridge_and_bluetooth(tmp_path, config, parts):
    done = needs(config, tmp_path)
    assert done.returncode == 0 and done.stdout.split() == parts, done.stderr


def test_the_rendered_configs_ask_for_what_the_stack_config_says(tmp_path, dev_run, full_run):
    assert needs(dev_run.outputs["piAgentConfig"], tmp_path).stdout.split() == []
    assert needs(full_run.outputs["piAgentConfig"], tmp_path).stdout.split() == [
        "bridge", "bluetooth"]


def test_a_config_that_is_not_one_is_a_single_line(tmp_path):
    done = needs("devices = AA:12:DE:AD:BE:EF=Solarbank2\n", tmp_path)  # no section
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert "is not a Pi config (the piAgentConfig output)" in done.stderr


def test_the_broker_certificate_passes_the_checks_of_python_3_13(full_run, tmp_path):
    """Debian 13's bridge verifies the broker as Python 3.13 does: `ssl.create_default_context`
    sets VERIFY_X509_STRICT (Lib/ssl.py), OpenSSL's -x509_strict, which wants, among others, the
    CA's key named in the certificate (authority key id)."""
    files = rendered_files(full_run)[node_of(full_run, "mqtt")]
    for name in ("ca.crt", "server.crt"):
        (tmp_path / name).write_text(files[f"/etc/mosquitto/certs/{name}"])
    done = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile",
                           str(tmp_path / "ca.crt"), str(tmp_path / "server.crt")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_quick_loop_of_the_readme_leaves_out_only_the_slow_tests():
    pytest_command = ROOT / ".venv" / "bin" / "pytest"  # .venv/bin/pytest -m "not slow"
    done = subprocess.run([str(pytest_command), "-m", "not slow", "--collect-only", "-q",
                           "-p", "no:cacheprovider", str(Path(__file__))],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and not any("from_nothing" in line for line in collected)
    assert "2 deselected" in done.stdout


# --- the world around the Pi: Lambda, echo service, broker --------------------------------------

class Lambda:
    """The IpGuard Lambda's invoke endpoint: records each call and says 200."""

    def __init__(self):
        self.calls = []
        self.server = Server(self._invoke)
        self.url = self.server.url

    def _invoke(self, path, headers, body):
        self.calls.append((path, headers.get("Authorization", ""), json.loads(body)))
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"statusCode": 200, "changed": True})

    def close(self):
        self.server.close()


@pytest.fixture
def scratch(tmp_path):
    """Where the roots go (some 500 MB each): removed afterwards, also after a failure."""
    yield tmp_path / "roots"
    shutil.rmtree(tmp_path / "roots", ignore_errors=True)


@dataclass
class World:
    """What the Pi talks to: the FritzBox (UPnP, plain HTTP), an HTTPS echo service, the IpGuard
    Lambda, and the broker (with an observer that reads everything)."""
    fritzbox: Server
    echo: Server
    echo_ca: bytes  # trusted in the roots as Debian trusts a public CA
    aws: Lambda
    broker: Broker


def fritzbox(path, headers, body):
    """A FritzBox whose WAN address is the home's (the agent's first source for IPv4)."""
    action = headers.get("SOAPAction", "").strip('"').split("#")[-1]
    if path == "/igdupnp/control/WANIPConn1" and action == "GetExternalIPAddress":
        return 200, {"Content-Type": "text/xml"}, soap(action, {"NewExternalIPAddress": HOME_IPV4})
    return 500, {}, "unknown action"


@pytest.fixture
def program(request):
    """The example stack with every optional part on, in the layout the test names: the Pi's side
    differs between the layouts only in the broker (its name, certificate and configuration), so
    each release's test takes one layout and both are covered without doubling the slowest tests."""
    return shared_run(request.param, full=True)


@pytest.fixture
def world(program, tmp_path):
    key, cert = self_signed("localhost", [x509.DNSName("localhost")])
    echo = Server(lambda *request: (200, {"Content-Type": "text/plain"}, HOME_IPV4 + "\n"),
                  tls=(key, cert))
    broker = Broker(write_etc(rendered_files(program)[node_of(program, "mqtt")], tmp_path / "etc"))
    add_observer(broker)
    broker.start()
    world = World(Server(fritzbox), echo, cert, Lambda(), broker)
    yield world
    broker.cleanup()
    for server in (world.fritzbox, world.echo, world.aws):
        server.close()


def pi_ini(program, world: World) -> str:
    """The stack's piAgentConfig, pointed at the stand-ins and the test broker's port."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(program.outputs["piAgentConfig"])
    ini["aws"]["endpoint_url"] = world.aws.url
    ini["detect"]["fritzbox_url"] = world.fritzbox.url
    ini["detect"]["ipv4_urls"] = world.echo.url + "/ip"  # https://localhost:<port>
    ini["mqtt"]["port"] = str(world.broker.tls_port)
    text = io.StringIO()
    ini.write(text)
    return text.getvalue()


# --- a Pi ---------------------------------------------------------------------------------------

def new_pi(archive: Path, path: Path, program, ini: str, world: World) -> Root:
    """A fresh root with the README's copy of the repository in root's home, and pi.ini."""
    root = Root(archive, path, trusted=[world.echo_ca.decode()])
    copy_clone(root, "root/solarmonitor")
    (root.path / "root/pi.ini").write_text(ini)
    (root.path / "root/pi.ini").chmod(0o600)
    (root.path / "etc/hosts").write_text(
        f"127.0.0.1 localhost\n127.0.0.1 {program.outputs['mqttHost']}\n")
    return root


def copy_clone(root: Root, destination: str) -> Path:
    """What the README's `tar cz pi home_address.py | ssh … tar xz -C solarmonitor` copies."""
    target = root.path / destination
    target.mkdir(parents=True)
    packed = subprocess.run(["tar", "-c", "pi", "home_address.py"], cwd=ROOT, check=True,
                            capture_output=True, timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=packed, check=True, timeout=60)
    return target


def install(root: Root, clone: str = "solarmonitor", config: str = "pi.ini", umask: str = "022"
            ) -> subprocess.CompletedProcess:
    """`sudo solarmonitor/pi/install.sh pi.ini` in root's home, with the umask sudo passes on."""
    return root.run("/bin/sh", "-c", f"umask {umask} && cd /root && {clone}/pi/install.sh {config}")


def while_apt_is_busy(root: Root, seconds: float):
    """Holds apt's lists lock for `seconds`, as apt-daily or PackageKit on a freshly booted Pi
    (apt takes it with fcntl(2), apt-pkg/contrib/fileutl.cc GetLock: seen across the chroot)."""
    lock = (root.path / "var/lib/apt/lists/lock").open("a")
    fcntl.lockf(lock, fcntl.LOCK_EX)
    release = threading.Timer(seconds, lock.close)
    release.start()
    return release


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def apt_install(root: Root, *packages: str) -> None:
    """What a Pi has before our installer runs (Raspberry Pi OS ships these)."""
    ok(root.run("/bin/sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                "apt-get install -y -qq --no-install-recommends " + " ".join(packages)))


# --- what an install is -------------------------------------------------------------------------

def installed_state(root: Root) -> dict:
    """Everything the installer decides, with names for owners (ids differ between roots)."""
    def names(table: str) -> dict[int, str]:
        rows = (line.split(":") for line in (root.path / table).read_text().splitlines())
        return {int(row[2]): row[0] for row in rows}

    users, groups = names("etc/passwd"), names("etc/group")

    def describe(relative: str):
        path = root.path / relative
        if not path.exists():
            return None
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return stat.filemode(info.st_mode), users[info.st_uid], groups[info.st_gid], digest

    installed = sorted(str(p.relative_to(root.path)) for p in (root.path / PREFIX).iterdir())
    paths = [PREFIX, *installed, "etc/solarmonitor", "etc/solarmonitor/solarmonitor.ini",
             "etc/solarmonitor/ip-agent.ini", "var/lib/solarmonitor-ip-agent",
             *(f"etc/systemd/system/{unit}" for unit in UNITS)]
    state = {path: describe(path) for path in paths}
    for venv in ("venv", "solix-venv"):
        python = f"/{PREFIX}/{venv}/bin/python"
        if (root.path / python[1:]).exists():
            site = next((root.path / PREFIX / venv / "lib").glob("python3.*/site-packages"))
            state[venv] = (sorted(p.name for p in site.iterdir()),
                           ok(root.run(python, "-m", "pip", "freeze", "--all")).split(),
                           (root.path / PREFIX / venv / ".solarmonitor-build").read_text())
    state["enabled"] = root.run("systemctl", "is-enabled", *UNITS).stdout.split()
    account = ok(root.run("getent", "passwd", "solarmonitor")).strip().split(":")
    state["user"] = (account[0], int(account[2]) < 1000, account[5], account[6],
                     sorted(ok(root.run("id", "-nG", "solarmonitor")).split()))
    state["packages"] = ok(root.run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n",
                                    *PACKAGES)).splitlines()
    return state


def unit_command(root: Root, unit: str) -> tuple[list[str], str]:
    """A unit's ExecStart= and User= as installed."""
    unit_file = configparser.ConfigParser(interpolation=None, strict=False)
    unit_file.read_string((root.path / "etc/systemd/system" / unit).read_text())
    return shlex.split(unit_file["Service"]["ExecStart"]), unit_file["Service"]["User"]


def check_units(root: Root) -> None:
    assert root.run("systemctl", "is-enabled", *UNITS).stdout.split() == [
        "enabled", "static", "enabled"]  # the timer starts the agent's service
    units = [f"/etc/systemd/system/{unit}" for unit in UNITS]
    done = root.run("systemd-analyze", "verify", *units)  # ExecStart= binaries exist here
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def check_agent(root: Root, program, aws: Lambda) -> None:
    """The agent's unit command, as its user: the FritzBox and the echo service (over HTTPS,
    verified with the root's CA store) agree, and it tells the Lambda, with the config's key."""
    command, user = unit_command(root, "solarmonitor-ip-agent.service")
    assert "--once" in command
    aws.calls.clear()
    done = root.run(*command, user=user, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    function, key = program.outputs["ipGuardFunctionName"], program.outputs["piAccessKeyId"]
    ((path, authorization, event),) = aws.calls
    assert path == f"/2015-03-31/functions/{function}/invocations"
    assert f"Credential={key}/" in authorization and event == {"ipv4": f"{HOME_IPV4}/32"}
    state = root.path / "var/lib/solarmonitor-ip-agent/state.json"
    assert json.loads(state.read_text())["event"] == event


def check_bridge(root: Root, broker: Broker) -> None:
    """The bridge's unit command with --once, as its user, the battery emulated: its values
    reach the real broker, over TLS verified against the config's CA and the broker's name."""
    shim = root.path / "opt/solarmonitor-test"
    if not shim.exists():
        (shim / "site").mkdir(parents=True)
        shutil.copy(HERE / "pi_install" / "bridge_with_emulated_battery.py", shim)
        for package in ("anker_ble_emulator", "construct"):  # pure Python, pinned for the tests
            source = Path(importlib.util.find_spec(package).origin).parent
            shutil.copytree(source, shim / "site" / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
    (python, bridge, *arguments), user = unit_command(root, "solarmonitor-solix-bridge.service")
    observer = Client(broker, "observer", "watch")
    assert observer.connect()
    observer.client.subscribe("#", qos=1)
    assert observer.wait_for(lambda: observer.granted)
    done = root.run(python, "/opt/solarmonitor-test/bridge_with_emulated_battery.py", bridge,
                    *arguments, "--once", user=user, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert observer.wait_for(lambda: any(m.topic == "solar/solix/bridge/status"
                                         and m.payload == b"offline" for m in observer.messages))
    observer.close()
    topics = {m.topic: m.payload for m in observer.messages}
    values = [t for t in topics if t.startswith("solar/solix/") and "/bridge/" not in t]
    assert any(t.endswith("/battery_percentage") for t in values), sorted(topics)


CHECKS = threading.Lock()  # one scenario at a time talks to the Lambda and the broker


def check_works(root: Root, program, world: World) -> None:
    check_units(root)
    with CHECKS:
        check_agent(root, program, world.aws)
        check_bridge(root, world.broker)


# --- the scenarios ------------------------------------------------------------------------------

def side_by_side(*scenarios):
    """Runs the scenarios at once (they wait on Debian's mirror and PyPI more than on the CPU);
    their results, or the first failure."""
    with ThreadPoolExecutor(len(scenarios)) as pool:
        futures = [pool.submit(scenario) for scenario in scenarios]
        return [future.result() for future in futures]


def fresh_install(archive: Path, path: Path, program, ini: str, world) -> dict:
    """From nothing to a working agent and bridge, with one run; the second changes nothing."""
    root = new_pi(archive, path, program, ini, world)
    # An owner's umask 077 (sudo keeps it) and another apt at work: the same state as the other
    # scenario's (022, apt free), and the programs run as their user.
    while_apt_is_busy(root, 8)
    output = ok(install(root, umask="077"))
    assert output.startswith("installing from Debian's packages: python3\n"
                             "waiting for another apt to finish (up to 5 minutes)\n"
                             "installing from Debian's packages: python3-venv ca-certificates "
                             "systemd bluez\n"), output
    assert "systemd is not running here" in output
    state = installed_state(root)
    check_works(root, program, world)
    again = ok(install(root, config="/etc/solarmonitor/solarmonitor.ini", umask="077"))
    assert "installing" not in again and "building" not in again, again
    assert installed_state(root) == state
    root.remove()
    return state


def with_the_older_installer(root: Root) -> None:
    """tests/pi_install/install_39d115e.sh in place of pi/install.sh, in root's ~/older."""
    copy_clone(root, "root/older")
    shutil.copy(OLD_INSTALLER, root.path / "root/older/pi/install.sh")


def kill_when(root: Root, condition, what: str) -> str:
    """Starts the installer and kills it, and all it started, as soon as `condition()`."""
    process = root.start("/bin/sh", "-c", "cd /root && solarmonitor/pi/install.sh pi.ini")
    deadline = time.monotonic() + 600
    while not condition():
        assert process.poll() is None, f"the installer ended before {what}: {process.stdout.read()}"
        assert time.monotonic() < deadline, f"no {what} within 600 s"
        time.sleep(0.02)
    return root.kill(process)


def packages_in(site: Path) -> set[str]:
    return {p.name for p in site.iterdir()} if site.is_dir() else set()


def after_a_failed_and_two_killed_runs(archive: Path, path: Path, program, ini: str, world):
    """python3 without python3-venv, as on a Pi: the older installer fails (the issue), one run
    is killed while dpkg works, one while pip installs the bridge's packages, then one completes."""
    root = new_pi(archive, path, program, ini, world)
    apt_install(root, "python3")
    with_the_older_installer(root)
    failed = install(root, clone="older")
    assert failed.returncode != 0 and "apt install python3.11-venv" in failed.stdout
    venv = root.path / PREFIX / "venv/bin"
    assert (venv / "python").exists() and not (venv / "pip").exists()  # what it leaves

    # dpkg journals each package's change of state in /var/lib/dpkg/updates/<number> until it
    # writes its status file (lib/dpkg/dbmodify.c; tmp.i is there whenever it runs).
    journal = root.path / "var/lib/dpkg/updates"
    kill_when(root, lambda: any(p.name.isdigit() for p in journal.iterdir()), "dpkg at work")
    assert "dpkg was interrupted" in root.run("apt-get", "install", "-y", "python3-venv").stderr

    site = root.path / PREFIX / "solix-venv/lib/python3.11/site-packages"
    kill_when(root, lambda: any(name.endswith(".dist-info") and not name.startswith(
        ("pip-", "setuptools-")) for name in packages_in(site)), "pip installing")
    assert not (root.path / PREFIX / "solix-venv/.solarmonitor-build").exists()

    ok(install(root))
    state = installed_state(root)
    check_works(root, program, world)
    root.remove()
    return state


def over_the_older_installer(archive: Path, path: Path, program, ini: str, world):
    """A working install by the installer before issue 23, then an update."""
    root = new_pi(archive, path, program, ini, world)
    apt_install(root, "python3", "python3-venv", "ca-certificates", "systemd")
    with_the_older_installer(root)
    # Test scaffolding for the older installer only: its `systemctl enable --now` needs a
    # running systemd (src/systemctl/systemctl-enable.c refuses --now without one); the enable
    # part is kept, and its other systemctl calls are ignored in a chroot (src/shared/verbs.c).
    shim = root.path / "usr/local/sbin/systemctl"
    shim.write_text('#!/bin/bash\nargs=()\nfor arg in "$@"; do [ "$arg" = --now ] || '
                    'args+=("$arg"); done\nexec /usr/bin/systemctl "${args[@]}"\n')
    shim.chmod(0o755)
    older = ok(install(root, clone="older"))
    shim.unlink()
    assert "installed the IP agent and the battery bridge" in older
    assert root.run("systemctl", "is-enabled", *UNITS).stdout.split() == [
        "enabled", "static", "enabled"]
    assert (root.path / PREFIX / "solix-venv/bin/pip").exists()

    # What versions before that one left: the config's old place, a module and a package
    # (iniconfig, in the bridge's venv) since dropped.
    (root.path / "etc/solarmonitor/ip-agent.ini").write_text("[aws]\n")
    (root.path / PREFIX / "dropped_module.py").write_text("")
    ok(root.run(f"/{PREFIX}/solix-venv/bin/python", "-m", "pip", "install", "--quiet",
                "iniconfig==2.0.0"))

    updated = ok(install(root))
    assert "building /opt/solarmonitor-ip-agent/venv" in updated  # built by another version
    state = installed_state(root)
    check_works(root, program, world)

    # The battery goes: so do its bridge, venv and group.
    without = configparser.ConfigParser(interpolation=None)
    without.read_string(ini)
    without["solix"]["devices"] = "none"
    with (root.path / "root/pi.ini").open("w") as file:
        without.write(file)
    assert "so no battery bridge" in ok(install(root))
    assert root.run("systemctl", "is-enabled", *UNITS).stdout.split() == [
        "enabled", "static", "disabled"]
    assert not (root.path / PREFIX / "solix-venv").exists()
    assert ok(root.run("id", "-nG", "solarmonitor")).split() == ["solarmonitor"]
    root.remove()
    return state


def fresh_and_one_more(release: str, python: str, scenario, scratch: Path, program, world):
    """The fresh install and `scenario` side by side in roots of `release`: the same state."""
    archive = debootstrap(release, scratch)
    ini = pi_ini(program, world)
    fresh, other = side_by_side(
        lambda: fresh_install(archive, scratch / "fresh", program, ini, world),
        lambda: scenario(archive, scratch / "other", program, ini, world))
    assert fresh["venv"][2].startswith(f"python {python},")
    assert other == fresh


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("program", ["separate"], indirect=True)
def test_bookworm_from_nothing_and_after_a_failed_and_interrupted_runs(scratch, program, world):
    fresh_and_one_more("bookworm", "3.11", after_a_failed_and_two_killed_runs, scratch, program,
                       world)


@pytest.mark.slow
@needs_root
@pytest.mark.parametrize("program", ["compact"], indirect=True)
def test_trixie_from_nothing_and_over_the_older_installer(scratch, program, world):
    fresh_and_one_more("trixie", "3.13", over_the_older_installer, scratch, program, world)


def test_make_test_prepares_the_roots_the_slow_tests_start_from():
    """`make test` makes the releases' roots while it installs (Makefile, test-roots): the same
    releases as the slow tests', or one of them would wait for its debootstrap inside the tests."""
    makefile = (ROOT / "Makefile").read_text()
    prepared = re.search(r"^\tpython3 tests/debian_root.py (.+)", makefile, re.M).group(1)
    used = re.findall(r'fresh_and_one_more\("(\w+)"', Path(__file__).read_text())
    assert sorted(prepared.split()) == sorted(used) == ["bookworm", "trixie"]
    # ... and with the packages the installer installs (its ensure_packages lines).
    script = (ROOT / "pi/install.sh").read_text()
    installed = re.findall(r"^ensure_packages (\w\S*)$", script, re.M)
    installed += re.search(r"^packages=\((.+)\)$", script, re.M).group(1).split()
    installed += re.findall(r"packages\+=\((\S+)\)", script)
    assert sorted(installed) == sorted(PI_PACKAGES)
