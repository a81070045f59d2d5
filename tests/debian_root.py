"""Fresh Debian roots for the Pi installer's tests, made by `debootstrap --variant=minbase`
(Debian's Essential and required packages and apt: the base Raspberry Pi OS is built on, with
less) from this machine's Debian mirror, and copied for each scenario.

What does not change between runs is kept between them, on this machine, outside the repository
(CACHE): the tar of a release's root, made again whenever the mirror's release file (InRelease,
all debootstrap reads of the suite) or debootstrap changes; the packages apt downloads in the
roots (apt takes a package in its archives directory whose file name, so name, version and
architecture, matches, and Debian never reuses a version). The first run fills them; a later one
installs the same, without the waits. (Not pip's downloads: pip's HTTP cache keeps only what the
server lets it cache, and the proxy between this machine and PyPI sends no Cache-Control.)

Commands run chrooted in their own mount and PID namespaces (util-linux `unshare`): the root has
its own /proc and /dev/pts, no systemd runs (there is no PID 1 of the root's own: systemctl sees a
chroot), and every process a command leaves behind dies with it, also when the test kills it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

# What `sudo` leaves of an environment: nothing of this machine's (its pip and TLS settings).
CLEAN_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
             "LANG=C.UTF-8", "TERM=dumb"]
# PID 1 of the namespace stays outside the root (so systemctl knows it is in a chroot, as in an
# image build) and gives the root its own pseudo-terminals (apt's log wants one).
ENTER = ('mount -t devpts -o newinstance,ptmxmode=0666 devpts "$0/dev/pts" && '
         'chroot "$0" "$@"; exit $?')
CACHE = Path(tempfile.gettempdir()) / "solarmonitor-test-cache"
# What pi/install.sh installs from Debian on a minbase root with a battery (its ensure_packages
# lines; tests/test_pi_install.py keeps the two the same): `make test-roots` downloads them.
PI_PACKAGES = ("python3", "python3-venv", "ca-certificates", "systemd", "bluez")
CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (the only one it may reach)."""
    sources = sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))
    for path in [*sources, Path("/etc/apt/sources.list")]:
        text = path.read_text() if path.exists() else ""
        for url in re.findall(r"(?:^URIs:|^deb)\s+(\S+)", text, re.M):
            if url.rstrip("/").endswith("/debian"):
                return url
    return "http://deb.debian.org/debian"


