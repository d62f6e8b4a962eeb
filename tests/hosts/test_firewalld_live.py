"""firewalld itself, in a network namespace: its own core (Debian's
`firewalld` package) loads hasg's zone and applies it to the kernel as the
daemon would (tests/hosts/firewalld_core.py), beside a host holding hasg's
nftables file for the same role.

- hasg's evaluator of firewalld directories answers every connection of the
  probe space as firewalld's own ruleset, evaluated by the nftables
  evaluator, answers it (itself held to real packets in test_evaluator.py);
- the firewalld host and the nftables host accept exactly the same ICMP, of
  either family, counted by the kernel as real packets arrive.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hasg
from hasg.backends import firewalld, nftables
from hasg.backends.nftables import write
from hasg.hosts.icmp import ESSENTIAL_ICMP
from hasg.hosts.inventory import Host, Inventory, load_inventory
from hasg.hosts.probes import audit_services, remotes_of
from hasg.hosts.resolve import HostRuleset, host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

CORE = Path(__file__).with_name("firewalld_core.py")
SYSTEM_PYTHON = "/usr/bin/python3"
NFT_HOST, FIREWALLD_HOST, SENDER = "198.18.0.40", "198.18.0.41", "198.18.0.10"
# The ICMP types sent: every type of both families that a host might meet.
ICMP_TYPES = {"ipv4": range(0, 19), "ipv6": (*range(1, 5), *range(128, 144))}


def require_firewalld() -> None:
    """firewalld's modules run by the system's Python, as its package installs them."""
    found = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; sys.path.append('/usr/lib/python3/dist-packages');"
         "import firewall.core.fw, nftables"],
        capture_output=True,
        text=True,
    ) if os.path.exists(SYSTEM_PYTHON) else None  # fmt: skip
    if found is not None and found.returncode == 0:
        return
    reason = found.stderr.strip().splitlines()[-1] if found else f"no {SYSTEM_PYTHON}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and firewalld cannot run here: {reason}")
    pytest.skip(f"firewalld cannot run here (apt-get install firewalld): {reason}")


@pytest.fixture(scope="module")
def site() -> tuple[Inventory, tuple[HostRuleset, ...]]:
    inventory = load_inventory(FIXTURES / "twin.yaml")
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    return inventory, host_rulesets(blueprint, inventory)


@pytest.fixture(scope="module")
def lab(
    site: tuple[Inventory, tuple[HostRuleset, ...]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    require_lab()
    require_firewalld()
    inventory, rulesets = site
    hosts = [h for h in inventory.hosts if h.name in (NFT_HOST, FIREWALLD_HOST, SENDER)]
    scratch = tmp_path_factory.mktemp("firewalld")
    with Lab(hosts) as built:
        built.pin_neighbours()
        by_name = {r.host.name: r for r in rulesets}
        nft_file = scratch / "host.nft"
        nft_file.write_text(write.ruleset_text(by_name[NFT_HOST]), encoding="utf-8")
        built.load(host_of(built, NFT_HOST), nft_file)
        config = scratch / "etc"
        for name, text in firewalld.emit([by_name[FIREWALLD_HOST]]).items():
            path = config / name.split("/", 1)[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        # The zone bound as the operator binds it: the default zone of the host.
        (config / "firewalld.conf").write_text(
            "DefaultZone=hasg\nFirewallBackend=nftables\nLogDenied=off\n", encoding="utf-8"
        )
        run = scratch / "run"
        run.mkdir()
        started = built.exec(
            host_of(built, FIREWALLD_HOST), SYSTEM_PYTHON, str(CORE), str(config), str(run)
        )
        assert started.split()[-2:] == ["RUNNING", "hasg"], started
        yield built
    shutil.rmtree(scratch)


def host_of(lab: Lab, name: str) -> Host:
    return next(h for h in lab.hosts if h.name == name)


def test_firewalld_directories_are_evaluated_as_firewalld_applies_them(
    lab: Lab, site: tuple[Inventory, tuple[HostRuleset, ...]], tmp_path: Path
) -> None:
    inventory, rulesets = site
    (ruleset,) = [r for r in rulesets if r.host.name == FIREWALLD_HOST]
    applied = nftables.read_host(lab.nft_json(ruleset.host))  # firewalld's own rules
    assert not applied.unreadable, applied.unreadable
    directory = tmp_path / "etc"
    for name, text in firewalld.emit([ruleset]).items():
        path = directory / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    ours = firewalld.read_host(directory)
    services = {
        *audit_services(hasg.compile_policy(hasg.chef_automate_ha())),
        *applied.hints().services,
        *ours.hints().services,
    }
    named = {*applied.hints().addresses, *ours.hints().addresses}
    tried = 0
    for peer in remotes_of(inventory, ruleset, named=named):
        family = "ipv4" if peer.address.version == 4 else "ipv6"
        address = peer.address if peer.address.is_loopback else ruleset.host.address(family)
        assert address is not None
        for service in services:
            if service.fits(family):
                tried += 1
                kernel = applied.answer(address, peer.address, service, inbound=True)
                read = ours.answer(address, peer.address, service, inbound=True)
                assert kernel.outcome == read.outcome, (peer.label, service.text(), kernel, read)
    assert tried > 4000


OBSERVER = """
table inet observe {{
    chain input {{
        type filter hook input priority 100; policy accept;
        {rules}
    }}
}}
"""

SEND = """
import socket, struct, sys
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
for family, address, kinds in ((socket.AF_INET, sys.argv[1], sys.argv[3]),
                               (socket.AF_INET6, sys.argv[2], sys.argv[4])):
    protocol = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    sock = socket.socket(family, socket.SOCK_RAW, protocol)
    for kind in map(int, kinds.split(",")):
        header = struct.pack("!BBHHH", kind, 0, 0, 7, 1) + b"hasg"
        if family == socket.AF_INET:  # the kernel fills in ICMPv6's checksum itself
            header = header[:2] + struct.pack("!H", checksum(header)) + header[4:]
        sock.sendto(header, (address, 0))
