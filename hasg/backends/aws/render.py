"""A Plan as text for people (a line per rule: + add, - remove, ~ change) and as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hasg.core.blueprint import DEFAULT_GROUP, DEFAULT_GROUP_NAME, Peer, Rule
from hasg.core.diff import GroupChange, RuleChange

if TYPE_CHECKING:
    from hasg.backends.aws.applier import ApplyResult
    from hasg.backends.aws.planner import Plan

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


def render_result(plan: Plan, result: ApplyResult) -> str:
    """What `hasg apply` and `hasg destroy` print once done (after the plan):
    what changed, or that nothing had to, and each role's group."""
    if plan.empty:
        head = render_plan(plan)
    else:
        verb = "Apply" if plan.desired.groups else "Destroy"
        head = f"{verb} complete: {plan.changes.summary(done=True)}.\n"
    groups = [
        f"  {role:<16} {group_id}  {plan.group_name(role)}\n"
        for role, group_id in result.group_ids.items()
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


def result_json(plan: Plan, result: ApplyResult) -> dict[str, object]:
    return {**plan_json(plan), "applied": True, "group_ids": dict(result.group_ids)}


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
