"""What only a live VPC can tell an audit: the AWS backend's half of `hasg audit --vpc`.

The check itself (`hasg.checks.audit`) compares Blueprints; this module reads
the cluster's groups as a Blueprint and adds the findings no Blueprint holds:
groups hasg will not own (tagged but misnamed, or tagged twice), rules of
groups hasg does not manage that name hasg's groups, and groups tagged for
other hasg clusters; and where each finding is (`vpc_places`, `with_rule_ids`).
Reads only: DescribeVpcs, DescribeSecurityGroups, and DescribeSecurityGroupRules
for the ids of the rules findings are about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from hasg.core.blueprint import Rule
from hasg.core.findings import Finding, Location, Places
from hasg.core.mapping import MappedGroup
from hasg.core.tags import CLUSTER_TAG, MANAGED_BY_TAG, MANAGED_BY_VALUE, ROLE_TAG
from hasg.policy.model import Policy

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import SecurityGroupTypeDef

    from hasg.backends.aws.read import LiveState, Vpc


def check_live_arguments(
    where: str, policy: object, vpc_id: object, known_clusters: Sequence[object] = ()
) -> None:
    """What the CLI would refuse, refused before any AWS call (UsageError, PolicyError)."""
    from hasg.backends.aws.boundary import check_names, check_vpc_id
    from hasg.errors import UsageError

    if not isinstance(policy, Policy):
        raise UsageError(f"{where}: expected a hasg.Policy, not {type(policy).__name__}")
    check_vpc_id(vpc_id)
    if isinstance(known_clusters, str):
        raise UsageError(f"{where}: known_clusters is a list of cluster names, not one string")
    for cluster in known_clusters:
        check_names("--known-cluster", cluster)


def read_live(
    client: EC2Client, cluster: str, vpc_id: str, *, default_group: bool = False
) -> tuple[Vpc, LiveState]:
    """The VPC, and the cluster's groups in it as a Blueprint (the AWS backend's
    reader); with `default_group`, the VPC's default group too."""
    from hasg.backends.aws.read import read_cluster

    return read_cluster(client, vpc_id, cluster, default_group=default_group)


def vpc_places(vpc_id: str, groups: Mapping[str, str]) -> Places:
    """Where the groups `groups` (key -> group id) are: the VPC, and each group in it."""
    vpc = _in_vpc(vpc_id)
    return Places(vpc, {key: vpc.inside("group", gid) for key, gid in groups.items() if gid})


def with_rule_ids(
    client: EC2Client,
    places: Places,
    groups: Mapping[str, str],
    roles_by_id: Mapping[str, str] | Callable[[str], Mapping[str, str]],
) -> Places:
    """`places`, with each rule of the groups `groups` (key -> group id) in its
    group: ("rule", its id). Group peers are named through `roles_by_id` (or,
    group by group, `roles_by_id(group id)`), as the rules located name them.
    One paginated DescribeSecurityGroupRules, which an audit makes only when it
    has findings to locate."""
    from hasg.backends.aws.read import rule_ids

    names = roles_by_id if callable(roles_by_id) else lambda _: roles_by_id
    found = rule_ids(client, {key: gid for key, gid in groups.items() if gid}, names)
    return places.with_rules(
        {
            (key, rule): places.group(key).inside("rule", rule_id)
            for (key, rule), rule_id in found.items()
        }
    )


def _in_vpc(vpc_id: str) -> Location:
    return Location(logical=(("vpc", vpc_id),))


def live_findings(
    client: EC2Client, vpc: Vpc, live: LiveState, cluster: str, known_clusters: Sequence[str]
) -> list[Finding]:
    """The findings only the VPC can tell, beside the Blueprint diff."""
    names = {g.role: g.name for g in live.blueprint}
    findings = [
        Finding(
            "misnamed_group" if b.kind == "misnamed" else "duplicate_group",
            b.role,
            b.group or names.get(b.role, b.role),
            b.message,
            b.group_id,
            (_in_vpc(vpc.id).inside("group", b.group_id) if b.group_id else _in_vpc(vpc.id),),
            b.group or b.role,
        )
        for b in live.blockers
    ]
    findings += _foreign_references(client, live)
    findings += _other_clusters(client, vpc, cluster, known_clusters)
    return findings