"""


def accepted(lab: Lab, host: Host) -> dict[str, set[int]]:
    """The ICMP types that reached the observer's chain (priority 100: after
    hasg's table and firewalld's), by family."""
    listed = lab.exec(host, "nft", "-n", "list", "table", "inet", "observe")
    found: dict[str, set[int]] = {"ipv4": set(), "ipv6": set()}
    for line in listed.splitlines():
        words = line.split()
        if len(words) > 5 and words[0] in ("icmp", "icmpv6") and words[5] != "0":
            found["ipv4" if words[0] == "icmp" else "ipv6"].add(int(words[2]))
    return found


def test_the_two_host_targets_accept_exactly_the_same_icmp(lab: Lab) -> None:
    targets = [host_of(lab, NFT_HOST), host_of(lab, FIREWALLD_HOST)]
    rules = [
        f"{'icmp' if family == 'ipv4' else 'icmpv6'} type {kind} counter"
        for family, kinds in ICMP_TYPES.items()
        for kind in kinds
    ]
    for host in targets:
        lab.exec(host, "nft", "-f", "-", stdin=OBSERVER.format(rules="\n        ".join(rules)))
    sender = host_of(lab, SENDER)
    for host in targets:
        ipv4, ipv6 = (str(host.address(f)) for f in ("ipv4", "ipv6"))
        kinds = [",".join(map(str, ICMP_TYPES[f])) for f in ("ipv4", "ipv6")]
        lab.exec(sender, sys.executable, "-c", SEND, ipv4, ipv6, *kinds)
    on_nft, on_firewalld = (accepted(lab, host) for host in targets)
    assert on_nft == on_firewalld
    # Unsolicited, an error message is about no connection (invalid) and is
    # dropped by both; what is left is what every host accepts on its own.
    assert on_nft == {family: set(types) for family, types in ESSENTIAL_ICMP.items()}
