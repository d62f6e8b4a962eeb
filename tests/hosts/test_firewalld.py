"""The firewalld backend, judged by firewalld's own readers (Debian's `firewalld`
package ships them as Python modules), and read back to the same rules as the
nftables form the kernel holds."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hasg
from hasg.backends import firewalld, nftables
from hasg.backends.firewalld.spelling import ICMP_TYPE_NAMES
from hasg.backends.nftables import write as nft_write
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.protocols import canonical_protocol
from hasg.errors import FirewalldReadError, UsageError
from hasg.hosts.icmp import ESSENTIAL_ICMP
from hasg.hosts.inventory import load_inventory, load_inventory_text
from hasg.hosts.probes import audit_services, remotes_of
from hasg.hosts.resolve import (
    AddressSet,
    HostRuleset,
    as_blueprint,
    as_cidr,
    cidr_peer,
    host_rulesets,
)
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

FIREWALLD_MODULES = "/usr/lib/python3/dist-packages"


@pytest.fixture(scope="module")
def firewall() -> Iterator[dict[str, ModuleType]]:
    """firewalld's io and rich-rule modules, from the system's firewalld package."""
    added = FIREWALLD_MODULES not in sys.path
    if added:
        sys.path.append(FIREWALLD_MODULES)
    try:
        modules = {
            name: importlib.import_module(f"firewall.core.{name}")
            for name in ("io.zone", "io.ipset", "rich")
        }
    except ImportError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and firewalld's modules are missing: {error}")
        pytest.skip(f"firewalld is not installed (apt-get install firewalld): {error}")
    yield modules
    if added:
        sys.path.remove(FIREWALLD_MODULES)


def chef_rulesets() -> tuple[HostRuleset, ...]:
    inventory = load_inventory(FIXTURES / "lab.yaml")
    return host_rulesets(hasg.compile_policy(hasg.chef_automate_ha()), inventory)


def write(files: dict[str, str], directory: Path) -> None:
    for path, text in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(text, encoding="utf-8")


ICMPTYPES = Path("/usr/lib/firewalld/icmptypes")


def rules_as_firewalld_reads_them(
    firewall: dict[str, ModuleType], host_directory: Path
) -> tuple[set[Rule], set[tuple[str, str]]]:
    """The zone's rules through firewalld's zone_reader, ipset_reader and
    Rich_Rule.check(): its own reading, not hasg's. Also the ICMP the zone
    accepts from anyone, as (family, icmptype name)."""
    zone = firewall["io.zone"].zone_reader("hasg.xml", str(host_directory / "zones"))
    assert zone.target == "DROP"
    entries = {}
    for path in sorted((host_directory / "ipsets").glob("*.xml")):
        ipset = firewall["io.ipset"].ipset_reader(path.name, str(path.parent))
        ipset.check_name(ipset.name)
        entries[path.stem] = [as_cidr(e) for e in ipset.entries]
    rules = set()
    icmp = set()
    for rich in zone.rules:
        rich.check()
        element: Any = rich.element
        if rich.source is None:
            assert type(element).__name__ == "Rich_IcmpType", rich
            icmp.add((rich.family, element.name))
            continue
        cidrs = entries[rich.source.ipset] if rich.source.ipset else [as_cidr(rich.source.addr)]
        if element is None:
            traffic = ("-1", -1, -1)
        elif type(element).__name__ == "Rich_Port":
            low, _, high = element.port.partition("-")
            traffic = (element.protocol, int(low), int(high or low))
        elif type(element).__name__ == "Rich_Protocol":
            protocol = canonical_protocol(element.value)
            traffic = (protocol, *((0, 65535) if protocol in ("tcp", "udp") else (-1, -1)))
        else:
            raise AssertionError(f"unexpected element {element}")
        rules |= {Rule("ingress", *traffic, cidr_peer(c)) for c in cidrs}  # type: ignore[misc]
    return rules, icmp


def expected_keys(ruleset: HostRuleset) -> set[object]:
    """What the policy gives the host, as every target holds it (`Rule.key`)."""
    (group,) = as_blueprint(ruleset.cluster, [ruleset]).groups
    return {r.key for r in group.rules}


def test_firewalld_reads_every_file_and_the_rules_are_the_policys(
    firewall: dict[str, ModuleType], tmp_path: Path
) -> None:
    rulesets = chef_rulesets()
    files = firewalld.emit(rulesets)
    write(files, tmp_path)
    assert firewalld.emit(rulesets) == files  # deterministic
    ours = firewalld.read_files(files)
    for ruleset in rulesets:
        # firewalld keeps no rule descriptions: the rules compare by what AWS,
        # nftables and firewalld all hold, `Rule.key`.
        expected = expected_keys(ruleset)
        read, icmp = rules_as_firewalld_reads_them(firewall, tmp_path / ruleset.host.name)
        assert {r.key for r in read} == expected
        assert {r.key for r in ours[ruleset.host.name].rules} == expected
        # The ICMP every host accepts, family by family, as hasg.hosts.icmp says,
        # and each name one firewalld's icmptypes define for that family.
        assert icmp == {
            (family, ICMP_TYPE_NAMES[family][number])
            for family, numbers in ESSENTIAL_ICMP.items()
            for number in numbers
        }
        for family, name in icmp:
            definition = ICMPTYPES / f"{name}.xml"
            assert definition.is_file(), name
            refused = f'<destination {family}="no"/>'
            assert refused not in definition.read_text(encoding="utf-8"), (family, name)


def test_the_firewalld_zone_and_the_nft_file_answer_every_connection_alike(
    tmp_path: Path,
) -> None:
    """The two host targets written for one host meet every connection of
    the probe space the same way: firewalld's zone as hasg's evaluator of
    firewalld reads it, the nft file as the kernel holds it."""
    require_lab()
    rulesets = chef_rulesets()
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_inventory(FIXTURES / "lab.yaml")
    write(firewalld.emit(rulesets), tmp_path / "firewalld")
    services = audit_services(blueprint)
    for ruleset in rulesets:
        path = tmp_path / nft_write.file_name(ruleset)
        path.write_text(nft_write.ruleset_text(ruleset), encoding="utf-8")
        with Lab([ruleset.host]) as lab:
            lab.load(ruleset.host, path)
            in_kernel = nftables.read_host(lab.nft_json(ruleset.host))
        zone = firewalld.read_host(tmp_path / "firewalld" / ruleset.host.name)
        assert not zone.unreadable and not in_kernel.unreadable
        for peer in remotes_of(inventory, ruleset):
            address = ruleset.host.address("ipv4" if peer.address.version == 4 else "ipv6")
            if peer.address.is_loopback:
                address = peer.address
            assert address is not None
            for service in services:
                if not service.fits("ipv4" if address.version == 4 else "ipv6"):
                    continue
                nft = in_kernel.answer(address, peer.address, service, inbound=True)
                fwd = zone.answer(address, peer.address, service, inbound=True)
                assert nft.outcome == fwd.outcome, (peer.label, service.text(), nft, fwd)


@given(
    protocol=st.integers(min_value=-1, max_value=255).map(canonical_protocol),
    ports=st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(sorted),
    peer=st.sampled_from([Peer("vpc"), Peer("cidr_ipv4", "0.0.0.0/0"), Peer("cidr_ipv6", "::/0")]),
)
def test_every_protocol_reads_back_through_firewalld_xml(
    protocol: str, ports: list[int], peer: Peer
) -> None:
    low, high = ports if protocol in ("tcp", "udp") else (-1, -1)
    rule = Rule("ingress", protocol, low, high, peer)
    blueprint = Blueprint("c", (SecurityGroup("app", "c-app", "", {}, (rule,)),))
    inventory = load_inventory_text(
        "roles:\n  app: [[198.18.2.1, 'fd00:18:2::1']]\nnetworks: [198.18.2.0/24]\n"
    )
    (ruleset,) = host_rulesets(blueprint, inventory)
    files = firewalld.emit([ruleset])
    (read,) = firewalld.read_files(files).groups
    assert {r.key for r in read.rules} == expected_keys(ruleset)


def test_what_firewalld_cannot_say_is_refused_before_writing() -> None:
    """One mechanism (the target's Capabilities) refuses, in one form."""
    site = {"inventory": FIXTURES / "lab.yaml", "egress": "enforce"}
    with pytest.raises(UsageError, match=r"firewalld cannot express --egress enforce"):
        firewalld.BACKEND.emit(hasg.compile_policy(hasg.chef_automate_ha()), site)
    inventory = FIXTURES / "one-app.yaml"
    for rule, why in (
        (Rule("ingress", "icmp", 3, 4, Peer("vpc")), "it cannot match one ICMP code"),
        (Rule("ingress", "icmp", 6, -1, Peer("vpc")), "it names no icmp type 6"),
    ):
        blueprint = Blueprint("c", (SecurityGroup("app", "c-app", "", {}, (rule,)),))
        with pytest.raises(UsageError, match=why + "; use the nftables target"):
            firewalld.BACKEND.emit(blueprint, {"inventory": inventory})
    long_role = AddressSet("role_" + "x" * 60 + "_ipv6", "ipv6", ("fd00::1/128",))
    assert len(firewalld.ipset_name(long_role)) <= 31


def test_the_reader_fails_closed() -> None:
    files = firewalld.emit(chef_rulesets()[:1])
    zone_path = next(p for p in files if p.endswith("zones/hasg.xml"))
    for edit in (
        ('target="DROP"', 'target="ACCEPT"'),
        ("<accept />\n  </rule>\n</zone>", "<reject />\n  </rule>\n</zone>"),
        ('<port port="22"', '<source-port port="22"'),
        ("</zone>", '<rule family="ipv4"><source ipset="nowhere"/><accept/></rule></zone>'),
        ("</zone>", "<rule><service name='ssh'/><accept/></rule></zone>"),
        ("<zone", "<zone<"),
    ):
        broken = dict(files)
        broken[zone_path] = files[zone_path].replace(*edit)
        assert broken[zone_path] != files[zone_path], edit
        with pytest.raises(FirewalldReadError):
            firewalld.read_files(broken)
