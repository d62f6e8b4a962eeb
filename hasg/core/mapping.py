"""Groups hasg did not build, mapped to the policy's roles (`--map`, `--map-tag`).

A cluster built by other hands (Chef's own a2ha-terraform, a console) has
groups of its own shape: chef/automate's `modules/aws/main.tf` gives every
node the same three groups (`base_linux`, `habitat_supervisor`,
`chef_automate`), so one group serves several roles and a role has several
groups. A mapping says which: role -> group ids. An instance is allowed what
any of its groups allows (EC2 User Guide, "Security group rules": the rules
of all the groups of an interface are aggregated), so a role's rules are the
union of its groups' rules, and a rule naming a mapped group names every role
that group serves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.errors import UsageError

# EC2 group ids: "sg-" and 8 or 17 hexadecimal digits.
GROUP_ID = re.compile(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?")
# How one role's several groups are joined: `automate=sg-1+sg-2`, and the
# value of a `--map-tag` tag on a group that serves several roles.
JOIN = "+"

RoleMap = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class MappedGroup:
    """One live group as AWS holds it, and the roles it was mapped to.

    `rules` keep AWS's descriptions; a group peer's value is the group id it
    names (`sg-...`, or `account/sg-...` across accounts)."""

    group_id: str
    name: str
    roles: tuple[str, ...]
    rules: tuple[Rule, ...]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.group_id})"


def parse_role_map(text: str) -> RoleMap:
    """`automate=sg-1+sg-2,chef_server=sg-3`: the CLI's spelling of a mapping."""
    pairs: dict[str, tuple[str, ...]] = {}
    for item in text.split(","):
        role, equals, ids = item.strip().partition("=")
        if not equals or not role.strip() or not ids.strip():
            raise UsageError(f"--map: {item.strip()!r} is not ROLE=GROUP_ID[+GROUP_ID...]")
        role = role.strip()
        if role in pairs:
            raise UsageError(f"--map: role {role} is mapped twice; join its groups with '+'")
        pairs[role] = tuple(i.strip() for i in ids.split(JOIN))
    return pairs


def check_role_map(where: str, mapping: object, roles: Sequence[str]) -> RoleMap:
    """The mapping, refused as the CLI refuses it: unknown roles, group ids
    that are not group ids, a group named twice for one role. A group may
    serve several roles; a role may be left out (its flows are then missing)."""
    if isinstance(mapping, str):
        mapping = parse_role_map(mapping)
    if not isinstance(mapping, Mapping) or not mapping:
        raise UsageError(f"{where}: the map is role -> group ids, and names at least one role")
    checked: RoleMap = {}
    for role, ids in mapping.items():
        if role not in roles:
            raise UsageError(
                f"{where}: {role!r} is not a role of the policy (roles: {', '.join(roles)})"
            )
        if isinstance(ids, str):
            ids = (ids,)
        if not isinstance(ids, Iterable):
            raise UsageError(f"{where}: role {role}'s groups are group ids, not {ids!r}")
        group_ids = tuple(ids)
        for group_id in group_ids:
            if not isinstance(group_id, str) or not GROUP_ID.fullmatch(group_id):
                raise UsageError(f"{where}: {group_id!r} (role {role}) is not a group id (sg-...)")
        if not group_ids or len(set(group_ids)) != len(group_ids):
            raise UsageError(f"{where}: role {role} names no group, or one group twice")
        checked[role] = group_ids
    return checked


def roles_by_group(mapping: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """group id -> the roles it serves, in the mapping's order."""
    served: dict[str, list[str]] = {}
    for role, ids in mapping.items():
        for group_id in ids:
            served.setdefault(group_id, []).append(role)
    return {group_id: tuple(roles) for group_id, roles in served.items()}


def peers_meant(peer: Peer, groups: Sequence[MappedGroup]) -> tuple[Peer, ...]:
    """What a live rule's peer is in the policy's words: a mapped group is the
    roles it serves; anything else is itself."""
    if peer.is_group:
        for group in groups:
            if group.group_id == peer.value:
                return tuple(Peer("group", role) for role in group.roles)
    return (peer,)


def mapped_blueprint(cluster: str, groups: Sequence[MappedGroup]) -> Blueprint:
    """Each mapped role as one group: the union of its groups' rules, their
    peers in the policy's words. Descriptions are dropped (two groups may hold
    one rule described two ways, and reachability does not read them)."""
    rules: dict[str, list[Rule]] = {}
    names: dict[str, list[str]] = {}
    for group in groups:
        for role in group.roles:
            names.setdefault(role, []).append(group.name)
            rules.setdefault(role, []).extend(
                replace(rule, peer=peer, description="")
                for rule in group.rules
                for peer in peers_meant(rule.peer, groups)
            )
    return Blueprint(
        cluster,
        tuple(
            SecurityGroup(role, JOIN.join(names[role]), "", {}, tuple(rules[role]))
            for role in names
        ),
    )
