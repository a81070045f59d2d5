"""Security updates without a `pulumi up`: every node gets the same unattended-upgrades
configuration, read here by apt's own parser (python3-apt's apt_pkg, Debian's package, run with
the system's python3). Its patterns name the hosts the nodes' sources lines point at: the
repositories are matched by `site` (unattended-upgrade's match_whitelist_string compares it
with the host of the sources URL), so what the vendors write into their Release files does not
matter. Checked once by hand with Debian's unattended-upgrades 2.9.1 itself: these patterns
match an origin on apt.grafana.com and on repos.influxdata.com and nothing on other sites, and
its dpkg_conffile_prompt() is False with these options, so packages whose conffiles the stack
rewrote are upgraded, not held back."""

import json
import re
import subprocess

import pytest

from components.provisioning import UNATTENDED_UPGRADES
from conftest import ROOT
from tools.plan import rendered_files

SYSTEM_PYTHON = "/usr/bin/python3"
REPOSITORY_SCRIPTS = [ROOT / "files" / "grafana" / "repo.sh",
                      ROOT / "files" / "common" / "influxdata-repo.sh"]


def apt_reads(path) -> dict:
    """What apt's configuration parser makes of the file."""
    program = (
        "import apt_pkg, json, sys\n"
        "apt_pkg.init_config()\n"
        "apt_pkg.read_config_file(apt_pkg.config, sys.argv[1])\n"
        "c = apt_pkg.config\n"
        "print(json.dumps({'patterns': c.value_list('Unattended-Upgrade::Origins-Pattern'),\n"
        "                  'dpkg': c.value_list('DPkg::Options'),\n"
        "                  'update': c.find('APT::Periodic::Update-Package-Lists'),\n"
        "                  'upgrade': c.find('APT::Periodic::Unattended-Upgrade')}))\n")
    done = subprocess.run([SYSTEM_PYTHON, "-c", program, str(path)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def configuration(dev_run) -> str:
    files = rendered_files(dev_run)
    texts = {node: files[node][UNATTENDED_UPGRADES] for node in files}
    assert set(texts) == set(dev_run.outputs["sshNodes"])  # every node's
    assert len(set(texts.values())) == 1
    return next(iter(texts.values()))


def test_apt_reads_periodic_upgrades_from_the_vendor_sites(configuration, tmp_path):
    path = tmp_path / "52solarmonitor-unattended-upgrades"
    path.write_text(configuration)
    read = apt_reads(path)
    assert read["update"] == "1" and read["upgrade"] == "1"
    sources = set()
    for script in REPOSITORY_SCRIPTS:
        sources |= set(re.findall(r'^echo "deb \[[^]]*\] https://([^/ ]+)', script.read_text(),
                                  re.MULTILINE))
    assert len(sources) == len(REPOSITORY_SCRIPTS)
    assert sorted(read["patterns"]) == sorted(f"site={host}" for host in sources)
    assert "--force-confold" in read["dpkg"] and "--force-confdef" in read["dpkg"]


def test_apt_reads_a_slip_silently_so_the_values_are_compared(configuration, tmp_path):
    """apt's parser takes a missing semicolon without a word and keeps one pattern of two: only
    comparing what it read, as above, finds it."""
    path = tmp_path / "slip"
    path.write_text(configuration.replace('"site=apt.grafana.com";', '"site=apt.grafana.com"'))
    assert apt_reads(path)["patterns"] == ["site=repos.influxdata.com"]
