"""The one world guard on a host: `vpc` is whatever `--network` (or the
inventory's `networks:`) says, and is judged as a CIDR written in the policy
would be. And firewalld's own ipset reader keeps every entry hasg writes.

`--network 0.0.0.0/0` with a flow `vpc -> web` on tcp/22 opened SSH to the
internet in nftables (exit 0), and firewalld silently dropped the entry
(INVALID_ENTRY) so the flow was blocked instead."""

from __future__ import annotations

import importlib
import ipaddress
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hasg
from hasg.backends import firewalld
from hasg.cli import main
from hasg.errors import InventoryError, PolicyError
from hasg.hosts.inventory import load_inventory_text
from hasg.hosts.resolve import AddressSet, host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.test_firewalld import firewall as firewall

INVENTORY = "roles:\n  web: [198.18.0.10]\n"


def policy(*, public: bool = False, ports: tuple[str, ...] = ("tcp/22",)) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "source": "vpc",
        "destination": "web",
        "ports": list(ports),
        "description": "SSH from the site",
    }
    if public:
        flow["public"] = True
    return {"cluster": "demo", "roles": [{"id": "web", "description": "web"}], "flows": [flow]}


def files(tmp_path: Path, **policy_options: Any) -> tuple[Path, Path]:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy(**policy_options)), encoding="utf-8")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    return policy_file, inventory


