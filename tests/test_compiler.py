"""The compiler: both sides of every flow, nothing else, merged, deterministic, within quota."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from hasg import Blueprint, Policy, QuotaError, compile_policy
from hasg.core.blueprint import Peer, Rule
from hasg.core.quotas import quota_usage
from hasg.errors import PolicyError

ROLE_IDS = ["web", "api", "db", "cache", "bastion"]
CIDRS = ["10.0.0.0/16", "192.168.1.0/24", "2001:db8::/48", "0.0.0.0/0"]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    role_ids = draw(st.lists(st.sampled_from(ROLE_IDS), min_size=1, max_size=5, unique=True))
    peers = st.one_of(
        st.sampled_from(role_ids),
        st.sampled_from(CIDRS[:3]),
        st.sampled_from(["user_cidrs", "admin_cidrs", "vpc"]),
    )
    ports = st.one_of(
        st.integers(0, 65535),
        st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(
            lambda r: f"tcp/{min(r)}-{max(r)}"
        ),
        st.integers(0, 65535).map(lambda p: f"udp/{p}"),
        st.just("icmp"),
        st.just("all"),
    )
    flows = []
    for index in range(draw(st.integers(0, 8))):
        source = draw(peers)
        destination = draw(st.sampled_from(role_ids)) if source not in role_ids else draw(peers)
        flows.append(
            {
                "name": f"f{index}",
                "source": source,
                "destination": destination,
                "ports": draw(st.lists(ports, min_size=1, max_size=3)),
                "description": draw(st.sampled_from(["why one", "why two", "a third reason"])),
            }
        )
    return Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": r, "description": r} for r in role_ids],
            "flows": flows,
            "user_cidrs": draw(st.lists(st.sampled_from(CIDRS[:3]), unique=True, max_size=2)),
            "admin_cidrs": draw(st.lists(st.sampled_from(CIDRS[:3]), unique=True, max_size=2)),
        }
    )


def compiled(policy: Policy, *, check_quotas: bool = True) -> Blueprint:
    """Compile a generated policy; one that asks for a rule twice through
    different CIDR lists is refused by design (tested below), so skip it."""
    try:
        return compile_policy(policy, check_quotas=check_quotas)
    except PolicyError:
        reject()


@settings(max_examples=150, deadline=None)
@given(policies())
def test_every_rule_comes_from_a_flow_and_every_flow_yields_both_sides(policy: Policy) -> None:
    blueprint = compiled(policy)
    names = {f.label for f in policy.flows}
    for group in blueprint:
        for rule in group.rules:
            assert rule.origins, rule
            assert set(rule.origins) <= names
    for flow in policy.flows:
        # An empty CIDR list yields no AWS rule, but its list rule stays (for Terraform).
        produced = {
            (g.role, r)
            for g in blueprint
            for r in g.rules + g.list_rules
            if flow.label in r.origins
        }
        source = getattr(flow.source, "role", None)
        destination = getattr(flow.destination, "role", None)
        if destination:
            assert any(role == destination and r.direction == "ingress" for role, r in produced)
        if source:
            assert any(role == source and r.direction == "egress" for role, r in produced)
        if source and destination:
            # Role to role: each ingress rule on the destination mirrors an egress on the source.
            for role, rule in produced:
                if role == destination and rule.direction == "ingress":
                    # The same rule, described the same: one reason, both sides.
                    mirror = Rule(
                        "egress",
                        rule.protocol,
                        rule.from_port,
                        rule.to_port,
                        Peer("group", destination),
                        rule.description,
                    )
                    assert (source, mirror) in produced


@settings(max_examples=100, deadline=None)
@given(policies(), st.randoms())
def test_deterministic_whatever_the_flow_order(policy: Policy, random: Any) -> None:
    flows = list(policy.flows)
    random.shuffle(flows)
    shuffled = policy.model_copy(update={"flows": tuple(flows)})
    a, b = compiled(policy), compiled(shuffled)
    assert a == b
    assert [(r.key, r.description) for g in a for r in g.rules] == [
        (r.key, r.description) for g in b for r in g.rules
    ]


def test_same_policy_same_output_byte_for_byte() -> None:
    from hasg import chef_automate_ha
    from hasg.backends.terraform.hcl import to_hcl

    assert to_hcl(compile_policy(chef_automate_ha())) == to_hcl(compile_policy(chef_automate_ha()))


def base(**overrides: Any) -> Policy:
    data: dict[str, Any] = {
        "cluster": "c",
        "roles": [{"id": "web", "description": "w"}, {"id": "db", "description": "d"}],
        "flows": [],
    }
    data.update(overrides)
    return Policy.model_validate(data)


def test_duplicates_are_merged_and_both_reasons_kept() -> None:
    flows = [
        {"source": "web", "destination": "db", "ports": [5432], "description": "app queries"},
        {"source": "web", "destination": "db", "ports": [5432, 5432], "description": "migrations"},
    ]
    blueprint = compile_policy(base(flows=flows))
    (ingress,) = blueprint["db"].rules_for("ingress")
    assert ingress.description == "app queries; migrations"
    assert ingress.origins == ("web-to-db",)
    assert len(blueprint["web"].rules_for("egress")) == 1


def test_no_allow_all_egress_and_peers_by_group() -> None:
    flows = [{"source": "web", "destination": "db", "ports": [5432], "description": "q"}]
    blueprint = compile_policy(base(flows=flows))
    assert blueprint["web"].rules == (Rule("egress", "tcp", 5432, 5432, Peer("group", "db"), "q"),)
    assert blueprint["db"].rules == (Rule("ingress", "tcp", 5432, 5432, Peer("group", "web"), "q"),)


def test_empty_user_cidrs_mean_the_vpc_and_empty_admin_cidrs_nobody() -> None:
    flows = [
        {"source": "user_cidrs", "destination": "web", "ports": [443], "description": "u"},
        {"source": "admin_cidrs", "destination": "web", "ports": [22], "description": "a"},
    ]
    blueprint = compile_policy(base(flows=flows))
    assert [str(r.peer) for r in blueprint["web"].rules] == ["vpc"]
    assert {str(r.peer) for r in blueprint["web"].list_rules} == {"user_cidrs", "admin_cidrs"}


def test_icmp_to_ipv6_is_icmpv6() -> None:
    flows = [
        {"source": "2001:db8::/48", "destination": "web", "ports": ["icmp"], "description": "ping"}
    ]
    (rule,) = compile_policy(base(flows=flows))["web"].rules
    assert (rule.protocol, rule.from_port, rule.to_port) == ("icmpv6", -1, -1)


def many_cidr_flow(count: int, *, ipv6: bool = False) -> dict[str, Any]:
    cidrs = [
        f"2001:db8:{i:x}::/48" if ipv6 else f"10.{i // 256}.{i % 256}.0/24" for i in range(count)
    ]
    return {
        "user_cidrs": cidrs,
        "flows": [
            {"source": "user_cidrs", "destination": "web", "ports": [443], "description": "u"}
        ],
    }


def test_sixty_rules_fit() -> None:
    """AWS's quota is 60 inbound rules per family: all 60 are compiled, each
    from its CIDR, none dropped or merged to fit."""
    data = many_cidr_flow(60)
    web = compile_policy(base(**data))["web"]
    assert [(r.direction, r.ports_text()) for r in web.rules] == [("ingress", "tcp/443")] * 60
    assert sorted(r.peer.value for r in web.rules) == sorted(data["user_cidrs"])
    assert quota_usage(web)[("ingress", "ipv4")] == 60


def test_sixty_one_rules_do_not() -> None:
    with pytest.raises(
        QuotaError,
        match=r"group 'c-web' \(role web\) would have 61 ingress IPv4 "
        r"rules; AWS allows 60 per group",
    ):
        compile_policy(base(**many_cidr_flow(61)))


def test_families_are_counted_apart() -> None:
    data = many_cidr_flow(40)
    data["user_cidrs"] += many_cidr_flow(40, ipv6=True)["user_cidrs"]
    usage = quota_usage(compile_policy(base(**data))["web"])
    assert usage[("ingress", "ipv4")] == 40
    assert usage[("ingress", "ipv6")] == 40


def test_group_reference_counts_in_both_families_and_prefix_list_its_max_entries() -> None:
    flows = [
        {"source": "db", "destination": "web", "ports": [1], "description": "x"},
        {
            "source": {"prefix_list_id": "pl-0123456789abcdef0", "max_entries": 30},
            "destination": "web",
            "ports": [2, 3],
            "description": "y",
        },
    ]
    usage = quota_usage(compile_policy(base(flows=flows), check_quotas=False)["web"])
    assert usage[("ingress", "ipv4")] == 1 + 2 * 30
    assert usage[("ingress", "ipv6")] == 1


def test_prefix_list_over_quota() -> None:
    flows = [
        {
            "source": {"prefix_list_id": "pl-0123456789abcdef0", "max_entries": 31},
            "destination": "web",
            "ports": [2, 3],
            "description": "y",
        }
    ]
    with pytest.raises(QuotaError, match="would have 62 ingress IPv4 rules"):
        compile_policy(base(flows=flows))
    assert compile_policy(base(flows=flows), check_quotas=False)["web"].rules


def test_one_rule_through_a_list_and_a_literal_is_refused() -> None:
    flows = [
        {
            "source": "admin_cidrs",
            "destination": "web",
            "ports": [22],
            "description": "a",
            "name": "admins",
        },
        {
            "source": "10.0.0.0/8",
            "destination": "web",
            "ports": [22],
            "description": "b",
            "name": "office",
        },
    ]
    with pytest.raises(
        PolicyError,
        match=r"flows admins, office all ask for ingress tcp/22 from "
        r"10.0.0.0/8, through a literal peer and admin_cidrs; keep one of them",
    ):
        compile_policy(base(flows=flows, admin_cidrs=["10.0.0.0/8"]))
