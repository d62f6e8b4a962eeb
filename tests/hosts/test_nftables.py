"""The nftables backend: files nft itself accepts (`nft -c -f`), deterministic
bytes, comments that survive any description, every IP protocol read back
from the kernel as written, and a reader that fails closed."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends import nftables
from hasg.backends.nftables import write
from hasg.backends.nftables.ruleset import read_ruleset
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.errors import NftReadError, UsageError
from hasg.hosts.inventory import Host, load_chef_config, load_inventory, load_inventory_text
from hasg.hosts.probes import Service
from hasg.hosts.resolve import host_rulesets
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
    comment = write.comment_text(description)
    assert len(comment.encode()) <= write.COMMENT_LIMIT
    assert '"' not in comment
    rule = Rule("ingress", "tcp", 22, 22, Peer("group", "peer"), description)
    blueprint = Blueprint(
        "c", (SecurityGroup("app", "c-app", "", {}, (rule,)), SecurityGroup("peer", "p", "", {}))
    )
    (app,) = [r for r in host_rulesets(blueprint, ONE_HOST) if r.host.role == "app"]
    checked = nft_check(write.ruleset_text(app), tmp_path)
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
def test_what_the_kernel_holds_parses_to_the_table_written_in_every_dump_form(
    one_host_lab: Lab, tmp_path: Path, drawn: list[Rule]
) -> None:
    """One grammar: the table hasg builds, loaded into a kernel and dumped
    with `nft -j`, `nft -n -j` (numbers for names) and `nft -a -j` (handles),
    parses back to exactly the table built, nothing else in the ruleset."""
    blueprint = Blueprint(
        "c",
        (SecurityGroup("app", "c-app", "", {}, tuple(drawn)), SecurityGroup("peer", "p", "", {})),
    )
    (app,) = [r for r in host_rulesets(blueprint, ONE_HOST, egress=True) if r.host.role == "app"]
    path = tmp_path / "app.nft"
    path.write_text(write.ruleset_text(app, enforce_egress=True), encoding="utf-8")
    one_host_lab.load(app.host, path)
    written = write.host_table(app, enforce_egress=True)
    for flags in ((), ("-n",), ("-a",)):
        dump = one_host_lab.exec(app.host, "nft", *flags, "-j", "list", "ruleset")
        read = read_ruleset(dump, f"nft {' '.join(flags)} -j")
        assert read.problems == ()
        assert read.tables == (written,), flags


# A base chain that jumps to `j` and goes to `g`: `return` in either leaves
# it, and whatever comes after the jump in the calling chain decides.
JUMPS_AND_RETURNS = """table inet t {
  chain input {
    type filter hook input priority 0; policy drop;
    tcp dport 9000-9999 jump j
    tcp dport { 9001, 9003 } accept
    tcp dport 22 accept
    tcp dport 9004 accept
  }
  chain j {
    tcp dport 9001 return
    tcp dport 9002 accept
    tcp dport 9003 goto g
    tcp dport 9004 drop
  }
  chain g {
    return
  }
}
"""


def test_a_return_goes_back_to_the_rule_after_the_jump(one_host_lab: Lab, tmp_path: Path) -> None:
    """Read from the kernel's dump, in every form it prints: `return` ends the
    chain jumped to (or gone to, back to the chain that jumped) and the next
    rule of the caller decides; the end of a chain does the same; a verdict in
    it is final."""
    (host,) = one_host_lab.hosts
    path = tmp_path / "jumps.nft"
    path.write_text("flush ruleset\n" + JUMPS_AND_RETURNS, encoding="utf-8")
    one_host_lab.load(host, path)
    for flags in ((), ("-n",), ("-a",)):
        dump = one_host_lab.exec(host, "nft", *flags, "-j", "list", "ruleset")
        view = nftables.read_host(dump)
        outcomes = {
            port: view.answer(
                ipaddress.ip_address("198.18.1.1"),
                ipaddress.ip_address("198.18.1.2"),
                Service("tcp", port),
                inbound=True,
            ).outcome
            for port in (22, 9001, 9002, 9003, 9004, 9005, 23)
        }
        assert outcomes == {
            22: "open",  # the end of j: back to input, whose next rule accepts
            9001: "open",  # returned from j: the rule right after the jump accepts
            9002: "open",  # accepted in j
            9003: "open",  # g returns to input, not to j (goto leaves no way back)
            9004: "closed",  # dropped in j: input's accept after the jump is never reached
            9005: "closed",  # back from j, no rule of input accepts it: the policy drops
            23: "closed",
        }, flags


# --------------------------------------------------------------------------- failing closed

TABLE = {"table": {"family": "inet", "name": "hasg", "handle": 1}}
CHAIN = {
    "chain": {"family": "inet", "table": "hasg", "name": "input", "handle": 1,
              "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}
}  # fmt: skip


def rule(*expr: object) -> dict[str, object]:
    return {"rule": {"family": "inet", "table": "hasg", "chain": "input", "handle": 9,
                     "expr": list(expr)}}  # fmt: skip


def match(left: object, right: object, op: str = "==") -> dict[str, object]:
    return {"match": {"op": op, "left": left, "right": right}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "dump.json:1:1: not JSON"),
        ('{"nftables": [], "x": 1', "dump.json:1:24: not JSON"),
        ("[]", 'dump.json:1:1: not the JSON of `nft -j list ruleset` (no "nftables" list)'),
        ('{"nftables": {}}', '(no "nftables" list)'),
        ('{"nftables": [1]}', "nftables[0]: each entry is an object of one kind"),
        ('{"nftables": [{"set": {"family": "inet", "table": "hasg"}}]}', "not listed"),
        (
            json.dumps({"nftables": [TABLE, {"set": {"family": "inet", "table": "hasg"}}]}),
            "dump.json: nftables[1]: a set without a name",
        ),
        (
            json.dumps({"nftables": [TABLE, {"rule": {"family": "inet", "table": "hasg"}}]}),
            "nftables[1]: a rule of chain None, which is not listed",
        ),
        (
            json.dumps({"nftables": [TABLE, CHAIN, rule(["accept"])]}),
            "a statement is a one-key object",
        ),
        (
            '{"nftables": ' + "[" * 5000 + "]" * 5000 + "}",
            "dump.json:1:77: nested more than 64 levels deep",
        ),
    ],
)
def test_a_file_that_is_no_dump_is_an_error_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(NftReadError) as raised:
        read_ruleset(text, "dump.json")
    assert message in str(raised.value)


SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        (match("ip saddr", "198.18.0.5"), "an expression hasg does not know"),
        (match({"osf": {"key": "name"}}, "Linux"), "an expression hasg does not know"),
        (match(SADDR, {"weird": 1}), "a value hasg cannot read"),
        ({"queue": {"num": 1}}, "`queue` queues packets to userspace"),
        ({"dnat": {"addr": "198.18.0.9"}}, "`dnat` translates addresses (NAT)"),
        ({"redirect": None}, "`redirect` translates addresses (NAT)"),
        ({"notrack": None}, "`notrack` changes connection state"),
        ({"ct helper": "ftp"}, "`ct helper` changes connection state"),
        ({"fwd": {"dev": "eth1"}}, "`fwd` forwards or duplicates packets"),
        ({"dup": {"addr": "198.18.0.9"}}, "`dup` forwards or duplicates packets"),
        ({"xt": {"type": "match", "name": "conntrack"}}, "`xt` is not something hasg can"),
        ({"jump": {"target": "nowhere"}}, "chain nowhere is missing"),
        (match(SADDR, "@nowhere"), "set @nowhere is not in the table"),
    ],
)
def test_what_cannot_be_evaluated_is_a_problem_naming_table_chain_and_rule(
    expression: object, problem: str
) -> None:
    """Whatever the evaluator cannot decide, wherever it is, is kept as a
    problem (the audit's drift), never skipped and never a traceback."""
    read = read_ruleset(
        json.dumps({"nftables": [TABLE, CHAIN, rule(expression, {"accept": None})]})
    )
    shown = [str(p) for p in read.problems]
    assert any(problem in s and "table inet hasg, chain input, handle 9" in s for s in shown), shown


def test_a_table_whose_flags_cannot_be_read_may_be_dormant_both_ways() -> None:
    """nftables 1.0.6 prints a dormant table's flags as stray text: the table
    might run or not, so a connection it alone closes is undecided."""
    document = {
        "nftables": [dict(TABLE, table={**TABLE["table"], "flags": "Lester Gooch #5"}), CHAIN]
    }
    read = read_ruleset(json.dumps(document))
    assert "whether the table is dormant" in str(read.problems[0])
    view = nftables.NftView(read)
    answer = view.answer(
        ipaddress.ip_address("198.18.1.1"),
        ipaddress.ip_address("198.18.1.2"),
        Service("tcp", 22),
        inbound=True,
    )
    assert answer.outcome == "undecided" and "dormant" in answer.why


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
