"""Audit: how what is deployed differs from the policy (`hasg audit`).

`audit_blueprint(expected, actual)` compares any two Blueprints with the AWS
backend's pure diff, so a Blueprint read from a VPC, from Terraform or from
anywhere else is audited the same way: groups missing or extra, rules
missing, extra or changed, and group names, descriptions and tags that
differ.

`audit_hcl` reads a Terraform file or module (`hasg.hcl.read_hcl_dir`) and
audits it the same way.

`audit_vpc` adds what only the VPC can tell: rules in groups hasg does not
manage that refer to hasg's groups, groups tagged for a hasg cluster the
policy does not name, and groups tagged for this cluster that hasg would not
recognise as its own (tags missing, or all three tags but not the name hasg
gives the role: `misnamed_group`). `verify_vpc` runs the reachability check of
`hasg verify` on the live groups.

Only the `*_vpc` functions touch AWS, and they import boto3 when called.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from hasg.aws.diff import RuleChange, diff
from hasg.blueprint import (
    CLUSTER_TAG,
    MANAGED_BY_TAG,
    MANAGED_BY_VALUE,
    ROLE_TAG,
    Blueprint,
    Rule,
)
from hasg.compiler import compile_policy
from hasg.model import Policy
from hasg.reachability import VerifyReport, verify

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import SecurityGroupTypeDef

    from hasg.aws.read import LiveState, Vpc

FindingKind = Literal[
    "missing_group",
    "extra_group",
    "changed_group",
    "duplicate_group",
    "misnamed_group",
    "missing_rule",
    "extra_rule",
    "changed_rule",
    "foreign_reference",
    "other_cluster",
    "stray_group",
]
# The order findings are listed in: whole groups first, then rules, then strangers.
KIND_ORDER: tuple[FindingKind, ...] = get_args(FindingKind)
KIND_LABELS: dict[FindingKind, str] = {k: k.replace("_", " ") for k in KIND_ORDER}

EXIT_CLEAN = 0
EXIT_DRIFT = 2


@dataclass(frozen=True)
class Finding:
    """One difference between the policy and what is deployed."""

    kind: FindingKind
    role: str  # the policy role it concerns; "" when none
    group: str  # the group's name
    detail: str
    group_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "role": self.role,
            "group": self.group,
            "group_id": self.group_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditReport:
    cluster: str
    source: str  # where `actual` came from: a VPC id, a file
    groups_checked: int
    rules_checked: int
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not self.findings

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
    CIDR, resolve `expected`'s "vpc" peers first (`hasg.aws.diff.resolve_vpc_peers`).
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
    return AuditReport(
        cluster=expected.cluster,
        source=source,
        groups_checked=len(actual.groups),
        rules_checked=actual.rule_count(),
        findings=_ordered(findings),
    )


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


def _ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(
        sorted(findings, key=lambda f: (KIND_ORDER.index(f.kind), f.role, f.group, f.detail))
    )


# --------------------------------------------------------------------------- Terraform


def audit_hcl(policy: Policy, path: Path, *, var_file: Path | None = None) -> AuditReport:
    """Audit a Terraform file or module directory, as hasg emitted it or as
    edited by hand. Variables take their defaults, or the values of `var_file`.

    No AWS: both sides name the VPC's CIDR symbolically (`data.aws_vpc` in
    the HCL, a "vpc" peer in the policy), so they compare as they are.
    """
    from hasg.hcl import read_hcl_dir

    actual = read_hcl_dir(path, var_file=var_file)
    return audit_blueprint(compile_policy(policy), actual, source=str(path))


# --------------------------------------------------------------------------- a live VPC


def audit_vpc(
    policy: Policy,
    vpc_id: str,
    *,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    known_clusters: Sequence[str] = (),
) -> AuditReport:
    """Audit the policy's groups in a VPC. Reads only (DescribeVpcs,
    DescribeSecurityGroups). `known_clusters` are other hasg clusters that
    are expected in the VPC, whose groups are therefore not findings."""
    from hasg.aws.session import aws_errors, make_client

    check_live_arguments("hasg.audit_vpc", policy, vpc_id, known_clusters)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        return audit_live(client, policy, vpc_id, known_clusters=known_clusters)


def audit_live(
    client: EC2Client, policy: Policy, vpc_id: str, *, known_clusters: Sequence[str] = ()
) -> AuditReport:
    from hasg.aws.diff import resolve_vpc_peers

    vpc, live = read_live(client, policy.cluster, vpc_id)
    expected = resolve_vpc_peers(compile_policy(policy), vpc.cidr)
    report = audit_blueprint(expected, live.blueprint, source=vpc_id, group_ids=live.group_ids)
    names = {g.role: g.name for g in live.blueprint}
    strangers = [
        Finding(
            "misnamed_group" if b.kind == "misnamed" else "duplicate_group",
            b.role,
            b.group or names.get(b.role, b.role),
            b.message,
            b.group_id,
        )
        for b in live.blockers
    ]
    strangers += _foreign_references(client, live)
    strangers += _other_clusters(client, vpc, policy.cluster, known_clusters)
    return replace(report, findings=_ordered([*report.findings, *strangers]))


def check_live_arguments(
    where: str, policy: object, vpc_id: object, known_clusters: Sequence[object] = ()
) -> None:
    """What the CLI would refuse, refused before any AWS call (UsageError, PolicyError)."""
    from hasg.aws.boundary import check_names, check_vpc_id
    from hasg.errors import UsageError

    if not isinstance(policy, Policy):
        raise UsageError(f"{where}: expected a hasg.Policy, not {type(policy).__name__}")
    check_vpc_id(vpc_id)
    if isinstance(known_clusters, str):
        raise UsageError(f"{where}: known_clusters is a list of cluster names, not one string")
    for cluster in known_clusters:
        check_names(where, cluster)


def read_live(client: EC2Client, cluster: str, vpc_id: str) -> tuple[Vpc, LiveState]:
    """The VPC, and the cluster's groups in it as a Blueprint (the AWS backend's reader)."""
    from hasg.aws.read import read_groups, read_vpc

    vpc = read_vpc(client, vpc_id)
    return vpc, read_groups(client, vpc, cluster)


def _foreign_references(client: EC2Client, live: LiveState) -> list[Finding]:
    """Rules of groups hasg does not manage (in any VPC) that name hasg's groups:
    they open hasg's machines to more than the policy says, or keep a group
    from being deleted."""
    from hasg.aws.permissions import from_ip_permissions
    from hasg.aws.read import describe_groups

    roles_by_id = {group_id: role for role, group_id in live.group_ids.items()}
    if not roles_by_id:
        return []
    strangers: dict[str, SecurityGroupTypeDef] = {}
    for name in ("ip-permission.group-id", "egress.ip-permission.group-id"):
        for raw in describe_groups(client, [{"Name": name, "Values": sorted(roles_by_id)}]):
            if raw.get("GroupId", "") not in roles_by_id:
                strangers[raw.get("GroupId", "")] = raw
    findings = []
    for group_id, raw in sorted(strangers.items()):
        owner = raw.get("OwnerId", "")
        rules = [
            *from_ip_permissions("ingress", raw.get("IpPermissions", []), roles_by_id, owner),
            *from_ip_permissions("egress", raw.get("IpPermissionsEgress", []), roles_by_id, owner),
        ]
        findings += [
            Finding(
                "foreign_reference",
                rule.peer.value,
                raw.get("GroupName", ""),
                f"{rule}: a group hasg does not manage refers to {rule.peer.value}'s group",
                group_id,
            )
            for rule in rules
            if rule.peer.kind == "group" and rule.peer.value in live.group_ids
        ]
    return findings


def _other_clusters(
    client: EC2Client, vpc: Vpc, cluster: str, known_clusters: Sequence[str]
) -> list[Finding]:
    from hasg.aws.read import describe_groups, tags_of

    findings = []
    for raw in describe_groups(
        client,
        [{"Name": "vpc-id", "Values": [vpc.id]}, {"Name": "tag-key", "Values": [CLUSTER_TAG]}],
    ):
        tags = tags_of(raw)
        name, group_id = raw.get("GroupName", ""), raw.get("GroupId", "")
        tagged = tags.get(CLUSTER_TAG, "")
        if tagged != cluster:
            if tagged not in known_clusters:
                findings.append(
                    Finding(
                        "other_cluster",
                        "",
                        name,
                        f"tagged for hasg cluster {tagged!r}, which this policy "
                        f"({cluster!r}) does not name",
                        group_id,
                    )
                )
        elif tags.get(MANAGED_BY_TAG) != MANAGED_BY_VALUE or ROLE_TAG not in tags:
            findings.append(
                Finding(
                    "stray_group",
                    tags.get(ROLE_TAG, ""),
                    name,
                    f"tagged {CLUSTER_TAG}={cluster} but without {MANAGED_BY_TAG}="
                    f"{MANAGED_BY_VALUE} and {ROLE_TAG}, so hasg neither manages nor "
                    "audits its rules",
                    group_id,
                )
            )
    return findings


def verify_vpc(
    policy: Policy,
    vpc_id: str,
    *,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> VerifyReport:
    """`hasg verify --vpc`: the reachability check on the groups live in the VPC."""
    from hasg.aws.session import aws_errors, make_client

    check_live_arguments("hasg.verify_vpc", policy, vpc_id)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        vpc, live = read_live(client, policy.cluster, vpc_id)
    return verify(policy, live.blueprint, vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs])


# --------------------------------------------------------------------------- output


def audit_text(report: AuditReport) -> str:
    where = f" in {report.source}" if report.source else ""
    lines = [
        f"Audit of cluster {report.cluster}{where}: {report.groups_checked} groups, "
        f"{report.rules_checked} rules.",
    ]
    if report.clean:
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
        "clean": report.clean,
        "groups_checked": report.groups_checked,
        "rules_checked": report.rules_checked,
        "findings": [f.to_json() for f in report.findings],
    }
    return json.dumps(document, indent=2) + "\n"


def exit_code(report: AuditReport) -> int:
    return EXIT_CLEAN if report.clean else EXIT_DRIFT
