"""Plan: read what is live, diff it against the Blueprint, find what blocks it;
and a Plan as text for people (a line per rule: + add, - remove, ~ change) and
as JSON, which `hasg plan`, `apply` and `destroy` print."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hasg.backends.aws.boundary import check_blueprint, check_vpc_id
from hasg.backends.aws.read import LiveState, Vpc, holders, name_conflicts, read_cluster
from hasg.backends.aws.session import DEFAULT_WORKERS, aws_errors, make_client
from hasg.core.blueprint import DEFAULT_GROUP, DEFAULT_GROUP_NAME, Blueprint, Peer, Rule
from hasg.core.diff import Blocker, Changes, GroupChange, RuleChange, diff
from hasg.core.digest import with_digest
from hasg.core.transforms import resolve_vpc_peers
from hasg.errors import HasgError, OwnershipError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class Plan:
    """What apply would do to one cluster's groups in one VPC, and why it might refuse."""

    vpc: Vpc
    # The Blueprint with its "vpc" peers resolved to this VPC's CIDR, and its
    # policy digest tag on every group.
    desired: Blueprint
    live: LiveState
    changes: Changes

    @property
    def cluster(self) -> str:
        return self.desired.cluster

    @property
    def empty(self) -> bool:
        return self.changes.empty

    @property
    def changes_pending(self) -> bool:
        """Whether apply would change anything (`changes_pending` of `hasg plan --json`)."""
        return not self.changes.empty

    def __str__(self) -> str:
        """The plan as `hasg plan` prints it: a line per group and rule, the summary."""
        return render_plan(self)

    @property
    def blockers(self) -> tuple[Blocker, ...]:
        return self.changes.blockers

    def group_name(self, role: str) -> str:
        for blueprint in (self.desired, self.live.blueprint):
            if role in blueprint.roles:
                return blueprint[role].name
        return role

    def check(self) -> None:
        """Raise if apply must refuse: nothing is changed while anything blocks."""
        if not self.blockers:
            return
        more = len(self.blockers) - 1
        suffix = f" (and {more} more problem(s); `hasg plan` lists them)" if more else ""
        first = self.blockers[0]
        error = (
            OwnershipError if first.kind in ("misnamed", "name_taken", "duplicate") else HasgError
        )
        raise error(f"{first.message}{suffix}")


