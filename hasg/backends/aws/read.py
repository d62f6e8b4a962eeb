"""The live side: the VPC, and hasg's own groups in it, read as a Blueprint.

hasg owns a group when it carries all three ownership tags for the cluster
(`hasg.core.tags.ownership_tags`) with exactly those values AND the name
hasg gives that role (`hasg.core.blueprint.group_name`), decided here on the
exact values (EC2's tag filters would treat `*` and `?` as wildcards). A group
with the tags but another name was not made by hasg (AWS cannot rename a
group): it is reported, never changed. A plan reads every group of the VPC at
once with the VPC itself (`read_cluster`), so a stranger's group holding a
name hasg is about to create is reported rather than adopted, and the VPC's
default group is at hand for a policy with `restrict_default_group`
(`with_default_group`), with no second read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from hasg.backends.aws.boundary import check_vpc_id
from hasg.backends.aws.parallel import run_both, run_parallel
from hasg.backends.aws.permissions import from_ip_permissions
from hasg.backends.aws.session import DEFAULT_WORKERS, error_code
from hasg.core.blueprint import (
    DEFAULT_GROUP,
    DEFAULT_GROUP_NAME,
    Blueprint,
    Direction,
    Rule,
    RuleKey,
    SecurityGroup,
    group_name,
)
from hasg.core.diff import AWS_DEFAULT_EGRESS_IPV4, AWS_DEFAULT_EGRESS_IPV6, Blocker, GroupChange
from hasg.core.no_traffic import is_no_traffic_egress
from hasg.core.tags import (
    CLUSTER_TAG,
    MANAGED_BY_TAG,
    MANAGED_BY_VALUE,
    POLICY_DIGEST_TAG,
    ROLE_TAG,
)
from hasg.errors import HasgError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        IpPermissionOutputTypeDef,
        NetworkInterfaceTypeDef,
        SecurityGroupRuleTypeDef,
        SecurityGroupTypeDef,
        UserIdGroupPairTypeDef,
    )


@dataclass(frozen=True)
class Vpc:
    id: str
    cidr: str
    ipv6_cidrs: tuple[str, ...] = ()

    @property
    def new_group_rules(self) -> tuple[Rule, ...]:
        """The rules AWS gives a group it creates in this VPC."""
        if self.ipv6_cidrs:
            return (AWS_DEFAULT_EGRESS_IPV4, AWS_DEFAULT_EGRESS_IPV6)
        return (AWS_DEFAULT_EGRESS_IPV4,)


@dataclass(frozen=True)
class LiveState:
    """hasg's groups for one cluster in one VPC, as AWS holds them."""

    blueprint: Blueprint
    group_ids: Mapping[str, str]
    blockers: tuple[Blocker, ...] = ()
    # The other groups the read found, as EC2 answered: when the read was of the
    # whole VPC (`read_cluster`), every group hasg does not own for the cluster,
    # the VPC's default group among them.
    others: tuple[SecurityGroupTypeDef, ...] = ()
    # The VPC's default group, once `with_default_group` has read it in.
    default_group_id: str = ""
    # The account that owns each group the read found (its OwnerId), by group id.
    owner_ids: Mapping[str, str] = field(default_factory=dict)

    def digest(self, role: str) -> str:
        """The policy digest the role's group carries ("" when none)."""
        if role not in self.group_ids:
            return ""
        return self.blueprint[role].tags.get(POLICY_DIGEST_TAG, "")


def read_vpc(client: EC2Client, vpc_id: str) -> Vpc:
    """The VPC, or a HasgError that says why there is none."""
    check_vpc_id(vpc_id)
    where = f"in {client.meta.region_name}"
    try:
        vpcs = client.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    except ClientError as error:
        if error_code(error) == "InvalidVpcID.NotFound":
            vpcs = []
        elif error_code(error) == "InvalidVpcID.Malformed":
            raise HasgError(f"{vpc_id!r} is not a VPC id (AWS: malformed)") from error
        else:
            raise
    if not vpcs:
        raise HasgError(f"VPC {vpc_id} not found {where}: check --vpc and --region")
    vpc = vpcs[0]
    ipv6 = tuple(
        a.get("Ipv6CidrBlock", "")
        for a in vpc.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State") == "associated"
    )
    return Vpc(id=vpc_id, cidr=vpc.get("CidrBlock", ""), ipv6_cidrs=ipv6)


