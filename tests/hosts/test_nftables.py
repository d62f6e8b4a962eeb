"""The nftables backend: files nft itself accepts (`nft -c -f`), deterministic
bytes, comments that survive any description, every IP protocol read back
from the kernel as written, and a reader that fails closed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends import nftables
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.errors import UsageError
from hasg.hosts.inventory import Host, load_chef_config, load_inventory, load_inventory_text
from hasg.hosts.resolve import as_blueprint, host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

CHEF_INVENTORY = load_inventory(FIXTURES / "config.toml").with_options(
    bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
)
ONE_HOST = load_inventory_text(
    "roles:\n  app: [[198.18.1.1, 'fd00:18:1::1']]\n  peer: [[198.18.1.2, 'fd00:18:1::2']]\n"
    "networks: [198.18.1.0/24, 'fd00:18:1::/64']\n",
    name="one-host.yaml",
)


def nft_check(text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    path = directory / "check.nft"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def nft_root() -> None:
    require_lab()


def chef_files(*, enforce_egress: bool = False) -> dict[str, str]:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    rulesets = host_rulesets(blueprint, CHEF_INVENTORY, egress=enforce_egress, ssh_port=22)
    return nftables.emit(rulesets, enforce_egress=enforce_egress)


@pytest.mark.parametrize("enforce_egress", [False, True])
def test_every_host_file_passes_nft_check(
    nft_root: None, tmp_path: Path, enforce_egress: bool
) -> None:
    files = chef_files(enforce_egress=enforce_egress)
    assert sorted(files)[:3] == ["198.18.0.10.nft", "198.18.0.11.nft", "198.18.0.20.nft"]
    assert len(files) == 11
    for name, text in files.items():
        checked = nft_check(text, tmp_path)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"
        assert ("chain output" in text) == enforce_egress
        assert "policy drop;" in text
        assert "flush ruleset" not in text


def test_same_inventory_same_bytes_whatever_the_order() -> None:
    text = (FIXTURES / "config.toml").read_text(encoding="utf-8")
    shuffled_ips = text.replace(
        '"198.18.0.30", "198.18.0.31", "198.18.0.32"', '"198.18.0.32", "198.18.0.30", "198.18.0.31"'
    )
    assert shuffled_ips != text
    first = chef_files()
    other = load_chef_config(shuffled_ips, name="x").with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    assert nftables.emit(host_rulesets(blueprint, other)) == first
    assert chef_files() == first


def test_an_ipv6_only_host_is_named_by_its_ipv6_address() -> None:
    inventory = load_inventory_text("roles:\n  automate: ['fd00:18::10']\n")
    blueprint = Blueprint("c", (SecurityGroup("automate", "c-automate", "", {}),))
    assert list(nftables.emit(host_rulesets(blueprint, inventory))) == ["fd00:18::10.nft"]


def test_a_prefix_list_cannot_be_resolved_on_a_host() -> None:
    rule = Rule("ingress", "tcp", 443, 443, Peer("prefix_list", "pl-0123456789abcdef0"))
    blueprint = Blueprint(
        "c", (SecurityGroup("app", "c-app", "", {}, (rule,)), SecurityGroup("peer", "p", "", {}))
    )
    with pytest.raises(UsageError, match="cannot resolve prefix_list pl-0123456789abcdef0"):
        host_rulesets(blueprint, ONE_HOST)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(description=st.text(max_size=300))
def test_any_description_becomes_a_comment_nft_accepts(
    nft_root: None, tmp_path: Path, description: str
) -> None:
    comment = nftables.comment_text(description)
    assert len(comment.encode()) <= nftables.COMMENT_LIMIT
    assert '"' not in comment
    rule = Rule("ingress", "tcp", 22, 22, Peer("group", "peer"), description)
    blueprint = Blueprint(
        "c", (SecurityGroup("app", "c-app", "", {}, (rule,)), SecurityGroup("peer", "p", "", {}))
    )
    (app,) = [r for r in host_rulesets(blueprint, ONE_HOST) if r.host.role == "app"]
    checked = nft_check(nftables.ruleset_text(app), tmp_path)
    assert checked.returncode == 0, checked.stderr


# --------------------------------------------------------------------------- kernel round trip

PEERS = st.sampled_from(
    [
        Peer("group", "peer"),
        Peer("vpc"),
        Peer("cidr_ipv4", "0.0.0.0/0"),
        Peer("cidr_ipv4", "203.0.113.0/24"),
        Peer("cidr_ipv6", "::/0"),
        Peer("cidr_ipv6", "2001:db8::/32"),
    ]
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """Any rule AWS could hold: every IP protocol, ports, ICMP types and codes."""
    protocol = canonical_protocol(draw(st.integers(min_value=-1, max_value=255)))
    direction = draw(st.sampled_from(["ingress", "egress"]))
    peer = draw(PEERS)
    if protocol in ("tcp", "udp"):
        low = draw(st.integers(0, 65535))
        high = draw(st.integers(low, 65535))
        return Rule(direction, protocol, low, high, peer)
    if has_ports(protocol):  # icmp, icmpv6: type (-1 any) and code (-1 any)
        kind = draw(st.integers(-1, 255))
        code = -1 if kind == -1 else draw(st.integers(-1, 15))
        return Rule(direction, protocol, kind, code, peer)
    return Rule(direction, protocol, -1, -1, peer)


@pytest.fixture(scope="module")
def one_host_lab(nft_root: None) -> Iterator[Lab]:
    with Lab(ONE_HOST.hosts_of("app")) as lab:
        yield lab


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=st.lists(rules(), min_size=1, max_size=12))
@example(  # ICMP codes nft lists by name, which differ between the two families
    drawn=[
        Rule("ingress", "icmp", 3, 4, Peer("group", "peer")),
        Rule("ingress", "icmpv6", 1, 4, Peer("group", "peer")),
        Rule("egress", "icmpv6", 1, 1, Peer("vpc")),
        Rule("ingress", "0", -1, -1, Peer("vpc")),
    ]
)
def test_what_the_kernel_holds_reads_back_as_the_rules_written(
    one_host_lab: Lab, tmp_path: Path, drawn: list[Rule]
) -> None:
    blueprint = Blueprint(
        "c",
        (SecurityGroup("app", "c-app", "", {}, tuple(drawn)), SecurityGroup("peer", "p", "", {})),
    )
    (app,) = [r for r in host_rulesets(blueprint, ONE_HOST, egress=True) if r.host.role == "app"]
    path = tmp_path / "app.nft"
    path.write_text(nftables.ruleset_text(app, enforce_egress=True), encoding="utf-8")
    one_host_lab.load(app.host, path)
    audit = nftables.audit_host(one_host_lab.nft_json(app.host), app, enforce_egress=True)
    assert audit.ok, audit.to_text()
    expected = as_blueprint("c", [app])
    read = nftables.read_nft_json(one_host_lab.nft_json(app.host))
    assert set(read.rules) == set(expected.groups[0].rules)


# --------------------------------------------------------------------------- failing closed


def audit_of(document: object) -> nftables.HostAudit:
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    ruleset = host_rulesets(blueprint, CHEF_INVENTORY)[0]
    return nftables.audit_host(json.dumps(document), ruleset)


def test_the_reader_fails_closed_on_what_it_cannot_read() -> None:
    assert not nftables.audit_host("not json", host_rulesets(
        hasg.compile_policy(hasg.chef_automate_ha()), CHEF_INVENTORY)[0]).ok  # fmt: skip
    assert "no table inet hasg" in audit_of({"nftables": []}).to_text()
    table = {"table": {"family": "inet", "name": "hasg", "handle": 1}}
    chain = {
        "chain": {"family": "inet", "table": "hasg", "name": "input", "handle": 1,
                  "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}
    }  # fmt: skip

    def rule(*expr: object) -> dict[str, object]:
        return {"rule": {"family": "inet", "table": "hasg", "chain": "input", "handle": 9,
                         "expr": list(expr)}}  # fmt: skip

    def match(left: object, right: object, op: str = "==") -> dict[str, object]:
        return {"match": {"op": op, "left": left, "right": right}}

    saddr = match({"payload": {"protocol": "ip", "field": "saddr"}}, "198.18.0.5")
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}
    accept = {"accept": None}
    for odd in (
        rule(saddr, match({"meta": {"key": "mark"}}, 1), accept),
        rule(saddr, match(dport, 22, op="!="), accept),
        rule(saddr, {"jump": {"target": "elsewhere"}}),
        rule(match({"payload": {"protocol": "ip", "field": "saddr"}}, "@nowhere"), accept),
        rule(accept),
    ):
        audit = audit_of({"nftables": [table, chain, odd]})
        assert any("cannot interpret" in note for note in audit.notes), audit.to_text()
        assert audit.exit_code == hasg.ExitCode.CHANGES


def test_other_tables_are_left_alone_by_the_file(nft_root: None, tmp_path: Path) -> None:
    """Loading a host's file twice over another table keeps that table: it
    replaces only table inet hasg."""
    host = Host("automate", CHEF_INVENTORY.hosts_of("automate")[0].addresses)
    with Lab([host]) as lab:
        lab.exec(host, "nft", "add table inet firewalld")
        lab.exec(host, "nft", "add chain inet firewalld keep")
        text = chef_files()["198.18.0.10.nft"]
        path = tmp_path / "automate.nft"
        path.write_text(text, encoding="utf-8")
        lab.load(host, path)
        lab.load(host, path)
        listed = lab.exec(host, "nft", "list", "tables")
        assert "table inet firewalld" in listed and "table inet hasg" in listed