def plan(
    blueprint: Blueprint,
    *,
    vpc_id: str,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> Plan:
    """What `apply` would change in `vpc_id` to make it hold exactly `blueprint`.

    Reads only: DescribeVpcs and DescribeSecurityGroups at once, and, when
    groups are to be deleted, what keeps them in use.
    """
    check_blueprint("hasg.plan", blueprint)
    check_vpc_id(vpc_id)
    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        return make_plan(client, blueprint, vpc_id)


def make_plan(
    client: EC2Client, blueprint: Blueprint, vpc_id: str, *, max_workers: int = DEFAULT_WORKERS
) -> Plan:
    vpc, live = read_cluster(
        client,
        vpc_id,
        blueprint.cluster,
        default_group=blueprint.default_group is not None,
        max_workers=max_workers,
    )
    # The digest as the compiler computes it, before the VPC's CIDR is filled
    # in, so that apply tags as the Terraform module and the stack do; again
    # here, since a library caller's Blueprint may hold none, or a stale one.
    desired = resolve_vpc_peers(with_digest(blueprint), vpc.cidr)
    changes = diff(desired, live.blueprint, new_group_rules=vpc.new_group_rules)
    groups = tuple(
        replace(c, group_id=live.group_ids[c.role]) if c.action == "delete" else c
        for c in changes.groups
    )
    new = [c.group for c in groups if c.action == "create"]
    doomed = [c for c in groups if c.action == "delete"]
    blockers = [
        *live.blockers,
        *name_conflicts(live, blueprint.cluster, new),
        *holders(client, doomed, live.group_ids.values(), max_workers),
    ]
    made = Plan(vpc, desired, live, replace(changes, groups=groups).with_blockers(blockers))
    _remember(made)
    return made


# --------------------------------------------------------------------------- provenance
#
# A Plan is a value: a caller can build one, or change the ids one holds, and
# hand it to `execute`. What hasg owns must come from AWS's answer, never
# from such data (docs/security.md). A Plan that `make_plan` returned, still
# the same object and still naming the groups it named then, was made from
# AWS's answer; `execute` reads the VPC again for any other Plan before it
# changes anything (`hasg.backends.aws.applier.check_owned_by_aws`).

Claims = tuple[str, str, tuple[tuple[str, str], ...], str, tuple[tuple[str, str], ...]]
_MADE: dict[int, tuple[weakref.ref[Plan], Claims]] = {}


def ownership_claims(plan: Plan) -> Claims:
    """What a Plan says hasg owns, and where: every group id it may change."""
    deleted = tuple(sorted((c.role, c.group_id) for c in plan.changes.groups))
    return (
        plan.vpc.id,
        plan.cluster,
        tuple(sorted(plan.live.group_ids.items())),
        plan.live.default_group_id,
        deleted,
    )


def _remember(plan: Plan) -> None:
    key = id(plan)
    _MADE[key] = (weakref.ref(plan, lambda _: _MADE.pop(key, None)), ownership_claims(plan))


def made_from_aws(plan: Plan) -> bool:
    """Whether `plan` is one `make_plan` returned, naming the groups it named
    when AWS answered (not a Plan built or changed since)."""
    found = _MADE.get(id(plan))
    return found is not None and found[0]() is plan and found[1] == ownership_claims(plan)


# --------------------------------------------------------------------------- as text and JSON

_COLORS = {"+": "32", "-": "31", "~": "33", "!": "1;31"}
_SIGNS = {"create": "+", "delete": "-", "add": "+", "remove": "-", "update": "~"}


def render_plan(plan: Plan, *, color: bool = False) -> str:
    """The plan, a line per group and per rule; the summary last."""
    where = f"cluster {plan.cluster} in {plan.vpc.id} ({plan.vpc.cidr})"
    if plan.empty and not plan.blockers:
        count = len(plan.live.blueprint.groups)
        if not plan.desired.groups and not count:  # a destroy, with nothing left
            return (
                f"Nothing to destroy: cluster {plan.cluster} has no group in {plan.vpc.id} "
                f"({plan.vpc.cidr}).\n"
            )
        return f"No changes: the {count} group(s) of {where} match the policy.\n"

    def paint(line: str) -> str:
        code = _COLORS.get(line.lstrip()[:1])
        return f"\x1b[{code}m{line}\x1b[0m" if color and code else line

    lines = [f"hasg will change {where}:", ""]
    changes = plan.changes
    group_changes = {c.role: c for c in changes.groups}
    tag_changes = {c.role: c for c in changes.tags}
    rule_changes: dict[str, list[RuleChange]] = {}
    for change in changes.rules:
        rule_changes.setdefault(change.role, []).append(change)
    for role in sorted({*group_changes, *tag_changes, *rule_changes}):
        group = group_changes.get(role)
        lines.append(paint(_group_line(plan, role, group)))
        if role in tag_changes:
            tags = ", ".join(f"{k}={v}" for k, v in tag_changes[role].tags.items())
            lines.append(paint(f"    ~ tags {tags}"))
        if group is not None and group.action == "delete":
            lines.extend(paint(f"    - {rule_text(plan, r)}") for r in group.group.rules)
            continue
        new_rules = plan.vpc.new_group_rules if group is not None else ()
        for change in rule_changes.get(role, []):
            line = f"    {_SIGNS[change.action]} {rule_text(plan, change.rule)}"
            if change.action == "update":
                line += f": description {change.old_description!r} -> {change.rule.description!r}"
            elif change.rule in new_rules:
                line += "  (AWS's default for a new group)"
            lines.append(paint(line))
    if changes.default_group:
        lines += ["", *(paint(line) for line in _default_group_lines(plan))]
    if changes.blockers:
        lines.append("")
        lines.extend(paint(f"! {b.message}") for b in changes.blockers)
    lines += ["", f"Plan: {changes.summary()}."]
    return "\n".join(lines) + "\n"


def render_result(plan: Plan, group_ids: Mapping[str, str]) -> str:
    """What `hasg apply` and `hasg destroy` print once done (after the plan):
    what changed, or that nothing had to, and each role's group (`group_ids`,
    as the apply's result holds them)."""
    if plan.empty:
        head = render_plan(plan)
    else:
        verb = "Apply" if plan.desired.groups else "Destroy"
        head = f"{verb} complete: {plan.changes.summary(done=True)}.\n"
    groups = [
        f"  {role:<16} {group_id}  {plan.group_name(role)}\n"
        for role, group_id in group_ids.items()
    ]
    return head + "".join(groups)


def _default_group_lines(plan: Plan) -> list[str]:
    """The VPC's default group, in a section of its own: hasg does not own it."""
    return [
        f"~ group {DEFAULT_GROUP_NAME} ({plan.live.default_group_id}), the VPC's default group: "
        "restrict_default_group revokes every rule it holds (the group itself cannot be "
        "deleted; hasg keeps no copy of these rules)",
        *(f"    {_SIGNS[c.action]} {rule_text(plan, c.rule)}" for c in plan.changes.default_group),
    ]


def _group_line(plan: Plan, role: str, change: GroupChange | None) -> str:
    name = plan.group_name(role)
    if change is not None and change.action == "create":
        return f"+ group {name} (role {role}, new)"
    group_id = plan.live.group_ids.get(role, "")
    sign = "-" if change is not None else "~"
    return f"{sign} group {name} ({group_id})"


def rule_text(plan: Plan, rule: Rule) -> str:
    """`Rule.text`, with hasg's groups by their AWS names (what the console shows)."""
    return rule.text(lambda role: _group_name(plan, role))


def _group_name(plan: Plan, group: str) -> str:
    """A role's group name; any other group (a stranger's id) as it is."""
    if group == DEFAULT_GROUP:
        return DEFAULT_GROUP_NAME
    if group in plan.desired.roles or group in plan.live.blueprint.roles:
        return plan.group_name(group)
    return group


def plan_json(plan: Plan) -> dict[str, object]:
    changes = plan.changes
    return {
        "cluster": plan.cluster,
        "vpc": {"id": plan.vpc.id, "cidr": plan.vpc.cidr},
        "changes_pending": not plan.empty,
        "summary": {
            action: changes.count(action)
            for action in ("create", "delete", "add", "remove", "update")
        },
        "groups": [
            {
                "action": c.action,
                "role": c.role,
                "name": c.group.name,
                "group_id": c.group_id or None,
            }
            for c in changes.groups
        ],
        "rules": [_rule_json(plan, c) for c in changes.rules],
        "tags": [{"role": c.role, "tags": dict(c.tags)} for c in changes.tags],
        "blockers": [{"role": b.role, "message": b.message} for b in changes.blockers],
        "group_ids": dict(plan.live.group_ids),
        "default_group": None
        if plan.desired.default_group is None
        else {
            "group_id": plan.live.default_group_id,
            "rules": [_rule_json(plan, c) for c in changes.default_group],
        },
    }


def result_json(plan: Plan, group_ids: Mapping[str, str]) -> dict[str, object]:
    return {**plan_json(plan), "applied": True, "group_ids": dict(group_ids)}


def _rule_json(plan: Plan, change: RuleChange) -> Mapping[str, object]:
    rule = change.rule
    data: dict[str, object] = {
        "action": change.action,
        "role": change.role,
        "group": _group_name(plan, change.role),
        "direction": rule.direction,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        # The default group naming itself: by its id, which is what EC2 shows.
        "peer": {
            "kind": rule.peer.kind,
            "value": plan.live.default_group_id
            if rule.peer == Peer("group", DEFAULT_GROUP)
            else rule.peer.value,
        },
        "description": rule.description,
    }
    if change.action == "update":
        data["old_description"] = change.old_description
    return data