def read_cluster(
    client: EC2Client,
    vpc_id: str,
    cluster: str,
    *,
    default_group: bool = False,
    max_workers: int = DEFAULT_WORKERS,
) -> tuple[Vpc, LiveState]:
    """The VPC, and every group in it, read at once: one round trip.

    Neither read needs the other's answer: DescribeSecurityGroups filtered by
    the VPC id finds nothing in a VPC that does not exist, and DescribeVpcs
    says why. One read of the whole VPC, rather than one by hasg's tags and
    another by the names about to be created, also holds the strangers that a
    new group's name could clash with and the VPC's default group, so a plan
    needs no second wave of reads. (A VPC of more than a page of groups takes
    a page more per page: EC2's pagination, not a choice of hasg's.)
    """
    vpc, raw = run_both(
        partial(read_vpc, client, vpc_id),
        partial(describe_groups, client, _in_vpc(vpc_id)),
        max_workers,
    )
    return vpc, _cluster_state(cluster, raw, vpc_id, default_group=default_group)


def read_groups_again(
    client: EC2Client, vpc: Vpc, cluster: str, *, default_group: bool
) -> LiveState:
    """The cluster's groups (and the default group) read once more, as
    `read_cluster` read them, after a change."""
    raw = describe_groups(client, _in_vpc(vpc.id))
    return _cluster_state(cluster, raw, vpc.id, default_group=default_group)


def _cluster_state(
    cluster: str, raw: Iterable[SecurityGroupTypeDef], vpc_id: str, *, default_group: bool
) -> LiveState:
    live = live_state(cluster, raw)
    return with_default_group(live, vpc_id) if default_group else live


def _in_vpc(vpc_id: str) -> list[FilterTypeDef]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]


def describe_groups(
    client: EC2Client, filters: Sequence[FilterTypeDef]
) -> list[SecurityGroupTypeDef]:
    pages = client.get_paginator("describe_security_groups").paginate(Filters=list(filters))
    return [group for page in pages for group in page.get("SecurityGroups", [])]


def live_state(cluster: str, raw_groups: Iterable[SecurityGroupTypeDef]) -> LiveState:
    """The groups hasg owns, keyed by their role tag.

    Only exact tag values count. A group
    with hasg's tags but not the name hasg gives the role is a blocker, and
    not part of the Blueprint: nothing will change or delete it. Two groups
    claiming one role is a blocker too: hasg will not guess which one is real."""
    claims: dict[str, list[SecurityGroupTypeDef]] = {}
    blockers: list[Blocker] = []
    others: list[SecurityGroupTypeDef] = []
    ordered = sorted(raw_groups, key=lambda g: g.get("GroupId", ""))
    for raw in ordered:
        role = tags_of(raw).get(ROLE_TAG, "")
        if not is_owned(raw, cluster, role):
            others.append(raw)
            continue
        if raw.get("GroupName") != group_name(cluster, role):
            blockers.append(
                Blocker(
                    role,
                    misnamed_message(raw, cluster, role),
                    "misnamed",
                    raw.get("GroupId", ""),
                    raw.get("GroupName", ""),
                )
            )
            continue
        claims.setdefault(role, []).append(raw)
    blockers += [
        Blocker(
            role,
            f"{len(same)} groups are tagged as hasg's {cluster}/{role}: "
            + ", ".join(f"{g.get('GroupName')} ({g.get('GroupId')})" for g in same)
            + f"; remove the {ROLE_TAG} tag from all but one",
            "duplicate",
        )
        for role, same in claims.items()
        if len(same) > 1
    ]
    chosen = {role: same[0] for role, same in claims.items()}
    group_ids = {role: raw.get("GroupId", "") for role, raw in chosen.items()}
    roles_by_id = {group_id: role for role, group_id in group_ids.items()}
    groups = [group_from_aws(role, raw, roles_by_id) for role, raw in chosen.items()]
    owner_ids = {raw.get("GroupId", ""): raw.get("OwnerId", "") for raw in ordered}
    return LiveState(
        Blueprint(cluster, tuple(groups)),
        group_ids,
        tuple(blockers),
        tuple(others),
        owner_ids=owner_ids,
    )


