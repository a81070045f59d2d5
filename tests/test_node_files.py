"""The scripts and templates under files/: shell hygiene, checked without a host, and the apt
helpers run against stand-in commands."""

import os
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT

APT_HELPERS = ROOT / "files" / "common" / "apt.sh"
# Sourced by other scripts, never run: they leave strictness to the script that sources them.
LIBRARIES = (APT_HELPERS, ROOT / "files" / "influx" / "influx-env.sh")
SCRIPTS = sorted(path for path in (ROOT / "files").rglob("*.sh") if path not in LIBRARIES)


def test_scripts_exist():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_are_strict(script):
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines[:8]
    assert "set -x" not in script.read_text()  # would print secrets into the command log


@pytest.mark.parametrize("script", [s for s in SCRIPTS if "apt" in s.read_text()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_scripts_install_packages_only_through_the_helpers(script):
    text = script.read_text()
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("apt-get" in line for line in code), "use apt_update / apt_install"
    if "apt_install" in text:
        assert text.index(". /usr/local/lib/solarmonitor/apt.sh") < text.index("apt_wait_for_boot")
        assert text.index("apt_wait_for_boot") < text.index("apt_update") < text.index("apt_install")


def test_shellcheck_passes_on_every_script():
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    done = subprocess.run([shellcheck, "-x", *map(str, SCRIPTS), *map(str, LIBRARIES),
                           str(ROOT / "pi" / "install.sh"),
                           *map(str, (ROOT / "tools").glob("*.sh")), str(ROOT / ".ci" / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout


# --- the apt helpers, with stand-ins for apt-get, systemctl, cloud-init and sleep ------------

def stand_ins(tmp_path, apt_failures: int, apt_daily_runs: int) -> tuple[dict, object]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    scripts = {
        # apt-get update fails `apt_failures` times (the lists lock is taken), then works.
        "apt-get": f"""echo "apt-get $* NEEDRESTART_MODE=$NEEDRESTART_MODE" >> {log}
if [[ "$*" == *" update "* ]]; then
  [ "$(grep -c ' update ' {log})" -gt {apt_failures} ] || exit 100
fi""",
        # apt-daily.service is active for its first `apt_daily_runs` checks.
        "systemctl": f"""echo "systemctl $*" >> {log}
n=$(grep -c 'systemctl is-active' {log}); [ "$n" -le {apt_daily_runs} ]""",
        "cloud-init": f'echo "cloud-init $*" >> {log}',
        "sleep": f'echo "sleep $*" >> {log}',
    }
    write_stand_ins(bin_dir, scripts)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "APT_RETRY_PAUSE": "0", "APT_WAIT_PAUSE": "0"}
    return env, log


def write_stand_ins(bin_dir, scripts: dict[str, str]) -> None:
    """Executable stand-ins {command: bash body} in `bin_dir`."""
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/usr/bin/env bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_helpers(env, commands: str):
    return subprocess.run(["bash", "-c", f"set -euo pipefail; . {APT_HELPERS}; {commands}"],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_apt_waits_for_cloud_init_and_apt_daily_then_retries_the_update(tmp_path):
    env, log = stand_ins(tmp_path, apt_failures=3, apt_daily_runs=2)
    done = run_helpers(env, "apt_wait_for_boot; apt_update; apt_install mosquitto")
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "cloud-init status --wait"
    assert sum(c.startswith("systemctl is-active") for c in calls) == 3  # 2 busy, then idle
    updates = [c for c in calls if " update " in c]
    assert len(updates) == 4  # three refused, the fourth works
    install = next(c for c in calls if " install " in c)
    assert install.endswith("NEEDRESTART_MODE=l") and "--force-confold" in install


def test_apt_update_gives_up_after_its_attempts(tmp_path):
    env, log = stand_ins(tmp_path, apt_failures=99, apt_daily_runs=0)
    done = run_helpers(env, "apt_update")
    assert done.returncode != 0
    assert sum(" update " in c for c in log.read_text().splitlines()) == 10


# --- the swap file of a shared host (files/common/swap.sh), with stand-ins for the kernel's part --

def swap_stand_ins(tmp_path) -> tuple[dict, object, object]:
    bin_dir, log, active = tmp_path / "bin", tmp_path / "calls", tmp_path / "active"
    bin_dir.mkdir()
    active.write_text("")
    scripts = {
        # swapon --show lists the active files; swapon FILE activates one; swapoff the reverse.
        "swapon": f"""echo "swapon $*" >> {log}
if [ "$1" = "--show=NAME" ]; then cat {active}; else echo "$1" >> {active}; fi""",
        "swapoff": f'echo "swapoff $*" >> {log}; grep -vx "$1" {active} > {active}.new || true; '
                   f'mv {active}.new {active}',
        "mkswap": f'echo "mkswap $*" >> {log}',
        "sysctl": f'echo "sysctl $*" >> {log}',
    }
    write_stand_ins(bin_dir, scripts)
    (tmp_path / "fstab").write_text("LABEL=cloudimg-rootfs / ext4 defaults 0 1\n")
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin",
           "SOLARMONITOR_SWAP_FILE": str(tmp_path / "swapfile"),
           "SOLARMONITOR_FSTAB": str(tmp_path / "fstab")}
    return env, log, active


def test_the_swap_file_is_made_once_on_at_boot_and_made_anew_for_another_size(tmp_path):
    env, log, active = swap_stand_ins(tmp_path)
    swap, swapfile = ROOT / "files" / "common" / "swap.sh", tmp_path / "swapfile"

    def swap_sh(size: str):
        return subprocess.run(["bash", str(swap), size], env=env, capture_output=True, text=True,
                              timeout=60)

    for _ in range(2):  # safe to run again: nothing is made or added twice
        assert swap_sh("1").returncode == 0
        assert swapfile.stat().st_size == 2**20 and stat.S_IMODE(swapfile.stat().st_mode) == 0o600
        fstab = (tmp_path / "fstab").read_text().splitlines()
        assert fstab.count(f"{swapfile} none swap sw 0 0") == 1 and len(fstab) == 2
    calls = log.read_text().splitlines()
    assert calls.count(f"mkswap {swapfile}") == 1 and calls.count(f"swapon {swapfile}") == 1
    assert active.read_text().split() == [str(swapfile)]
    assert sum(c.startswith("sysctl --quiet --load") for c in calls) == 2  # swappiness each time

    assert swap_sh("2").returncode == 0  # another size: off, made anew, on
    assert swapfile.stat().st_size == 2 * 2**20
    calls = log.read_text().splitlines()
    assert calls.count(f"swapoff {swapfile}") == 1 and calls.count(f"mkswap {swapfile}") == 2
    assert active.read_text().split() == [str(swapfile)]

    refused = swap_sh("1G")
    assert refused.returncode == 2 and "MiB" in refused.stderr


@pytest.mark.parametrize("running", [True, False])
def test_a_memory_share_applies_at_once_to_a_running_unit_and_at_the_first_start_otherwise(
        tmp_path, running):
    """files/common/memory-limit.sh: systemd reads the drop-in again; a unit that runs restarts
    with it, one not yet installed is left to start with it."""
    log, bin_dir = tmp_path / "calls", tmp_path / "bin"
    bin_dir.mkdir()
    write_stand_ins(bin_dir, {"systemctl": f'echo "systemctl $*" >> {log}\n'
                                           f'[ "$1" != is-active ] || exit {0 if running else 3}'})
    done = subprocess.run(["bash", str(ROOT / "files" / "common" / "memory-limit.sh"), "telegraf"],
                          env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "systemctl daemon-reload"
    assert ("systemctl restart telegraf" in calls) == running