@pytest.mark.parametrize("target", ["nftables", "firewalld"])
@pytest.mark.parametrize(
    "networks",
    [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["::/0"], ["64:ff9b::/96"], ["2002::/16"]],
)
def test_emit_refuses_ssh_to_the_world_through_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, networks: list[str]
) -> None:
    policy_file, inventory = files(tmp_path)
    site = [a for n in networks for a in ("--network", n)]
    out = tmp_path / "out"
    args = ["emit", target, "--policy", str(policy_file), "--inventory", str(inventory), *site]
    assert main([*args, "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and "Traceback" not in printed.err
    assert printed.err.count("\n") == 1
    assert printed.err.startswith(
        f"hasg: error: {inventory}: networks: web's rule `ingress tcp/22 from vpc` "
        "(flow vpc-to-web) opens tcp/22 to vpc: "
    )
    assert "unless the flow says public: true" in printed.err
    assert not out.exists()


def test_the_audit_refuses_the_same_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit compared the host with the same wide rules and said clean."""
    policy_file, inventory = files(tmp_path)
    dump = tmp_path / "ruleset.json"
    dump.write_text('{"nftables": []}', encoding="utf-8")
    args = ["audit", "--policy", str(policy_file), "--nft", str(dump)]
    args += ["--inventory", str(inventory), "--host", "198.18.0.10", "--network", "0.0.0.0/0"]
    assert main(args) == 1
    assert "opens tcp/22 to vpc: 0.0.0.0/0 holds every IPv4 address" in capsys.readouterr().err


def test_https_or_a_public_flow_may_reach_the_world_through_network(tmp_path: Path) -> None:
    for options in ({"ports": ("tcp/443", "tcp/80")}, {"public": True}):
        policy_file, inventory = files(tmp_path, **options)
        out = tmp_path / f"out{len(str(options))}"
        args = ["emit", "nftables", "--policy", str(policy_file), "--inventory", str(inventory)]
        assert main([*args, "--network", "0.0.0.0/0", "--out", str(out)]) == 0
        assert "elements = { 0.0.0.0/0 }" in (out / "198.18.0.10.nft").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- one verdict

_PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8", "100.64.0.0/10"]
_TRANSLATING = ["64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::ffff:0:0/96"]


@st.composite
def site_networks(draw: st.DrawFn) -> list[str]:
    """Networks a site could be given: pieces of the world, private space,
    IPv6 that translates IPv4 (and narrow parts of it), all in any mix."""
    pieces: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["v4", "v6", "private", "translating", "inside"]))
        if kind == "v4":
            network = ipaddress.IPv4Network(
                (draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 32))), strict=False
            )
        elif kind == "v6":
            network = ipaddress.IPv6Network(  # type: ignore[assignment]
                (draw(st.integers(0, 2**128 - 1)), draw(st.integers(0, 128))), strict=False
            )
        elif kind == "private":
            network = ipaddress.ip_network(draw(st.sampled_from(_PRIVATE)))  # type: ignore[assignment]
        else:
            prefix = ipaddress.IPv6Network(draw(st.sampled_from(_TRANSLATING)))
            length = (
                prefix.prefixlen
                if kind == "translating"
                else draw(st.integers(prefix.prefixlen, 128))
            )
            offset = draw(st.integers(0, 2 ** (128 - prefix.prefixlen) - 1))
            network = ipaddress.IPv6Network(  # type: ignore[assignment]
                (int(prefix.network_address) + offset, length), strict=False
            )
        pieces.append(str(network))
    return pieces


@given(site_networks(), st.sampled_from(["tcp/22", "all", "udp/53", "tcp/443"]), st.booleans())
def test_network_is_judged_exactly_as_a_policy_cidr_list_would_be(
    networks: list[str], port: str, public: bool
) -> None:
    """Whatever the peer is called, one function judges it: the networks
    given as the `vpc` of a site are refused exactly when the same networks,
    written as a CIDR list of the policy, are."""
    as_list = {
        **policy(public=public, ports=(port,)),
        "admin_cidrs": networks,
        "flows": [
            {
                "source": "admin_cidrs",
                "destination": "web",
                "ports": [port],
                "description": "d",
                "public": public,
            }
        ],
    }
    try:
        hasg.Policy.model_validate(as_list)
        policy_refuses = False
    except PolicyError:
        policy_refuses = True
    blueprint = hasg.compile_policy(
        hasg.Policy.model_validate(policy(public=public, ports=(port,)))
    )
    inventory = load_inventory_text(INVENTORY).with_options(networks=networks)
    try:
        host_rulesets(blueprint, inventory)
        site_refuses = False
    except InventoryError:
        site_refuses = True
    assert site_refuses == policy_refuses


# --------------------------------------------------------------------------- firewalld's reader


@st.composite
def address_sets(draw: st.DrawFn) -> AddressSet:
    family = draw(st.sampled_from(["ipv4", "ipv6"]))
    bits = 32 if family == "ipv4" else 128
    cls = ipaddress.IPv4Network if family == "ipv4" else ipaddress.IPv6Network
    # Short prefixes and their neighbours: /0, halves, overlaps and adjacent pieces.
    networks = draw(
        st.lists(
            st.builds(
                lambda a, p: cls((a, p), strict=False),
                st.one_of(st.just(0), st.integers(0, 2**bits - 1)),
                st.one_of(st.integers(0, 2), st.integers(0, bits), st.just(bits)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    elements = tuple(sorted({str(n) for n in networks}))
    return AddressSet(f"vpc_{family}", family, elements)  # type: ignore[arg-type]


@given(address_sets())
def test_firewalld_keeps_every_entry_hasg_writes_and_they_hold_the_set(
    firewall: dict[str, ModuleType], address_set: AddressSet
) -> None:
    """firewalld's own check (IPSet.check_entry, which its reader applies to
    every entry and drops what fails) and its overlap check accept every
    entry, and the entries hold exactly the set's addresses."""
    ipset_type, entries = firewalld.ipset_entries(address_set)
    options = {"family": "inet6"} if address_set.family == "ipv6" else {}
    for entry in entries:
        firewall["io.ipset"].IPSet.check_entry(entry, options, ipset_type)
    importlib.import_module("firewall.core.ipset").check_for_overlapping_entries(list(entries))
    written = [ipaddress.ip_network(e) for e in entries]
    wanted = [ipaddress.ip_network(e) for e in address_set.elements]
    assert list(ipaddress.collapse_addresses(written)) == list(  # type: ignore[type-var]
        ipaddress.collapse_addresses(wanted)  # type: ignore[type-var]
    )


def test_firewalld_reads_back_the_world_a_public_flow_opens(
    firewall: dict[str, ModuleType], tmp_path: Path
) -> None:
    """firewalld's reader dropped `0.0.0.0/0` from a hash:net set with a
    warning, and the rule then matched nothing."""
    policy_file, inventory = files(tmp_path, public=True)
    out = tmp_path / "out"
    args = ["emit", "firewalld", "--policy", str(policy_file), "--inventory", str(inventory)]
    site = ["--network", "0.0.0.0/0", "--network", "::/0", "--network", "10.1.0.0/16"]
    assert main([*args, *site, "--out", str(out)]) == 0
    ipsets = out / "198.18.0.10" / "ipsets"
    for path in sorted(ipsets.glob("*.xml")):
        ipset = firewall["io.ipset"].ipset_reader(path.name, str(path.parent))
        written = path.read_text(encoding="utf-8").count("<entry>")
        assert len(ipset.entries) == written  # none dropped
        networks = [ipaddress.ip_network(e) for e in ipset.entries]
        assert [n.num_addresses for n in networks] == [2 ** (networks[0].max_prefixlen - 1)] * 2
    read = firewalld.read_files(
        {str(p.relative_to(out)): p.read_text() for p in out.rglob("*.xml")}
    )
    peers = {r.peer.value for r in read["198.18.0.10"].rules}
    assert peers == {"0.0.0.0/0", "::/0"}


def test_overlapping_site_networks_are_one_set_of_their_union() -> None:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    inventory = load_inventory_text((FIXTURES / "lab.yaml").read_text(encoding="utf-8"))
    site = inventory.with_options(networks=["198.18.0.0/16", "198.18.7.0/24", "198.19.0.0/16"])
    (ruleset, *_) = host_rulesets(blueprint, site)
    vpc = ruleset.set_named("vpc_ipv4")
    assert vpc.elements == ("198.18.0.0/15",)