def _foreign_references(client: EC2Client, live: LiveState) -> list[Finding]:
    """Rules of groups hasg does not manage (in any VPC) that name hasg's groups:
    they open hasg's machines to more than the policy says, or keep a group
    from being deleted. Each where it is: the rule, in its group, in its VPC."""
    from hasg.backends.aws.permissions import from_ip_permissions
    from hasg.backends.aws.read import describe_groups

    roles_by_id = {group_id: role for role, group_id in live.group_ids.items()}
    if not roles_by_id:
        return []
    strangers: dict[str, SecurityGroupTypeDef] = {}
    for name in ("ip-permission.group-id", "egress.ip-permission.group-id"):
        for raw in describe_groups(client, [{"Name": name, "Values": sorted(roles_by_id)}]):
            if raw.get("GroupId", "") not in roles_by_id:
                strangers[raw.get("GroupId", "")] = raw
    referring: list[tuple[str, SecurityGroupTypeDef, Rule]] = []
    for group_id, raw in sorted(strangers.items()):
        owner = raw.get("OwnerId", "")
        rules = [
            *from_ip_permissions("ingress", raw.get("IpPermissions", []), roles_by_id, owner),
            *from_ip_permissions("egress", raw.get("IpPermissionsEgress", []), roles_by_id, owner),
        ]
        referring += [
            (group_id, raw, rule)
            for rule in rules
            if rule.peer.is_group and rule.peer.value in live.group_ids
        ]
    if not referring:
        return []
    places = Places(
        groups={
            group_id: _in_vpc(raw.get("VpcId", "")).inside("group", group_id)
            for group_id, raw, _ in referring
        }
    )
    places = with_rule_ids(client, places, {g: g for g, _, _ in referring}, roles_by_id)
    return [
        Finding(
            "foreign_reference",
            rule.peer.value,
            raw.get("GroupName", ""),
            f"{rule}: a group hasg does not manage refers to {rule.peer.value}'s group",
            group_id,
            (places.rule(group_id, rule),),
            rule.text(),
        )
        for group_id, raw, rule in referring
    ]


def _other_clusters(
    client: EC2Client, vpc: Vpc, cluster: str, known_clusters: Sequence[str]
) -> list[Finding]:
    from hasg.backends.aws.read import describe_groups, tags_of

    findings = []
    for raw in describe_groups(
        client,
        [{"Name": "vpc-id", "Values": [vpc.id]}, {"Name": "tag-key", "Values": [CLUSTER_TAG]}],
    ):
        tags = tags_of(raw)
        name, group_id = raw.get("GroupName", ""), raw.get("GroupId", "")
        tagged = tags.get(CLUSTER_TAG, "")
        where = (_in_vpc(vpc.id).inside("group", group_id),)
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
                        where,
                        f"{tagged} {name}",
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
                    where,
                    name,
                )
            )
    return findings


def read_mapped(
    client: EC2Client,
    vpc: Vpc,
    roles: Sequence[str],
    *,
    role_map: Mapping[str, Sequence[str]] | None = None,
    map_tag: str | None = None,
) -> tuple[MappedGroup, ...]:
    """The groups a user mapped to roles, by id (`role_map`) or by the value of
    a tag (`map_tag`), as AWS holds them. Reads only: DescribeSecurityGroups.

    A group that is not found, or not in `vpc`, is refused (UsageError): an
    audit of groups the instances cannot have would say nothing true. So is
    a tag on no group of the VPC, or a tag naming no role."""
    from hasg.backends.aws.permissions import from_ip_permissions
    from hasg.backends.aws.read import describe_groups, tags_of
    from hasg.core.mapping import JOIN, roles_by_group
    from hasg.errors import UsageError

    if role_map is not None:
        served = roles_by_group(role_map)
        raw_groups = describe_groups(client, [{"Name": "group-id", "Values": sorted(served)}])
        found = {raw.get("GroupId", ""): raw for raw in raw_groups}
        for group_id in served:
            if group_id not in found:
                raise UsageError(f"--map: group {group_id} not found in {client.meta.region_name}")
            if found[group_id].get("VpcId") != vpc.id:
                raise UsageError(
                    f"--map: group {group_id} is in {found[group_id].get('VpcId') or 'no VPC'}, "
                    f"not in {vpc.id}"
                )
        chosen = [
            (found[group_id], tuple(r for r in roles if r in group_roles))
            for group_id, group_roles in served.items()
        ]
    else:
        tag = map_tag or ""
        # EC2's tag-key filter treats * and ? as wildcards: the exact key is checked here.
        raw_groups = describe_groups(
            client, [{"Name": "vpc-id", "Values": [vpc.id]}, {"Name": "tag-key", "Values": [tag]}]
        )
        chosen = []
        for raw in sorted(raw_groups, key=lambda g: g.get("GroupId", "")):
            tags = tags_of(raw)
            if tag not in tags:
                continue
            named = tuple(r.strip() for r in tags[tag].split(JOIN))
            unknown = [r for r in named if r not in roles]
            if unknown:
                raise UsageError(
                    f"--map-tag: group {raw.get('GroupName')} ({raw.get('GroupId')}) has "
                    f"{tag}={tags[tag]!r}, and {', '.join(map(repr, unknown))} is not a role "
                    f"of the policy (roles: {', '.join(roles)})"
                )
            chosen.append((raw, tuple(r for r in roles if r in named)))
        if not chosen:
            raise UsageError(
                f"--map-tag: no security group in {vpc.id} has the tag {tag!r}: "
                "nothing to audit (check the key; tag keys are case-sensitive)"
            )
    return tuple(
        MappedGroup(
            group_id=raw.get("GroupId", ""),
            name=raw.get("GroupName", ""),
            roles=group_roles,
            rules=(
                *from_ip_permissions(
                    "ingress", raw.get("IpPermissions", []), {}, raw.get("OwnerId", "")
                ),
                *from_ip_permissions(
                    "egress", raw.get("IpPermissionsEgress", []), {}, raw.get("OwnerId", "")
                ),
            ),
        )
        for raw, group_roles in chosen
    )
