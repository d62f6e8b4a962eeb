"""Benchmark: the packet proof of the Chef Automate HA host firewalls.

    sudo .venv/bin/python benchmarks/packets.py

Builds the lab of tests/hosts/test_packets.py (five dual-stack hosts, one per
role, each in its own network namespace on one bridge), loads each host's
generated nftables ruleset, starts the listeners, and sends every probe: every
host to every other host, every port the policy names plus a few it never
names, TCP and UDP, IPv4 and IPv6. Prints the probe counts and wall times,
for egress open (the default) and enforced. Needs root; touches nothing
outside the namespaces it creates, and removes them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the lab lives with the tests

import hasg  # noqa: E402
from hasg.backends import nftables  # noqa: E402
from hasg.backends.nftables import write  # noqa: E402
from hasg.hosts.inventory import load_inventory  # noqa: E402
from hasg.hosts.resolve import host_rulesets  # noqa: E402
from tests.hosts.lab import (  # noqa: E402
    NEVER_NAMED,
    Lab,
    all_probes,
    missing_capability,
    policy_ports,
)

BLOCKED = ("timeout", "dropped")


def main() -> int:
    reason = missing_capability()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    inventory = load_inventory(ROOT / "tests/hosts/fixtures/lab.yaml")
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    ports = policy_ports(blueprint) | set(NEVER_NAMED)
    probes = all_probes(inventory, ports)
    print(
        f"{len(inventory.hosts)} hosts, {len(ports)} ports "
        f"({len(ports) - len(NEVER_NAMED)} the policy names), {len(probes)} probes per run"
    )
    started = time.monotonic()
    with Lab(inventory.hosts) as lab, tempfile.TemporaryDirectory() as directory:
        lab.serve((p for k, p in ports if k == "tcp"), (p for k, p in ports if k == "udp"))
        built = time.monotonic() - started
        print(f"lab built, listeners ready: {built:.2f} s")
        print(f"{'egress':<10}{'rules':>7}{'open':>7}{'blocked':>9}{'load s':>8}{'probe s':>9}")
        for enforce in (False, True):
            began = time.monotonic()
            rulesets = host_rulesets(blueprint, inventory, egress=enforce)
            for name, text in nftables.emit(rulesets, enforce_egress=enforce).items():
                (Path(directory) / name).write_text(text, encoding="utf-8")
            for ruleset in rulesets:
                lab.load(ruleset.host, Path(directory) / write.file_name(ruleset))
            loaded = time.monotonic() - began
            began = time.monotonic()
            outcomes = lab.probe(probes)
            probed = time.monotonic() - began
            blocked = sum(o in BLOCKED for o in outcomes.values())
            rules = sum(len(r.rules) for r in rulesets)
            mode = "enforced" if enforce else "open"
            print(
                f"{mode:<10}{rules:>7}{len(outcomes) - blocked:>7}{blocked:>9}"
                f"{loaded:>8.2f}{probed:>9.2f}"
            )
    print(f"total wall time: {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
