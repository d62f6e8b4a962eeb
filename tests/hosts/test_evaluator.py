"""The nftables evaluator against real packets: an adversarial property test.

A host of the lab loads hasg's ruleset, then random edits of every kind the
evaluator must understand (rules removed, tables of other families and
priorities that accept, drop or reject, a dormant table, an opened policy,
two port matches in one rule, negations, jumps and returns, replies dropped
on the way out, drops before conntrack, verdict maps, named interval sets,
packet marks). The kernel's own dump (`nft -j`, then `nft -n -j`) is read and
evaluated for every connection of the probe space that the lab can send;
then the connections are tried with real packets. Wherever the evaluator
decides, it must agree with the packets; where it cannot decide, it says so
(that is drift, never clean) and the test asks nothing of it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends import nftables
from hasg.backends.nftables import write
from hasg.hosts.inventory import Host, Inventory, load_inventory
from hasg.hosts.probes import Service
from hasg.hosts.resolve import HostRuleset, host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=12)

# The lab on one /16 (and /32), so that a host outside the inventory's
# networks (198.18.0.0/24, fd00:18::/64) is still on the link: the world, as
# far as the policy knows.
PREFIXES = {4: 16, 6: 32}
WORLD = Host("world", (ipaddress.ip_address("198.18.1.77"), ipaddress.ip_address("fd00:18:1::77")))
TARGET = "198.18.0.40"  # postgresql
SOURCES = ("198.18.0.5", "198.18.0.10")  # bastion, automate
# What is tried: ports the policy gives postgresql, others it gives other
# roles, ones it never names, and both protocols.
TCP_PORTS = (22, 443, 3306, 5432, 7432, 9631, 9638)
UDP_PORTS = (53, 9638)


@pytest.fixture(scope="module")
def site() -> tuple[Inventory, HostRuleset]:
    inventory = load_inventory(FIXTURES / "lab.yaml")
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    (ruleset,) = [r for r in host_rulesets(blueprint, inventory) if r.host.name == TARGET]
    return inventory, ruleset


@pytest.fixture(scope="module")
def lab(site: tuple[Inventory, HostRuleset]) -> Iterator[Lab]:
    require_lab()
    inventory, _ = site
    hosts = [h for h in inventory.hosts if h.name in (TARGET, *SOURCES)] + [WORLD]
    with Lab(hosts, prefixes=PREFIXES) as built:
        built.pin_neighbours()
        built.serve(TCP_PORTS, UDP_PORTS)
        yield built


# --------------------------------------------------------------------------- edits

SADDRS = ("198.18.0.5", "198.18.0.10", "198.18.1.77", "198.18.0.0/28", "198.18.0.0/24")
PORT = st.sampled_from([*TCP_PORTS, *UDP_PORTS])
PROTOCOL = st.sampled_from(["tcp", "udp"])
VERDICT = st.sampled_from(["accept", "drop", "reject"])
JUMP = st.sampled_from(["jump", "goto"])


@st.composite
def match(draw: st.DrawFn) -> str:
    """A rule's matches: a source (maybe negated), a protocol and port (maybe two)."""
    words = []
    if draw(st.booleans()):
        negated = "!= " if draw(st.booleans()) else ""
        words.append(f"ip saddr {negated}{draw(st.sampled_from(SADDRS))}")
    if draw(st.booleans()):
        protocol = draw(PROTOCOL)
        words.append(f"{protocol} dport {draw(PORT)}")
        if draw(st.integers(0, 3)) == 0:
            words.append(f"{protocol} dport {draw(PORT)}")  # two port matches
    return " ".join(words)


