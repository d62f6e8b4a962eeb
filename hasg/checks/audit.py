"""Audit: how what is deployed differs from the policy (`hasg audit`).

`audit_blueprint(expected, actual)` compares any two Blueprints with the
core's pure diff (`hasg.core.diff`, the one `hasg plan` uses), so a
Blueprint read from a VPC, from Terraform or from anywhere else is audited
the same way: groups missing or extra, rules missing, extra or changed, and
group names, descriptions and tags that differ.

A Terraform module (`hasg.workflows.audit_hcl`) and a live VPC
(`hasg.workflows.audit_vpc`, which adds the findings only a VPC can tell:
`hasg.backends.aws.audit`) are read by their backends and audited here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hasg.core.blueprint import (
    DEFAULT_GROUP,
    DEFAULT_GROUP_NAME,
    Blueprint,
    Rule,
)
from hasg.core.diff import Changes, RuleChange, diff
from hasg.core.findings import KIND_LABELS, KIND_ORDER, Finding, FindingKind
from hasg.errors import ExitCode

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class AuditReport:
    cluster: str
    source: str  # where `actual` came from: a VPC id, a file
    groups_checked: int
    rules_checked: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.CHANGES

    def to_text(self) -> str:
        return audit_text(self)

    def to_json(self) -> str:
        return audit_json(self)

    def of_kind(self, kind: FindingKind) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)


# --------------------------------------------------------------------------- any Blueprint


def audit_blueprint(
    expected: Blueprint,
    actual: Blueprint,
    *,
    source: str = "",
    group_ids: Mapping[str, str] | None = None,
) -> AuditReport:
    """What differs between the policy's Blueprint and a deployed one.

    Both must speak of the VPC the same way: where `actual` holds the VPC's
    CIDR, resolve `expected`'s "vpc" peers first (`hasg.core.transforms.resolve_vpc_peers`).
    `group_ids` (role -> group id) only label the findings.
    """
    ids = group_ids or {}
    changes = diff(expected, actual)
    names = {g.role: g.name for g in (*actual, *expected)}

    def finding(kind: FindingKind, role: str, detail: str) -> Finding:
        return Finding(kind, role, names.get(role, role), detail, ids.get(role, ""))

    findings = [
        finding(
            "missing_group" if c.action == "create" else "extra_group",
            c.role,
            "the policy's group is not there"
            if c.action == "create"
            else f"a group of cluster {actual.cluster} for role {c.role}, which the policy "
            "does not have",
        )
        for c in changes.groups
    ]
    findings += [finding("changed_group", b.role, b.message) for b in changes.blockers]
    findings += [
        finding(
            "changed_group",
            t.role,
            "tags differ from the policy's: "
            + ", ".join(f"{k}={v!r}" for k, v in sorted(t.tags.items())),
        )
        for t in changes.tags
    ]
    whole = {c.role for c in changes.groups}
    findings += [
        finding(kind, role, detail)
        for kind, role, detail in _rule_findings(r for r in changes.rules if r.role not in whole)
    ]
    findings += _default_group_findings(changes, ids.get(DEFAULT_GROUP, ""))
    return AuditReport(
        cluster=expected.cluster,
        source=source,
        groups_checked=len(actual.groups),
        rules_checked=actual.rule_count(),
        findings=ordered_findings(findings),
    )


def _default_group_findings(changes: Changes, group_id: str) -> list[Finding]:
    """The VPC's default group against `restrict_default_group`: every rule it
    holds is one too many (CIS AWS Foundations 5.4), and a side that does not
    say the same of it as the policy differs."""

    def finding(kind: FindingKind, detail: str) -> Finding:
        return Finding(kind, "", DEFAULT_GROUP_NAME, detail, group_id)

    findings = [
        finding(
            "extra_rule" if c.action == "remove" else "missing_rule",
            f"{_rule_text(c.rule)}: the VPC's default group, which restrict_default_group "
            "wants without any rule",
        )
        for c in changes.default_group
    ]
    if changes.default_group_difference == "missing":
        findings.append(
            finding(
                "missing_group",
                "the policy has restrict_default_group: true, and this does not restrict "
                "the VPC's default group (Terraform: an aws_default_security_group without "
                "rules)",
            )
        )
    elif changes.default_group_difference == "unwanted":
        findings.append(
            finding(
                "extra_group",
                "this manages the VPC's default group, which the policy leaves alone: set "
                "restrict_default_group: true in the policy, or remove it",
            )
        )
    return findings


def _rule_findings(changes: Iterable[RuleChange]) -> Iterable[tuple[FindingKind, str, str]]:
    """Missing and extra rules; a lone pair of them on the same direction,
    protocol and peer is one rule whose ports changed."""
    buckets: dict[tuple[object, ...], list[RuleChange]] = {}
    for change in changes:
        if change.action == "update":
            yield (
                "changed_rule",
                change.role,
                f"{change.rule}: description is {change.old_description!r}, the policy "
                f"says {change.rule.description!r}",
            )
            continue
        rule = change.rule
        buckets.setdefault((change.role, rule.direction, rule.protocol, rule.peer), []).append(
            change
        )
    for (role, *_), same in buckets.items():
        added = [c.rule for c in same if c.action == "add"]
        removed = [c.rule for c in same if c.action == "remove"]
        if len(added) == len(removed) == 1:
            yield (
                "changed_rule",
                str(role),
                f"{removed[0]}: ports are {removed[0].ports_text()}, the policy says "
                f"{added[0].ports_text()}",
            )
            continue
        yield from (("missing_rule", str(role), _rule_text(r)) for r in added)
        yield from (("extra_rule", str(role), _rule_text(r)) for r in removed)


def _rule_text(rule: Rule) -> str:
    return f"{rule} ({rule.description})" if rule.description else str(rule)


def ordered_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(
        sorted(findings, key=lambda f: (KIND_ORDER.index(f.kind), f.role, f.group, f.detail))
    )


# --------------------------------------------------------------------------- output


def audit_text(report: AuditReport) -> str:
    where = f" in {report.source}" if report.source else ""
    lines = [
        f"Audit of cluster {report.cluster}{where}: {report.groups_checked} groups, "
        f"{report.rules_checked} rules.",
    ]
    if report.ok:
        lines.append("clean: the deployed groups hold exactly the policy's groups and rules")
        return "\n".join(lines) + "\n"
    width = max(len(KIND_LABELS[f.kind]) for f in report.findings)
    group_width = max(len(_group_label(f)) for f in report.findings)
    lines.append("")
    lines += [
        f"  {KIND_LABELS[f.kind]:<{width}}  {_group_label(f):<{group_width}}  {f.detail}"
        for f in report.findings
    ]
    lines += ["", f"drift: {len(report.findings)} finding(s)"]
    return "\n".join(lines) + "\n"


def _group_label(finding: Finding) -> str:
    return f"{finding.group} ({finding.group_id})" if finding.group_id else finding.group


def audit_json(report: AuditReport) -> str:
    document = {
        "cluster": report.cluster,
        "source": report.source,
        "ok": report.ok,
        "groups_checked": report.groups_checked,
        "rules_checked": report.rules_checked,
        "findings": [f.to_json() for f in report.findings],
    }
    return json.dumps(document, indent=2) + "\n"
