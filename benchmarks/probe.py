"""Benchmark: `hasg probe` on the whole built-in Chef Automate HA matrix, on a
site of 10 hosts (the bastion included). Target: under 20 s.

    sudo .venv/bin/python benchmarks/probe.py [RUNS]

Builds 10 dual-stack hosts in network namespaces (tests/hosts/lab.py: one
bridge, 198.18.0.0/15 and fd00::/8, no default route): a bastion, 2 Chef
Automate, 2 Chef Infra Server, 3 OpenSearch and 2 PostgreSQL nodes, each
node with a real OpenSSH server of its own (tests/probe/site.py), every host
with hasg's nftables file loaded. Then runs `hasg probe` inside the bastion's
namespace, as a user on the bastion would, RUNS times (default 5), and prints
the probe count and the wall time of each run as a whole process (SSH
sessions, agents, probes, report): min, median, max. Needs root; touches
nothing outside the namespaces it makes, and removes them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the lab lives with the tests

import hasg  # noqa: E402
from hasg.hosts.inventory import load_inventory_text  # noqa: E402
from tests.hosts.lab import Lab, missing_capability  # noqa: E402
from tests.probe.site import SshSite  # noqa: E402

TARGET_SECONDS = 20.0
SITE = """
roles:
  bastion: [[198.18.1.5, "fd00:18:1::5"]]
  automate: [[198.18.1.10, "fd00:18:1::10"], [198.18.1.11, "fd00:18:1::11"]]
  chef_server: [[198.18.1.20, "fd00:18:1::20"], [198.18.1.21, "fd00:18:1::21"]]
  opensearch:
    - [198.18.1.30, "fd00:18:1::30"]
    - [198.18.1.31, "fd00:18:1::31"]
    - [198.18.1.32, "fd00:18:1::32"]
  postgresql: [[198.18.1.40, "fd00:18:1::40"], [198.18.1.41, "fd00:18:1::41"]]
networks: [198.18.1.0/24, "fd00:18:1::/64"]
"""


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    reason = missing_capability("sshd", "ssh", "ssh-keygen")
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    inventory = load_inventory_text(SITE, name="benchmark site")
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory, Lab(inventory.hosts) as lab:
        site = SshSite(lab, inventory, Path(directory))
        try:
            site.build()
            site.load_firewalls(blueprint)
            print(
                f"{len(inventory.hosts)} hosts (dual-stack), {len(site.servers)} sshd, "
                f"site built in {time.monotonic() - started:.1f} s"
            )
            times = []
            summary: dict[str, int] = {}
            for run in range(runs):
                began = time.monotonic()
                command = site.probe_command("--timeout", "2", "--json")
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
                times.append(time.monotonic() - began)
                if done.returncode != 0:
                    print(f"run {run + 1}: exit {done.returncode}\n{done.stderr}", file=sys.stderr)
                    return 1
                summary = json.loads(done.stdout)["summary"]
        finally:
            site.close()
    print(
        f"probes per run: {summary['probes']} ({summary['open_as_expected']} open as expected, "
        f"{summary['closed_as_expected']} closed as expected, {summary['wrong']} wrong)"
    )
    print(f"runs: {runs}, timeout per probe 2 s")
    print(
        f"wall time of `hasg probe`: min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"(target: under {TARGET_SECONDS:.0f} s)"
    )
    return 0 if max(times) < TARGET_SECONDS else 2


if __name__ == "__main__":
    sys.exit(main())