@st.composite
def edit(draw: st.DrawFn) -> list[str]:
    """nft commands that change the target's ruleset one way."""
    kind = draw(
        st.sampled_from(
            [
                "remove",
                "other_table",
                "dormant",
                "policy",
                "insert",
                "jump",
                "reply",
                "raw",
                "vmap",
                "interval_set",
                "mark",
                "ip_family",
            ]
        )
    )
    if kind == "remove":
        return [f"REMOVE {draw(st.integers(0, 40))}"]
    if kind == "other_table":
        priority = draw(st.sampled_from([-10, 10]))
        policy = draw(st.sampled_from(["accept", "drop"]))
        rules = draw(st.lists(st.tuples(match(), VERDICT), min_size=1, max_size=3))
        # A table per priority: the kernel cannot move a base chain to another
        # priority, so a second such edit adds to the table of its own.
        table = "early" if priority < 0 else "late"
        return [
            f"add table inet {table}",
            f"add chain inet {table} c {{ type filter hook input priority {priority}; "
            f"policy {policy}; }}",
            *(f"add rule inet {table} c {m} {v}" for m, v in rules),
        ]
    if kind == "dormant":
        return ["add table inet hasg { flags dormant; }"]
    if kind == "policy":
        return ["chain inet hasg input { policy accept; }"]
    if kind == "insert":
        return [f"insert rule inet hasg input {draw(match())} {draw(VERDICT)}"]
    if kind == "jump":
        # A jump or goto at the top of input, with a rule of its own right after
        # it: where the chain jumped to returns, or ends, that rule decides.
        return [
            "add chain inet hasg j",
            f"add rule inet hasg j {draw(match())} return",
            f"add rule inet hasg j {draw(match())} accept",
            f"insert rule inet hasg input {draw(match())} {draw(VERDICT)}",
            f"insert rule inet hasg input {draw(match())} {draw(JUMP)} j",
        ]
    if kind == "reply":  # the answer dropped on its way out
        protocol = draw(PROTOCOL)
        return [
            "add table inet out",
            "add chain inet out o { type filter hook output priority 0; }",
            f"add rule inet out o {protocol} sport {draw(PORT)} drop",
        ]
    if kind == "raw":  # before conntrack, where every packet is invalid to `ct state`
        return [
            "add table ip pre",
            "add chain ip pre p { type filter hook prerouting priority -300; }",
            f"add rule ip pre p ct state invalid {draw(match())} drop",
        ]
    if kind == "vmap":
        verdict = draw(st.sampled_from(["accept", "drop"]))
        return [
            "add table inet vm",
            "add chain inet vm c { type filter hook input priority 5; }",
            f"add rule inet vm c {draw(match())} ct state vmap {{ new : {verdict}, "
            "established : accept }",
        ]
    if kind == "interval_set":
        return [
            "add table inet sets",
            "add set inet sets s { type ipv4_addr; flags interval; "
            "elements = { 198.18.0.0/29, 198.18.1.64-198.18.1.80 } }",
            "add chain inet sets c { type filter hook input priority -5; }",
            f"add rule inet sets c ip saddr @s {draw(PROTOCOL)} dport {draw(PORT)} drop",
        ]
    if kind == "mark":
        return [
            "add table inet marks",
            "add chain inet marks p { type filter hook prerouting priority 0; }",
            f"add rule inet marks p {draw(match())} meta mark set 7",
            "add chain inet marks i { type filter hook input priority 20; }",
            f"add rule inet marks i meta mark 7 {draw(PROTOCOL)} dport {draw(PORT)} drop",
        ]
    # An ip-family table: it sees IPv4 packets only.
    return [
        "add table ip four",
        "add chain ip four c { type filter hook input priority 0; policy drop; }",
        f"add rule ip four c {draw(match())} accept",
    ]


def apply(lab: Lab, host: Host, commands: list[str]) -> None:
    for command in commands:
        if command.startswith("REMOVE "):
            listed = lab.exec(host, "nft", "-a", "list", "chain", "inet", "hasg", "input")
            handles = [
                line.rsplit("# handle ", 1)[1]
                for line in listed.splitlines()
                if "# handle" in line and "chain " not in line
            ]
            handle = handles[int(command.split()[1]) % len(handles)]
            lab.exec(host, "nft", "delete", "rule", "inet", "hasg", "input", "handle", handle)
        else:
            lab.exec(host, "nft", command)