def with_default_group(live: LiveState, vpc_id: str) -> LiveState:
    """`live` with the VPC's default group (from a read of the whole VPC) in its
    Blueprint, as `restrict_default_group` wants it judged. Its references to
    itself read as DEFAULT_GROUP, to hasg's groups as their roles."""
    found = [
        raw
        for raw in live.others
        if raw.get("GroupName") == DEFAULT_GROUP_NAME and raw.get("VpcId", vpc_id) == vpc_id
    ]
    if not found:
        # Every VPC has one, which nobody can delete (Amazon VPC User Guide,
        # "Default security groups for your VPCs"): a read that lacks it is wrong.
        raise HasgError(
            f"no default security group found in {vpc_id}, though every VPC has one; "
            "restrict_default_group cannot be planned: check the read permissions"
        )
    raw = found[0]
    group_id = raw.get("GroupId", "")
    roles_by_id = {g: role for role, g in live.group_ids.items()} | {group_id: DEFAULT_GROUP}
    rules = group_from_aws(DEFAULT_GROUP, raw, roles_by_id).rules
    return replace(
        live, blueprint=live.blueprint.replace(default_group=rules), default_group_id=group_id
    )


def misnamed_message(raw: SecurityGroupTypeDef, cluster: str, role: str) -> str:
    return (
        f"group {raw.get('GroupName')} ({raw.get('GroupId')}) carries hasg's tags for "
        f"{cluster}/{role} but hasg names that group {group_name(cluster, role)}, so it is "
        f"not hasg's: hasg will neither change nor delete it; remove its {ROLE_TAG} tag "
        "(or delete it yourself)"
    )


def group_from_aws(
    role: str, raw: SecurityGroupTypeDef, roles_by_id: Mapping[str, str]
) -> SecurityGroup:
    owner = raw.get("OwnerId", "")
    egress = from_ip_permissions("egress", raw.get("IpPermissionsEgress", []), roles_by_id, owner)
    rules = (
        *from_ip_permissions("ingress", raw.get("IpPermissions", []), roles_by_id, owner),
        # A stack hasg's template deployed holds the inline rule that removed
        # AWS's default egress: it opens nothing, so it is no rule (core/no_traffic.py).
        *(rule for rule in egress if not is_no_traffic_egress(rule)),
    )
    return SecurityGroup(
        role=role,
        name=raw.get("GroupName", ""),
        description=raw.get("Description", ""),
        tags=tags_of(raw),
        rules=rules,
    )


def read_rules(
    client: EC2Client, group_ids: Mapping[str, str], owner_ids: Mapping[str, str]
) -> list[tuple[str, str, Rule]]:
    """(role, rule id `sgr-...`, Rule) for every rule of the groups `group_ids`
    (role -> group id) names: one paginated DescribeSecurityGroupRules, read-only.
    A referenced group of the cluster is named by its role, as `live_state` does.

    `owner_ids` (group id -> OwnerId, from the DescribeSecurityGroups that found
    the groups) stands in for a rule's GroupOwnerId where the answer lacks it:
    EC2 answers it (API reference, SecurityGroupRule.GroupOwnerId), moto 5
    leaves it out, and without an owner every reference to a group of the same
    account would read as another account's."""
    roles_by_id = {group_id: role for role, group_id in group_ids.items()}
    found = [
        (roles_by_id[group_id], rule_id, rule)
        for group_id, rule_id, rule in _described_rules(
            client, roles_by_id, lambda _: roles_by_id, owner_ids
        )
    ]
    return sorted(found, key=lambda item: (item[0], item[1]))


