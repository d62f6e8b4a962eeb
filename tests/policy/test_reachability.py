"""Reachability and `verify`: a connection is allowed only where the source's
egress AND the destination's ingress allow it; drift of any kind is a breach."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import hasg
from hasg import HasgError, Policy, compile_policy
from hasg.checks.reachability import (
    matrix_text,
    reachability,
    verify,
    verify_json,
    verify_text,
)
from hasg.core.blueprint import Blueprint, Peer, Rule
from hasg.core.ports import NOTHING, PortSet, union
from hasg.core.protocols import canonical_protocol

from .strategies import policies

# --------------------------------------------------------------------------- port sets

PROTOCOLS = ["tcp", "udp"]
intervals = st.lists(
    st.tuples(st.sampled_from(PROTOCOLS), st.integers(0, 40), st.integers(0, 40)).map(
        lambda t: (t[0], min(t[1:]), max(t[1:]))
    ),
    max_size=5,
)


def members(ports: PortSet) -> set[tuple[str, int]]:
    return {(p, n) for p, low, high in ports.intervals for n in range(low, high + 1)}


@given(intervals, intervals)
def test_port_sets_behave_like_sets_of_ports(
    a: list[tuple[str, int, int]], b: list[tuple[str, int, int]]
) -> None:
    x, y = PortSet.of(a), PortSet.of(b)

    assert members(x | y) == members(x) | members(y)
    assert members(x & y) == members(x) & members(y)
    assert members(x - y) == members(x) - members(y)
    assert PortSet.of((x | y).intervals) == x | y  # kept merged and sorted


def _rule(protocol: object, low: int = -1, high: int = -1, cidr: str = "0.0.0.0/0") -> Rule:
    return Rule("ingress", canonical_protocol(protocol), low, high, Peer("cidr_ipv4", cidr))


# Every IP protocol, as a number, as text, and by name where it has one.
EVERY_PROTOCOL = st.one_of(
    st.integers(0, 255),
    st.integers(0, 255).map(str),
    st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "esp", "gre", "ah", "sctp", "ospf"]),
).map(canonical_protocol)


def _of(protocol: str) -> PortSet:
    # A few ports (or ICMP types) each, so that `members` stays small.
    ports = (10, 40) if protocol in ("tcp", "udp") else (8, -1) if "icmp" in protocol else (-1, -1)
    return PortSet.of_rule(_rule(protocol, *ports))


@given(st.lists(EVERY_PROTOCOL, max_size=6), st.lists(EVERY_PROTOCOL, max_size=6))
def test_port_sets_of_every_protocol_behave_like_sets(a: list[str], b: list[str]) -> None:
    x, y = union(map(_of, a)), union(map(_of, b))
    everything = PortSet.everything()

    assert members(x | y) == members(x) | members(y)
    assert members(x & y) == members(x) & members(y)
    assert members(x - y) == members(x) - members(y)
    assert (everything - x) | x == everything
    for protocol in a:
        assert _of(protocol) & x == _of(protocol)
        assert _of(protocol) & (everything - x) == NOTHING


@pytest.mark.parametrize("number", range(256))
def test_verify_and_audit_report_a_rule_of_every_ip_protocol(number: int) -> None:
    """`hasg verify --vpc` crashed (KeyError) on an ESP or GRE rule; every protocol
    number must be understood, and reported as what it is."""
    policy = hasg.chef_automate_ha()
    built = compile_policy(policy)
    protocol = canonical_protocol(number)
    ports = (5, 7) if protocol in ("tcp", "udp") else (8, -1) if "icmp" in protocol else (-1, -1)
    extra = _rule(str(number), *ports, cidr="198.51.100.0/24")
    bastion = built["bastion"]
    live = Blueprint(
        built.cluster,
        (
            *(g for g in built if g.role != "bastion"),
            bastion.replace(rules=(*bastion.rules, extra)),
        ),
    )

    report = verify(policy, live)

    # The four protocols with ports in the policy's port words (icmp/8: type 8,
    # any code), every other one as proto/NUMBER (docs/aws.md).
    expected = {1: "icmp/8", 6: "tcp/5-7", 17: "udp/5-7", 58: "icmpv6/8"}.get(
        number, f"proto/{number}"
    )
    assert str(PortSet.of_rule(extra)) == expected
    assert extra.ports_text() == expected
    assert any(
        b.message.startswith(f"bastion ingress opens {expected} from 198.51.100.0/24")
        for b in report.of_kind("unnamed_cidr")
    ), report.breaches
    findings = hasg.audit_blueprint(built, live).findings
    assert [(f.kind, f.detail) for f in findings] == [
        ("extra_rule", f"ingress {expected} from 198.51.100.0/24")
    ]
    json.loads(verify_json(report))


def test_port_sets_read_like_the_docs() -> None:
    ports = PortSet.of([("tcp", 9638, 9638), ("udp", 9638, 9638), ("tcp", 22, 22)])
    assert str(ports) == "tcp/22 tcp/9638 udp/9638"
    assert str(PortSet.everything()) == "all"
    assert str(PortSet.everything() - PortSet.of([("tcp", 0, 65535)])) == (
        "udp/0-65535 icmp icmpv6 other-protocols"
    )
    assert str(PortSet.of_port(hasg.Port.icmp(8))) == "icmp/8"  # every code of type 8
    assert str(PortSet.of_port(hasg.Port.icmp(8, 0))) == "icmp/8:0"  # one of them
    esp_gre = PortSet.of_rule(_rule("esp")) | PortSet.of_rule(_rule(47))
    assert str(esp_gre) == "proto/47 proto/50"
    assert str(PortSet.everything() - esp_gre) == (
        "tcp/0-65535 udp/0-65535 icmp icmpv6 proto/0 proto/2-5 proto/7-16 proto/18-46 proto/48-49 "
        "proto/51-57 proto/59-255"
    )


# --------------------------------------------------------------------------- reachability


def test_the_built_in_blueprint_allows_exactly_the_built_in_flows() -> None:
    policy = hasg.chef_automate_ha()

    report = verify(policy, compile_policy(policy))

    assert report.ok, verify_text(report)
    assert report.flows_checked == len(policy.flows)
    assert {pair: str(ports) for pair, ports in report.reachability.direct.items()} == {
        ("automate", "opensearch"): "tcp/9200 tcp/9631",
        ("automate", "postgresql"): "tcp/5432 tcp/6432 tcp/7432 tcp/9631",
        ("bastion", "automate"): "tcp/22 tcp/7799 tcp/9631 tcp/9638",
        ("bastion", "chef_server"): "tcp/22 tcp/7799 tcp/9631 tcp/9638",
        ("bastion", "opensearch"): "tcp/22 tcp/7799 tcp/9200 tcp/9631 tcp/9638",
        ("bastion", "postgresql"): "tcp/22 tcp/7432 tcp/7799 tcp/9631 tcp/9638",
        ("chef_server", "automate"): "tcp/443",
        ("chef_server", "opensearch"): "tcp/9200 tcp/9631",
        ("chef_server", "postgresql"): "tcp/5432 tcp/6432 tcp/7432 tcp/9631",
        ("opensearch", "opensearch"): "tcp/9200 tcp/9300 tcp/9631 tcp/9638 udp/9638",
        ("opensearch", "postgresql"): "tcp/9631 tcp/9638 udp/9638",
        ("postgresql", "opensearch"): "tcp/9631 tcp/9638 udp/9638",
        ("postgresql", "postgresql"): "tcp/5432 tcp/6432 tcp/7432 tcp/9631 tcp/9638 udp/9638",
    }
    # The bastion's internet egress and the frontends' VPC-wide 443/80 meet.
    assert {k: str(v) for k, v in report.reachability.incidental.items()} == {
        ("bastion", "automate"): "tcp/80 tcp/443",
        ("bastion", "chef_server"): "tcp/80 tcp/443",
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_any_compiled_policy_allows_exactly_what_it_says(policy: Policy) -> None:
    try:
        blueprint = compile_policy(policy, check_quotas=False)
    except HasgError:  # valid as data, but not as AWS rules (say, two lists with one CIDR)
        reject()

    report = verify(policy, blueprint)

    assert report.ok, verify_text(report)


def test_egress_and_ingress_must_both_allow() -> None:
    rules = [
        Rule("egress", "tcp", 1, 100, Peer("group", "db")),
        Rule("ingress", "tcp", 50, 200, Peer("group", "web")),
    ]
    blueprint = _blueprint(web=rules[:1], db=rules[1:])

    assert str(reachability(blueprint).allowed("web", "db")) == "tcp/50-100"
    assert not reachability(blueprint).allowed("db", "web")


def test_a_cidr_that_holds_the_vpc_reaches_every_role_but_a_narrower_one_does_not() -> None:
    blueprint = _blueprint(
        web=[
            Rule("egress", "tcp", 443, 443, Peer("cidr_ipv4", "10.0.0.0/8")),
            Rule("egress", "tcp", 80, 80, Peer("cidr_ipv4", "10.0.1.0/24")),
        ],
        db=[Rule("ingress", "-1", -1, -1, Peer("group", "web"))],
    )

    assert not reachability(blueprint).allowed("web", "db")
    live = reachability(blueprint, vpc_cidrs=["10.0.0.0/16"])
    assert str(live.direct[("web", "db")]) == "tcp/443"


# --------------------------------------------------------------------------- breaches


def drifted(
    blueprint: Blueprint, role: str, *, drop: Iterable[str] = (), add: Iterable[Rule] = ()
) -> Blueprint:
    group = blueprint[role]
    gone = set(drop)
    rules = tuple(r for r in group.rules if str(r) not in gone) + tuple(add)
    assert len(rules) == len(group.rules) - len(gone) + len(tuple(add)), "drop names no rule"
    others = tuple(g for g in blueprint if g.role != role)
    return Blueprint(blueprint.cluster, (*others, group.replace(rules=rules)))


BUILT_IN = hasg.chef_automate_ha()
COMPILED = compile_policy(BUILT_IN)

DRIFTS = {
    "egress rule gone": (
        drifted(COMPILED, "automate", drop=["egress tcp/9200 to group opensearch"]),
        [
            (
                "missing_flow",
                "flow automate-to-opensearch: automate -> opensearch tcp/9200 is blocked by "
                "automate's egress",
            )
        ],
    ),
    "ingress rule gone": (
        drifted(COMPILED, "postgresql", drop=["ingress tcp/5432 from group chef_server"]),
        [
            (
                "missing_flow",
                "flow chef-server-to-postgresql: chef_server -> postgresql tcp/5432 is blocked by "
                "postgresql's ingress",
            )
        ],
    ),
    "user rule gone": (
        drifted(COMPILED, "automate", drop=["ingress tcp/80 from vpc"]),
        [
            (
                "missing_flow",
                "flow users-to-automate: automate ingress lacks tcp/80 from vpc",
            )
        ],
    ),
    "SSH open to the world": (
        drifted(
            COMPILED,
            "postgresql",
            add=[Rule("ingress", "tcp", 22, 22, Peer("cidr_ipv4", "0.0.0.0/0"))],
        ),
        [
            (
                "unnamed_cidr",
                "postgresql ingress opens tcp/22 from 0.0.0.0/0, which the policy does not name "
                "for postgresql",
            )
        ],
    ),
    # Harmless for reachability (no ingress takes it) but still not the policy.
    "AWS's allow-all egress left in place": (
        drifted(
            COMPILED,
            "opensearch",
            add=[Rule("egress", "-1", -1, -1, Peer("cidr_ipv4", "0.0.0.0/0"))],
        ),
        [
            (
                "unnamed_cidr",
                "opensearch egress opens all to 0.0.0.0/0, which the policy does not name "
                "for opensearch",
            ),
        ],
    ),
    "a new role-to-role port on both sides": (
        drifted(
            drifted(
                COMPILED,
                "automate",
                add=[Rule("egress", "tcp", 22, 22, Peer("group", "postgresql"))],
            ),
            "postgresql",
            add=[Rule("ingress", "tcp", 22, 22, Peer("group", "automate"))],
        ),
        [
            (
                "unexpected_flow",
                "automate -> postgresql may open tcp/22, which no flow of the policy asks for",
            )
        ],
    ),
    "a group outside the policy": (
        drifted(
            COMPILED,
            "postgresql",
            add=[Rule("ingress", "tcp", 5432, 5432, Peer("group", "sg-0123456789abcdef0"))],
        ),
        [
            (
                "foreign_group",
                "postgresql ingress opens tcp/5432 from group sg-0123456789abcdef0, which is not a "
                "role of the policy",
            )
        ],
    ),
    "a group gone": (
        Blueprint(COMPILED.cluster, tuple(g for g in COMPILED if g.role != "bastion")),
        [("missing_group", "role bastion has no security group")],
    ),
}


@pytest.mark.parametrize("blueprint, expected", DRIFTS.values(), ids=DRIFTS)
def test_drift_is_a_breach_that_says_what_and_where(
    blueprint: Blueprint, expected: list[tuple[str, str]]
) -> None:
    report = verify(BUILT_IN, blueprint)

    assert [(b.kind, b.message) for b in report.breaches] == expected
    assert "verify: ok" not in verify_text(report)


def test_a_live_blueprint_matches_the_vpc_peer_through_the_vpc_cidr() -> None:
    live = COMPILED
    for role in ("automate", "chef_server"):
        group = live[role]
        vpc_rules = [r for r in group.rules if r.peer.kind == "vpc"]
        resolved = [
            Rule(r.direction, r.protocol, r.from_port, r.to_port, Peer("cidr_ipv4", "10.0.0.0/16"))
            for r in vpc_rules
        ]
        live = drifted(live, role, drop=[str(r) for r in vpc_rules], add=resolved)

    assert verify(BUILT_IN, live, vpc_cidrs=["10.0.0.0/16"]).ok
    assert {b.kind for b in verify(BUILT_IN, live).breaches} == {"missing_flow", "unnamed_cidr"}


def test_verify_prints_a_matrix_and_json() -> None:
    report = verify(BUILT_IN, COMPILED)

    text = verify_text(report)
    assert matrix_text(report.reachability) in text
    assert "bastion      tcp/22 tcp/7799 tcp/9631 tcp/9638" in text
    assert text.endswith("verify: ok\n")
    document = json.loads(verify_json(report))
    assert document["ok"] is True
    assert {"source": "chef_server", "destination": "automate", "ports": ["tcp/443"]} in document[
        "allowed"
    ]


def _blueprint(**rules: list[Rule]) -> Blueprint:
    from hasg.core.blueprint import SecurityGroup

    return Blueprint(
        "test", tuple(SecurityGroup(role, role, role, {}, tuple(r)) for role, r in rules.items())
    )


@pytest.mark.parametrize("count", [1, 2])
def test_the_verdict_counts_in_english(count: int) -> None:
    """`verify: 1 breach`, `verify: 2 breaches`."""
    extra = [
        Rule("ingress", "tcp", port, port, Peer("cidr_ipv4", "203.0.113.9/32"), "x")
        for port in (2222, 2223)[:count]
    ]
    report = hasg.verify(BUILT_IN, drifted(COMPILED, "automate", add=extra))
    assert len(report.breaches) == count
    assert report.to_text().endswith(f"verify: {count} {'breach' if count == 1 else 'breaches'}\n")
