"""Peer resolution is a core transform that loses nothing: CIDR lists, list
rules, every reason and every origin of the rules it makes one."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from hasg import Policy, compile_policy
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.transforms import resolve_role_peers, resolve_vpc_peers

from .strategies import policies

VPC = "10.1.0.0/16"


def _blueprint(*rules: Rule, cidr_lists: dict[str, tuple[str, ...]] | None = None) -> Blueprint:
    listed = Rule("ingress", "tcp", 443, 443, Peer("cidr_list", "user_cidrs"), "users")
    group = SecurityGroup("web", "c-web", "web", {}, rules, (listed,))
    return Blueprint("c", (group,), cidr_lists or {})


def _reasons(rules: Iterable[Rule]) -> set[str]:
    return {part for r in rules for part in r.description.split("; ")}


def test_vpc_peers_keep_the_cidr_lists_the_list_rules_and_every_origin() -> None:
    from_vpc = Rule("ingress", "tcp", 443, 443, Peer("vpc"), "users", origins=("users-to-web",))
    from_cidr = Rule(
        "ingress", "tcp", 443, 443, Peer("cidr_ipv4", VPC), "admins", origins=("admins-to-web",)
    )
    blueprint = _blueprint(from_vpc, from_cidr, cidr_lists={"user_cidrs": ()})

    resolved = resolve_vpc_peers(blueprint, VPC)

    assert resolved.cidr_lists == {"user_cidrs": ()}
    assert resolved["web"].list_rules == blueprint["web"].list_rules
    (rule,) = resolved["web"].rules
    assert (rule.peer, rule.description) == (Peer("cidr_ipv4", VPC), "admins; users")
    assert rule.origins == ("admins-to-web", "users-to-web")


def test_role_peers_become_the_addresses_of_the_roles_hosts() -> None:
    to_db = Rule("egress", "tcp", 5432, 5432, Peer("group", "db"), "queries", origins=("f",))
    to_cache = Rule("egress", "tcp", 6379, 6379, Peer("group", "cache"), "cache")
    resolved = resolve_role_peers(
        _blueprint(to_db, to_cache), {"db": ["10.1.2.3/32", "2001:db8::5/128"]}
    )
    assert {(r.ports_text(), r.peer, r.origins) for r in resolved["web"].rules} == {
        ("tcp/5432", Peer("cidr_ipv4", "10.1.2.3/32"), ("f",)),
        ("tcp/5432", Peer("cidr_ipv6", "2001:db8::5/128"), ("f",)),
    }  # no host of `cache`: nothing to reach, so no rule


def _same_but_peers(before: Blueprint, after: Blueprint, kind: str) -> None:
    assert after.cidr_lists == before.cidr_lists
    assert after.cluster == before.cluster
    for old, new in zip(before, after, strict=True):
        assert (new.role, new.name, new.description, new.tags, new.list_rules) == (
            old.role,
            old.name,
            old.description,
            old.tags,
            old.list_rules,
        )
        assert not any(r.peer.kind == kind for r in new.rules)
        assert _reasons(new.rules) == _reasons(r for r in old.rules if r.description)
        assert {o for r in new.rules for o in r.origins} == {
            o for r in old.rules for o in r.origins
        }
        untouched = {r for r in old.rules if r.peer.kind != kind}
        assert {r.key for r in untouched} <= {r.key for r in new.rules}


@settings(max_examples=60, deadline=None)
@given(policies(), st.sampled_from(["10.1.0.0/16", "172.16.0.0/12", "192.168.7.0/24"]))
def test_resolving_vpc_peers_loses_nothing(policy: Policy, vpc_cidr: str) -> None:
    blueprint = compile_policy(policy, check_quotas=False)
    _same_but_peers(blueprint, resolve_vpc_peers(blueprint, vpc_cidr), "vpc")


@settings(max_examples=60, deadline=None)
@given(policies())
def test_resolving_role_peers_loses_nothing_when_every_role_has_hosts(policy: Policy) -> None:
    blueprint = compile_policy(policy, check_quotas=False)
    addresses = {role: [f"10.9.{i}.1/32"] for i, role in enumerate(blueprint.roles)}
    _same_but_peers(blueprint, resolve_role_peers(blueprint, addresses), "group")