def rule_ids(
    client: EC2Client,
    groups: Mapping[str, str],
    roles_by_id: Callable[[str], Mapping[str, str]],
    owner_ids: Mapping[str, str] | None = None,
) -> dict[tuple[str, RuleKey], str]:
    """The id (`sgr-...`) of every rule of the groups `groups` (key -> group
    id) names, by the group's key and the rule's `Rule.key`. The group peers
    of a group's rules are named through `roles_by_id(its id)`, as the rules
    being labelled name them; `owner_ids` as for `read_rules`. One paginated
    DescribeSecurityGroupRules, read-only."""
    keys = {group_id: key for key, group_id in groups.items()}
    return {
        (keys[group_id], rule.key): rule_id
        for group_id, rule_id, rule in _described_rules(client, keys, roles_by_id, owner_ids or {})
    }


def _described_rules(
    client: EC2Client,
    group_ids: Iterable[str],
    names: Callable[[str], Mapping[str, str]],
    owner_ids: Mapping[str, str],
) -> Iterable[tuple[str, str, Rule]]:
    """(group id, rule id, Rule) for every rule of the groups `group_ids`,
    the group peers of a group's rules named through `names(its id)`."""
    wanted = set(group_ids)
    if not wanted:
        return
    pages = client.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": sorted(wanted)}]
    )
    for page in pages:
        for raw in page.get("SecurityGroupRules", []):
            group_id = raw.get("GroupId", "")
            if group_id in wanted:
                rule = rule_of(raw, names(group_id), owner_ids.get(group_id, ""))
                yield group_id, raw.get("SecurityGroupRuleId", ""), rule


def rule_of(raw: SecurityGroupRuleTypeDef, roles_by_id: Mapping[str, str], owner: str = "") -> Rule:
    """A SecurityGroupRule as the one-peer IpPermission it is, read by the one
    reader of IpPermissions (`from_ip_permissions`)."""
    description = raw.get("Description", "")  # absent and empty are one to a Rule
    permission: IpPermissionOutputTypeDef = {"IpProtocol": raw.get("IpProtocol", "-1")}
    if "FromPort" in raw:
        permission["FromPort"] = raw["FromPort"]
    if "ToPort" in raw:
        permission["ToPort"] = raw["ToPort"]
    referenced = raw.get("ReferencedGroupInfo", {})
    if "CidrIpv4" in raw:
        permission["IpRanges"] = [{"CidrIp": raw["CidrIpv4"], "Description": description}]
    elif "CidrIpv6" in raw:
        permission["Ipv6Ranges"] = [{"CidrIpv6": raw["CidrIpv6"], "Description": description}]
    elif "PrefixListId" in raw:
        permission["PrefixListIds"] = [
            {"PrefixListId": raw["PrefixListId"], "Description": description}
        ]
    elif "GroupId" in referenced:
        pair: UserIdGroupPairTypeDef = {
            "GroupId": referenced["GroupId"],
            "Description": description,
        }
        if "UserId" in referenced:
            pair["UserId"] = referenced["UserId"]
        permission["UserIdGroupPairs"] = [pair]
    else:
        # Fail closed: a rule hasg cannot read is an error, never "no rule".
        raise HasgError(
            f"EC2 answered rule {raw.get('SecurityGroupRuleId')} of {raw.get('GroupId')} "
            "with no peer hasg knows (CidrIpv4, CidrIpv6, PrefixListId, ReferencedGroupInfo)"
        )
    direction: Direction = "egress" if raw.get("IsEgress") else "ingress"
    # The rule's own GroupOwnerId, else its group's owner as the caller read it.
    owner_id = raw.get("GroupOwnerId") or owner
    (rule,) = from_ip_permissions(direction, [permission], roles_by_id, owner_id)
    return rule


def tags_of(raw: SecurityGroupTypeDef) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in raw.get("Tags", [])}


def is_owned(raw: SecurityGroupTypeDef, cluster: str, role: str) -> bool:
    """Whether the raw group carries hasg's tags for exactly `cluster`/`role`."""
    return has_ownership_tags(tags_of(raw), cluster, role)


def has_ownership_tags(tags: Mapping[str, str], cluster: str, role: str) -> bool:
    return (
        tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE
        and tags.get(CLUSTER_TAG) == cluster
        and tags.get(ROLE_TAG) == role
        and bool(role)
    )


