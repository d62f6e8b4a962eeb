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
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.protocols import canonical_protocol
from hasg.errors import UsageError
from hasg.hosts.inventory import load_inventory, load_inventory_text
from hasg.hosts.resolve import AddressSet, HostRuleset, as_cidr, cidr_peer, host_rulesets
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


def rules_as_firewalld_reads_them(
    firewall: dict[str, ModuleType], host_directory: Path
) -> set[Rule]:
    """The zone's rules through firewalld's zone_reader, ipset_reader and
    Rich_Rule.check(): its own reading, not hasg's."""
    zone = firewall["io.zone"].zone_reader("hasg.xml", str(host_directory / "zones"))
    assert zone.target == "DROP"
    entries = {}
    for path in sorted((host_directory / "ipsets").glob("*.xml")):
        ipset = firewall["io.ipset"].ipset_reader(path.name, str(path.parent))
        ipset.check_name(ipset.name)
        entries[path.stem] = [as_cidr(e) for e in ipset.entries]
    rules = set()
    for rich in zone.rules:
        rich.check()
        if rich.source is None:
            continue  # the ICMP essentials
        cidrs = entries[rich.source.ipset] if rich.source.ipset else [as_cidr(rich.source.addr)]
        element: Any = rich.element
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
    return rules


def test_firewalld_reads_every_file_and_the_rules_are_the_policys(
    firewall: dict[str, ModuleType], tmp_path: Path
) -> None:
    rulesets = chef_rulesets()
    files = firewalld.emit(rulesets)
    write(files, tmp_path)
    assert firewalld.emit(rulesets) == files  # deterministic
    ours = firewalld.read(files)
    for ruleset in rulesets:
        # firewalld keeps no rule descriptions: the rules compare by what AWS,
        # nftables and firewalld all hold, `Rule.key`.
        expected = {r.key for r in nftables.expected_group(ruleset).rules}
        read = rules_as_firewalld_reads_them(firewall, tmp_path / ruleset.host.name)
        assert {r.key for r in read} == expected
        assert {r.key for r in ours[ruleset.host.name]} == expected


def test_firewalld_form_equals_the_nftables_form_in_the_kernel(
    firewall: dict[str, ModuleType], tmp_path: Path
) -> None:
    require_lab()
    rulesets = chef_rulesets()
    from_firewalld = firewalld.read(firewalld.emit(rulesets))
    nft_files = nftables.emit(rulesets)
    with Lab([rulesets[0].host]) as lab:
        for ruleset in rulesets:
            path = tmp_path / nftables.file_name(ruleset)
            path.write_text(nft_files[path.name], encoding="utf-8")
            lab.load(rulesets[0].host, path)
            in_kernel = nftables.read_nft_json(lab.nft_json(rulesets[0].host))
            assert not in_kernel.findings
            assert {r.key for r in in_kernel.rules} == {
                r.key for r in from_firewalld[ruleset.host.name]
            }


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
    assert {r.key for r in firewalld.read(files)["198.18.2.1"]} == {
        r.key for r in nftables.expected_group(ruleset).rules
    }


def test_what_firewalld_cannot_say_is_refused_not_dropped() -> None:
    with pytest.raises(UsageError, match="enforcing egress needs a firewalld policy"):
        firewalld.emit(chef_rulesets(), enforce_egress=True)
    code = Rule("ingress", "icmp", 3, 4, Peer("vpc"))
    blueprint = Blueprint("c", (SecurityGroup("app", "c-app", "", {}, (code,)),))
    inventory = load_inventory_text("roles:\n  app: [198.18.2.1]\nnetworks: [198.18.2.0/24]\n")
    with pytest.raises(UsageError, match="cannot match one code"):
        firewalld.emit(host_rulesets(blueprint, inventory))
    long_role = AddressSet("role_" + "x" * 60 + "_ipv6", "ipv6", ("fd00::1/128",))
    assert len(firewalld.ipset_name(long_role)) <= 31


def test_the_reader_fails_closed() -> None:
    files = firewalld.emit(chef_rulesets()[:1])
    zone_path = next(p for p in files if p.endswith("zones/hasg.xml"))
    for edit in (
        ('target="DROP"', 'target="ACCEPT"'),
        ("<accept/></rule>\n</zone>", "<reject/></rule>\n</zone>"),
        ('<port port="22"', '<source-port port="22"'),
        ("</zone>", '<rule family="ipv4"><source ipset="nowhere"/><accept/></rule></zone>'),
        ("</zone>", "<rule><service name='ssh'/><accept/></rule></zone>"),
        ("<zone", "<zone<"),
    ):
        broken = dict(files)
        broken[zone_path] = files[zone_path].replace(*edit)
        assert broken[zone_path] != files[zone_path], edit
        with pytest.raises(firewalld.FirewalldReadError):
            firewalld.read(broken)
