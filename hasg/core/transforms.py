"""Blueprint -> Blueprint transforms a target needs before it can hold the rules.

A Blueprint speaks the policy's peers; not every target can. AWS has no "the
VPC" peer (a rule holds the VPC's CIDR), and a host firewall has no groups (a
rule holds the addresses of the role's hosts). Each transform replaces one kind
of peer and loses nothing else: the CIDR lists, the list rules, every reason
(description) and every origin of rules that become one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from hasg.core.blueprint import Blueprint, Peer, Rule, RuleKey
from hasg.core.peers import cidr_peer
from hasg.policy.model import AWS_TEXT_MAX


def resolve_vpc_peers(blueprint: Blueprint, vpc_cidr: str) -> Blueprint:
    """Every "vpc" peer as the VPC's primary CIDR, which is what a live rule holds
    (AWS has no VPC peer), so that the policy's "vpc" compares equal to what AWS
    answers. Where the policy also names that CIDR for the same ports, the two
    become one rule with both reasons."""

    def resolve(peer: Peer) -> tuple[Peer, ...]:
        if not peer.is_vpc:
            return (peer,)
        return (Peer("cidr_ipv4", vpc_cidr, variable=peer.variable),)

    return _with_peers(blueprint, resolve)


def resolve_role_peers(blueprint: Blueprint, addresses: Mapping[str, Sequence[str]]) -> Blueprint:
    """Every role peer as one CIDR peer per address of that role's hosts (a host
    firewall has no security groups to refer to). A role without addresses
    opens nothing: no host of it exists to be reached."""

    def resolve(peer: Peer) -> tuple[Peer, ...]:
        if not peer.is_group:
            return (peer,)
        return tuple(cidr_peer(cidr) for cidr in addresses.get(peer.value, ()))

    return _with_peers(blueprint, resolve)


def merge_rules(rules: Sequence[Rule]) -> Rule:
    """Rules AWS holds as one (the same `Rule.key`) as that one rule: each reason
    once in its description, every origin."""
    first = rules[0]
    if len(rules) == 1:
        return first
    return replace(
        first,
        description=join_descriptions(r.description for r in rules),
        origins=tuple(sorted({o for r in rules for o in r.origins})),
        # One flow that says the rule may be public is the policy saying so.
        public=any(r.public for r in rules),
    )


def join_descriptions(texts: Iterable[str]) -> str:
    """One description for a rule several flows share: each reason once, sorted
    (so reordering the policy changes nothing), within AWS's 255 characters."""
    descriptions = sorted(set(texts))
    joined = "; ".join(descriptions)
    if len(joined) <= AWS_TEXT_MAX:
        return joined
    suffix = f" (+{len(descriptions) - 1} more flows)"
    return descriptions[0][: AWS_TEXT_MAX - len(suffix)] + suffix


def _with_peers(blueprint: Blueprint, resolve: Callable[[Peer], tuple[Peer, ...]]) -> Blueprint:
    groups = []
    for group in blueprint:
        same_key: dict[RuleKey, list[Rule]] = {}
        for rule in group.rules:
            for peer in resolve(rule.peer):
                resolved = replace(rule, peer=peer)
                same_key.setdefault(resolved.key, []).append(resolved)
        groups.append(group.replace(rules=tuple(merge_rules(s) for s in same_key.values())))
    return blueprint.replace(groups=tuple(groups))