def owns(group: SecurityGroup, cluster: str) -> bool:
    """Whether hasg may change or delete this live group: exact tags and its name."""
    return has_ownership_tags(group.tags, cluster, group.role) and group.name == group_name(
        cluster, group.role
    )


def name_conflicts(
    live: LiveState, cluster: str, new_groups: Sequence[SecurityGroup]
) -> list[Blocker]:
    """Groups of the VPC, not hasg's, that already hold the name of a group hasg
    is about to create. EC2 keeps group names unique in a VPC regardless of
    case, so `Web` takes the name `web` (CreateSecurityGroup would answer
    InvalidGroup.Duplicate)."""
    by_name = {g.name.casefold(): g for g in new_groups}
    return [
        Blocker(group.role, foreign_group_message(raw, cluster), "name_taken")
        for raw in live.others
        if (group := by_name.get(raw.get("GroupName", "").casefold())) is not None
    ]


def foreign_group_message(raw: SecurityGroupTypeDef, cluster: str) -> str:
    tags = tags_of(raw)
    whose = "without hasg's tags"
    if tags.get(MANAGED_BY_TAG) == MANAGED_BY_VALUE and tags.get(CLUSTER_TAG) != cluster:
        whose = f"for hasg cluster {tags.get(CLUSTER_TAG)!r}, not {cluster!r}"
    return (
        f"a group named {raw.get('GroupName')} ({raw.get('GroupId')}) already exists in "
        f"{raw.get('VpcId')} {whose}; hasg adopts nothing: rename or delete that group, "
        "or choose another cluster name"
    )


def holders(
    client: EC2Client,
    doomed: Sequence[GroupChange],
    owned_ids: Iterable[str],
    max_workers: int,
) -> list[Blocker]:
    """What keeps each group of `doomed` from being deleted: network interfaces
    it is attached to, and rules of groups hasg does not own that refer to it.
    hasg touches neither, so each is a blocker."""
    if not doomed:
        return []
    ids = sorted(change.group_id for change in doomed)
    owned = set(owned_ids)
    held_by: dict[str, set[str]] = {group_id: set() for group_id in ids}

    def interfaces() -> None:
        pages = client.get_paginator("describe_network_interfaces").paginate(
            Filters=[{"Name": "group-id", "Values": ids}]
        )
        for page in pages:
            for eni in page.get("NetworkInterfaces", []):
                for group in eni.get("Groups", []):
                    if group.get("GroupId") in held_by:
                        held_by[group.get("GroupId", "")].add(_interface_text(eni))

    def references(filter_name: str) -> None:
        filters: list[FilterTypeDef] = [{"Name": filter_name, "Values": ids}]
        for raw in describe_groups(client, filters):
            if raw.get("GroupId") in owned:
                continue
            permissions = raw.get("IpPermissions", []) + raw.get("IpPermissionsEgress", [])
            for permission in permissions:
                for pair in permission.get("UserIdGroupPairs", []):
                    if pair.get("GroupId") in held_by:
                        held_by[pair.get("GroupId", "")].add(
                            f"rules of group {raw.get('GroupName')} ({raw.get('GroupId')})"
                        )

    lookups: list[Callable[[], None]] = [
        interfaces,
        partial(references, "ip-permission.group-id"),
        partial(references, "egress.ip-permission.group-id"),
    ]
    run_parallel(lookups, max_workers)
    return [
        Blocker(
            change.role,
            f"group {change.group.name} ({change.group_id}) is still in use by "
            + ", ".join(sorted(held_by[change.group_id]))
            + "; hasg changes nothing outside its own groups: detach or remove those first",
            "in_use",
            change.group_id,
        )
        for change in doomed
        if held_by[change.group_id]
    ]


def _interface_text(eni: NetworkInterfaceTypeDef) -> str:
    holder = (
        eni.get("Attachment", {}).get("InstanceId")
        or eni.get("RequesterId")
        or eni.get("InterfaceType")
        or eni.get("Description")
    )
    eni_id = eni.get("NetworkInterfaceId", "")
    return f"network interface {eni_id} ({holder})" if holder else f"network interface {eni_id}"
