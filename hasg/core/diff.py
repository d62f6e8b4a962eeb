"""What it takes to turn the live groups into the Blueprint: a pure function.

`diff(desired, live)` compares two Blueprints and returns `Changes`: groups to
create or delete, rules to add, remove or re-describe, tags to set, and
blockers, the differences AWS cannot reconcile in place. It makes no call and
reads no clock, so the plan a user reviews is exactly what apply executes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from hasg.core.blueprint import DEFAULT_GROUP, Blueprint, Peer, Rule, SecurityGroup, by_role

RuleAction = Literal["add", "remove", "update"]
GroupAction = Literal["create", "delete"]
# How the two sides differ on holding the VPC's default group at all:
# "missing", the desired side restricts it and the other says nothing of it;
# "unwanted", the other side manages it and the desired side leaves it alone.
DefaultGroupDifference = Literal["", "missing", "unwanted"]

# What AWS puts in every new group: allow all egress, over IPv6 too when the
# VPC has an IPv6 block. hasg's groups allow only what the policy says.
AWS_DEFAULT_EGRESS_IPV4 = Rule("egress", "-1", -1, -1, Peer("cidr_ipv4", "0.0.0.0/0"))
AWS_DEFAULT_EGRESS_IPV6 = Rule("egress", "-1", -1, -1, Peer("cidr_ipv6", "::/0"))


@dataclass(frozen=True)
class GroupChange:
    action: GroupAction
    # The desired group for "create", the live one (with its rules) for "delete".
    group: SecurityGroup
    group_id: str = ""

    @property
    def role(self) -> str:
        return self.group.role


@dataclass(frozen=True, order=True)
class RuleChange:
    role: str
    action: RuleAction
    # The rule as it will be ("add", "update") or as it is ("remove").
    rule: Rule
    old_description: str = field(default="", compare=False)


@dataclass(frozen=True)
class TagChange:
    role: str
    tags: Mapping[str, str]


BlockerKind = Literal["changed", "duplicate", "misnamed", "name_taken", "in_use"]


@dataclass(frozen=True)
class Blocker:
    """A difference hasg will not resolve by itself; apply refuses while any is left.

    `kind`: "changed" (a description or name AWS cannot change in place),
    "duplicate" (two groups claim one role), "misnamed" (hasg's tags on a group
    hasg did not name: not hasg's), "name_taken" (a stranger holds a name hasg
    needs), "in_use" (a group to delete that something still uses)."""

    role: str
    message: str
    kind: BlockerKind = "changed"
    group_id: str = ""
    group: str = ""  # the live group's name, where one is at fault


@dataclass(frozen=True)
class Changes:
    groups: tuple[GroupChange, ...] = ()
    rules: tuple[RuleChange, ...] = ()
    tags: tuple[TagChange, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    # The VPC's default group (role DEFAULT_GROUP), apart: hasg does not own it,
    # and changes it only as `restrict_default_group` asks.
    default_group: tuple[RuleChange, ...] = ()
    default_group_difference: DefaultGroupDifference = ""

    @property
    def empty(self) -> bool:
        """Nothing to execute (blockers are not changes: they stop the execution)."""
        return not (self.groups or self.rules or self.tags or self.default_group)

    def count(self, action: GroupAction | RuleAction) -> int:
        """How many groups or rules the action applies to. The rules removed
        are those revoked and those a deleted group takes with it: every rule
        the plan lists under a group to delete."""
        if action in ("create", "delete"):
            return sum(1 for g in self.groups if g.action == action)
        if action != "remove":
            return sum(1 for r in self.rules if r.action == action)
        deleted = [g for g in self.groups if g.action == "delete"]
        gone = {g.role for g in deleted}
        revoked = sum(1 for r in self.rules if r.action == "remove" and r.role not in gone)
        return revoked + sum(len(g.group.rules) for g in deleted)

    def __str__(self) -> str:
        return self.summary()

    def summary(self, *, done: bool = False) -> str:
        """`5 group(s) to create, ...`, or, once `done`, `5 group(s) created, ...`."""
        create, delete, add, remove, update, tag = (
            ("created", "deleted", "added", "removed", "updated", "re-tagged")
            if done
            else ("to create", "to delete", "to add", "to remove", "to update", "to re-tag")
        )
        parts = [
            f"{self.count('create')} group(s) {create}",
            f"{self.count('delete')} {delete}",
            f"{self.count('add')} rule(s) {add}",
            f"{self.count('remove')} {remove}",
            f"{self.count('update')} {update}",
        ]
        if self.tags:
            parts.append(f"{len(self.tags)} group(s) {tag}")
        if self.default_group:
            revoked = "revoked" if done else "to revoke"
            parts.append(f"{len(self.default_group)} rule(s) of the VPC's default group {revoked}")
        return ", ".join(parts)

    def with_blockers(self, blockers: Iterable[Blocker]) -> Changes:
        return replace(self, blockers=(*blockers, *self.blockers))


def diff(desired: Blueprint, live: Blueprint, *, new_group_rules: Iterable[Rule] = ()) -> Changes:
    """The changes that make `live` equal to `desired`.

    `desired` must have its "vpc" peers resolved
    (`hasg.core.transforms.resolve_vpc_peers`).
    `new_group_rules` are the rules a group has right after it is created
    (AWS's default egress), so that the plan removes them like any other
    rule the Blueprint does not have. The VPC's default group is compared
    apart (`Changes.default_group`), and only when `desired` has one.
    """
    live_groups = by_role(live)
    desired_roles = set(desired.roles)
    initial = tuple(new_group_rules)
    groups: list[GroupChange] = []
    rules: list[RuleChange] = []
    tags: list[TagChange] = []
    blockers: list[Blocker] = []

    for want in desired:
        have = live_groups.get(want.role)
        if have is None:
            groups.append(GroupChange("create", want))
            rules.extend(_rule_changes(want.role, want.rules, initial))
            continue
        blockers.extend(_group_blockers(want, have))
        missing = {k: v for k, v in want.tags.items() if have.tags.get(k) != v}
        if missing:
            tags.append(TagChange(want.role, missing))
        rules.extend(_rule_changes(want.role, want.rules, have.rules))

    deleted = {g.role for g in live if g.role not in desired_roles}
    for have in live:
        if have.role in deleted:
            groups.append(GroupChange("delete", have))
            # A group cannot be deleted while another group's rule refers to it.
            rules.extend(
                RuleChange(have.role, "remove", r)
                for r in have.rules
                if r.peer.is_group and r.peer.value in deleted
            )
    return Changes(
        groups=tuple(groups),
        rules=tuple(sorted(rules)),
        tags=tuple(tags),
        blockers=tuple(blockers),
        default_group=_default_group_changes(desired, live),
        default_group_difference=_default_group_difference(desired, live),
    )


def _default_group_changes(desired: Blueprint, live: Blueprint) -> tuple[RuleChange, ...]:
    """The VPC's default group, only where both sides speak of it: a Blueprint
    without `default_group` (a policy without restrict_default_group) never
    changes it."""
    if desired.default_group is None or live.default_group is None:
        return ()
    return tuple(sorted(_rule_changes(DEFAULT_GROUP, desired.default_group, live.default_group)))


def _default_group_difference(desired: Blueprint, live: Blueprint) -> DefaultGroupDifference:
    if desired.default_group is not None and live.default_group is None:
        return "missing"
    if desired.default_group is None and live.default_group is not None:
        return "unwanted"
    return ""


def _rule_changes(role: str, want: Iterable[Rule], have: Iterable[Rule]) -> Iterable[RuleChange]:
    have_by_key = {r.key: r for r in have}
    want_by_key = {r.key: r for r in want}
    for key, rule in want_by_key.items():
        old = have_by_key.get(key)
        if old is None:
            yield RuleChange(role, "add", rule)
        elif old.description != rule.description:
            yield RuleChange(role, "update", rule, old_description=old.description)
    for key, rule in have_by_key.items():
        if key not in want_by_key:
            yield RuleChange(role, "remove", rule)


def _group_blockers(want: SecurityGroup, have: SecurityGroup) -> Iterable[Blocker]:
    if have.description != want.description:
        yield Blocker(
            want.role,
            f"group {have.name}: its description is {have.description!r} but the policy "
            f"says {want.description!r}, and AWS cannot change a group's description; "
            "put the old description back in the policy, or replace the group yourself "
            "(`hasg destroy`, then `hasg apply`)",
        )
    if have.name != want.name:
        yield Blocker(
            want.role,
            f"the group tagged for role {want.role} is named {have.name}, not {want.name}, "
            "and AWS cannot rename a group; replace it (`hasg destroy`, then `hasg apply`)",
        )
