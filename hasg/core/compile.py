"""Policy -> Blueprint: both sides of every flow, merged, ordered, within AWS quotas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from hasg.core.blueprint import Blueprint, Direction, Peer, Rule, SecurityGroup, group_name
from hasg.core.digest import with_digest
from hasg.core.no_traffic import is_no_traffic_egress
from hasg.core.peers import cidr_peer, expand_cidr_list, icmp_for
from hasg.core.protocols import Protocol
from hasg.core.quotas import check_rule_quotas
from hasg.core.tags import ownership_tags
from hasg.core.transforms import merge_rules
from hasg.errors import PolicyError
from hasg.policy.model import (
    AnyPeer,
    CidrListPeer,
    CidrPeer,
    Flow,
    Policy,
    Port,
    PrefixListPeer,
    RolePeer,
)


def compile_policy(policy: Policy, *, check_quotas: bool = True) -> Blueprint:
    """One group per role; for each flow the ingress on the destination's group
    and the egress on the source's group; on every group the tags of the
    policy, hasg's own and the policy digest (`hasg.core.digest`), which every
    target writes. Deterministic: equal policies give equal Blueprints,
    whatever the order of their flows."""
    merged: dict[str, dict[tuple[object, ...], list[Rule]]] = {r.id: {} for r in policy.roles}
    templates: dict[str, dict[tuple[object, ...], list[Rule]]] = {r.id: {} for r in policy.roles}
    for flow in policy.flows:
        for role_id, rule in flow_rules(policy, flow):
            merged[role_id].setdefault(rule.key, []).append(rule)
        if not any(isinstance(p, CidrListPeer) for p in (flow.source, flow.destination)):
            continue
        for role_id, rule in flow_rules(policy, flow, expand_lists=False):
            if rule.peer.is_list:
                templates[role_id].setdefault(rule.key, []).append(rule)

    groups = []
    for role in policy.roles:
        rules = tuple(_merge(same) for same in merged[role.id].values())
        _refuse_the_no_traffic_rule(rules)
        list_rules = tuple(_merge(same) for same in templates[role.id].values())
        tags = {**policy.tags, "Name": group_name(policy.cluster, role.id)}
        tags.update(ownership_tags(policy.cluster, role.id))
        groups.append(
            SecurityGroup(
                role=role.id,
                name=group_name(policy.cluster, role.id),
                description=role.description,
                tags=tags,
                rules=rules,
                list_rules=list_rules,
            )
        )
    used_lists = {r.peer.value for g in groups for r in g.list_rules}
    blueprint = Blueprint(
        cluster=policy.cluster,
        groups=tuple(groups),
        cidr_lists={name: getattr(policy, name) for name in sorted(used_lists)},
        default_group=() if policy.restrict_default_group else None,
    )
    blueprint = with_digest(blueprint)
    if check_quotas:
        check_rule_quotas(blueprint)
    return blueprint


def _refuse_the_no_traffic_rule(rules: Iterable[Rule]) -> None:
    """hasg's AWS reader reads NO_TRAFFIC_EGRESS as no rule (stacks hold it), so
    `apply` could never see it applied: refuse it. It matches no packet anyway."""
    for rule in rules:
        if is_no_traffic_egress(rule):
            raise PolicyError(
                f"{rule} (flow {', '.join(rule.origins)}) is the rule hasg's CloudFormation "
                "template uses to mean no egress, which hasg reads as no rule; it matches "
                "no traffic: leave it out"
            )


def flow_rules(
    policy: Policy, flow: Flow, *, expand_lists: bool = True
) -> Iterable[tuple[str, Rule]]:
    """The (role, rule) pairs one flow stands for; with `expand_lists` off, a
    policy CIDR list stays one symbolic peer instead of a rule per CIDR."""
    sides: tuple[tuple[Direction, AnyPeer, AnyPeer], ...] = (
        ("ingress", flow.destination, flow.source),
        ("egress", flow.source, flow.destination),
    )
    for direction, owner, other in sides:
        if not isinstance(owner, RolePeer):
            continue
        peers = (
            expand_peer(policy, other)
            if expand_lists or not isinstance(other, CidrListPeer)
            else (Peer("cidr_list", other.cidr_list),)
        )
        for peer in peers:
            for port in flow.ports:
                protocol, low, high = _aws_ports(port, peer)
                yield (
                    owner.role,
                    Rule(
                        direction=direction,
                        protocol=protocol,
                        from_port=low,
                        to_port=high,
                        peer=peer,
                        description=flow.description,
                        origins=(flow.label,),
                        public=flow.public,
                    ),
                )


def expand_peer(policy: Policy, peer: AnyPeer) -> tuple[Peer, ...]:
    if isinstance(peer, RolePeer):
        return (Peer("group", peer.role),)
    if isinstance(peer, CidrPeer):
        return (cidr_peer(peer.cidr),)
    if isinstance(peer, PrefixListPeer):
        family: Literal["ipv4", "ipv6"] = "ipv6" if peer.address_family == "IPv6" else "ipv4"
        return (
            Peer(
                "prefix_list",
                peer.prefix_list_id,
                max_entries=peer.max_entries,
                prefix_list_family=family,
            ),
        )
    if isinstance(peer, CidrListPeer):
        return expand_cidr_list(peer.cidr_list, getattr(policy, peer.cidr_list))
    return (Peer("vpc"),)


def _aws_ports(port: Port, peer: Peer) -> tuple[Protocol, int, int]:
    if port.protocol == "all":
        return "-1", -1, -1
    if port.protocol == "icmp":
        return icmp_for(peer.is_network and peer.family == "ipv6"), port.from_port, port.to_port
    return port.protocol, port.from_port, port.to_port


def _merge(rules: list[Rule]) -> Rule:
    """Flows that ask for the same rule share it; its description names each reason."""
    first = rules[0]
    if len(rules) == 1:
        return first
    lists = {r.peer.variable for r in rules}
    if len(lists) > 1:
        # Terraform keeps a CIDR list as a variable: the rule would exist twice
        # there (once per list or literal), and AWS refuses duplicate rules.
        raise PolicyError(
            f"flows {', '.join(sorted({o for r in rules for o in r.origins}))} all ask for "
            f"{first}, through {' and '.join(sorted(v or 'a literal peer' for v in lists))}; "
            "keep one of them"
        )
    return merge_rules(rules)