# --------------------------------------------------------------------------- the property

TWO_PORTS = "insert rule inet hasg input ip saddr 198.18.0.5 tcp dport 7432 tcp dport 22 accept"
REPLY_DROPPED = [
    "add table inet out",
    "add chain inet out o { type filter hook output priority 0; }",
    "add rule inet out o tcp sport 5432 drop",
]


def probes(lab: Lab) -> list[tuple[Host, str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    target = next(h for h in lab.hosts if h.name == TARGET)
    return [
        (source, protocol, destination, port)
        for source in lab.hosts
        if source != target
        for destination in target.addresses
        for protocol, ports in (("tcp", TCP_PORTS), ("udp", UDP_PORTS))
        for port in ports
    ]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.lists(edit(), min_size=1, max_size=3))
@example(edits=[["add table inet hasg { flags dormant; }"]])
@example(
    edits=[
        ["insert rule inet hasg input ip saddr 198.18.0.5 tcp dport 7432 tcp dport 22 accept"],
        ["REMOVE 5"],
    ]
)
@example(  # a return in the chain jumped to: the rule after the jump decides
    edits=[
        ["insert rule inet hasg input accept"],
        [
            "add chain inet hasg j",
            "add rule inet hasg j return",
            "add rule inet hasg j accept",
            "insert rule inet hasg input jump j",
        ],
    ]
)
@example(  # two tables of other priorities
    edits=[
        [
            "add table inet early",
            "add chain inet early c { type filter hook input priority -10; policy accept; }",
            "add rule inet early c accept",
        ],
        [
            "add table inet late",
            "add chain inet late c { type filter hook input priority 10; policy drop; }",
            "add rule inet late c ip saddr 198.18.0.5 accept",
        ],
    ]
)
@example(
    edits=[
        [
            "add table inet out",
            "add chain inet out o { type filter hook output priority 0; }",
            "add rule inet out o tcp sport 5432 drop",
        ]
    ]
)
def test_where_the_evaluator_decides_real_packets_agree(
    lab: Lab, site: tuple[Inventory, HostRuleset], tmp_path: Path, edits: list[list[str]]
) -> None:
    _, ruleset = site
    target = ruleset.host
    lab.exec(target, "nft", "flush", "ruleset")
    path = tmp_path / "target.nft"
    path.write_text(write.ruleset_text(ruleset), encoding="utf-8")
    lab.load(target, path)
    for commands in edits:
        apply(lab, target, commands)
    tried = probes(lab)
    outcomes = lab.probe(
        [
            (source.name, protocol, str(destination), port)
            for source, protocol, destination, port in tried
        ]
    )
    for flags in ((), ("-n",)):
        view = nftables.read_host(lab.exec(target, "nft", *flags, "-j", "list", "ruleset"))
        decided = 0
        for source, protocol, destination, port in tried:
            peer = next(a for a in source.addresses if a.version == destination.version)
            answer = view.answer(destination, peer, Service(protocol, port), inbound=True)
            if answer.outcome == "undecided":
                continue
            decided += 1
            seen = outcomes[(source.name, protocol, str(destination), port)]
            # Reached the host and answered, or dropped on the way, or refused by a reject.
            assert seen in ("open", "timeout", "refused"), f"{peer} -> {destination}: {seen}"
            real = "open" if seen == "open" else "closed"
            if answer.outcome != real:
                # Asked once more, and the ruleset as the kernel holds it now: whether
                # the packets change their mind tells a flaky probe from an evaluator gap.
                flow = (source.name, protocol, str(destination), port)
                again = lab.probe([flow])[flow]
                held = lab.exec(target, "nft", "-a", "list", "ruleset")
                raise AssertionError(
                    f"{protocol}/{port} {peer} -> {destination}: evaluated {answer.outcome} "
                    f"({answer.why} {answer.where}), packets say {seen} (asked again: "
                    f"{again}); edits {edits}; the kernel holds:\n{held}"
                )
        assert decided or any("dormant" in c for e in edits for c in e)