@contextmanager
def locked(path: Path):
    """One test session at a time (other clones' too) past this point."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def debootstrap(release: str, target: Path) -> Path:
    """A tar of a fresh minbase root of `release` (apt's downloaded packages left out), made once
    per state of the mirror's `release` and debootstrap's version."""
    mirror = debian_mirror()
    with urllib.request.urlopen(f"{mirror.rstrip('/')}/dists/{release}/InRelease",
                                timeout=60) as response:
        suite = response.read()
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "debootstrap"],
                             capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([suite, version.encode(), mirror.encode()])).hexdigest()[:16]
    roots = CACHE / "roots"
    archive = roots / f"{release}-minbase-{key}.tar"
    with locked(roots / f"{release}.lock"):
        if not archive.exists():
            target.mkdir(parents=True, exist_ok=True)
            tree = target / f"{release}-tree"
            done = subprocess.run(["debootstrap", "--variant=minbase", release, str(tree), mirror],
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"debootstrap {release}: {done.stdout[-3000:]}{done.stderr}"
            for package in (tree / "var/cache/apt/archives").glob("*.deb"):
                package.unlink()
            partial = archive.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(tree), "-cf", str(partial), "."], check=True,
                           timeout=300)
            shutil.rmtree(tree)
            for older in roots.glob(f"{release}-minbase-*.tar"):
                older.unlink()
            partial.rename(archive)
    return archive


def local_certificates() -> list[str]:
    """The CA certificates this machine trusts beyond Debian's own (ca-certificates): here, the
    proxy that inspects TLS on the way to PyPI. A Pi behind such a proxy has the same setup."""
    debian = {"".join(pem.split()) for path in Path("/usr/share/ca-certificates").rglob("*.crt")
              for pem in CERTIFICATE.findall(path.read_text())}
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    trusted = CERTIFICATE.findall(bundle.read_text()) if bundle.exists() else []
    return [pem for pem in trusted if "".join(pem.split()) not in debian]


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy(source, target)


class Root:
    """A Debian root unpacked from a debootstrap tar, with this machine's name service, and the CA
    certificates it trusts beyond Debian's (this machine's, and `trusted`) where Debian's
    ca-certificates takes them from when it is installed."""

    def __init__(self, archive: Path, path: Path, trusted: list[str] = ()):
        self.path = path
        release = archive.name.split("-minbase-")[0]  # debootstrap()'s name for it
        self.packages = CACHE / "packages" / release  # apt's, kept between runs
        self.packages.mkdir(parents=True, exist_ok=True)
        path.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(path), "-xf", str(archive)], check=True, timeout=300)
        archives = path / "var/cache/apt/archives"
        for package in self.packages.glob("*.deb"):
            link_or_copy(package, archives / package.name)  # apt writes none in place
        shutil.copy("/etc/resolv.conf", path / "etc/resolv.conf")
        local = path / "usr/local/share/ca-certificates"
        local.mkdir(parents=True, exist_ok=True)
        for number, pem in enumerate([*local_certificates(), *trusted]):
            (local / f"local-{number}.crt").write_text(pem.strip() + "\n")

    def command(self, *command: str, user: str | None = None) -> list[str]:
        runuser = ["/usr/sbin/runuser", "-u", user, "--"] if user else []
        inner = ["/usr/bin/env", "-i", *CLEAN_ENV, *runuser, *command]
        return ["unshare", "--mount", "--pid", "--fork", "--kill-child",
                f"--mount-proc={self.path}/proc", "/bin/sh", "-c", ENTER, str(self.path), *inner]

    def run(self, *command: str, user: str | None = None, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self.command(*command, user=user), capture_output=True,
                                  text=True, timeout=timeout, input=input)
        finally:
            self.wait_until_empty()

    def start(self, *command: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*command), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def kill(self, process: subprocess.Popen) -> str:
        """Pulls the plug: SIGKILL for the command and everything it started. Its output."""
        process.send_signal(signal.SIGKILL)  # and the kernel kills its namespace's processes
        output, _ = process.communicate(timeout=30)
        self.wait_until_empty()
        return output

    def processes(self) -> list[int]:
        """This machine's processes whose root is this root."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.readlink(entry / "root") == str(self.path):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    def wait_until_empty(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.processes():
            assert time.monotonic() < deadline, f"processes left in {self.path}"
            time.sleep(0.05)

    def process_running(self, pattern: str) -> bool:
        """Whether a process in this root has a command line matching `pattern`."""
        for pid in self.processes():
            try:
                line = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if re.search(pattern, line.decode(errors="replace")):
                return True
        return False

    def keep_packages(self) -> None:
        """The packages apt downloaded here, into the release's cache (whole files only)."""
        for package in (self.path / "var/cache/apt/archives").glob("*.deb"):
            if not (self.packages / package.name).exists():
                partial = self.packages / f".{package.name}.{os.getpid()}"
                link_or_copy(package, partial)
                partial.rename(self.packages / package.name)

    def remove(self) -> None:
        self.wait_until_empty()
        self.keep_packages()
        shutil.rmtree(self.path, ignore_errors=True)


if __name__ == "__main__":
    # `make test` makes the releases' roots here while pip and npm install (Makefile, test), so
    # a first run's debootstrap (about a minute of downloads and half a minute of CPU a release)
    # is not on the test session's critical path. Nothing depends on it: a root it could not make
    # is made (or its error shown) by the test that needs it.
    import sys
    from concurrent.futures import ThreadPoolExecutor

    def prepare(release: str) -> None:
        try:
            archive = debootstrap(release, scratch / release)
            if any((CACHE / "packages" / release).glob("*.deb")):
                return  # downloaded by an earlier run; the tests add what they download
            root = Root(archive, scratch / release / "root")
            root.run("/bin/sh", "-c", "apt-get update -qq && apt-get install -y -qq "
                     f"--download-only --no-install-recommends {' '.join(PI_PACKAGES)}")
            root.remove()
        except Exception as error:  # noqa: BLE001 - said, and left to the test
            print(f"debian_root.py: no {release} root yet ({str(error)[:200]})", file=sys.stderr)

    with tempfile.TemporaryDirectory() as directory, ThreadPoolExecutor() as pool:
        scratch = Path(directory)
        list(pool.map(prepare, sys.argv[1:]))
