"""Plan: read what is live, diff it against the Blueprint, find what blocks it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hasg.backends.aws.boundary import check_blueprint, check_vpc_id
from hasg.backends.aws.read import LiveState, Vpc, holders, name_conflicts, read_cluster
from hasg.backends.aws.session import DEFAULT_WORKERS, aws_errors, make_client
from hasg.core.blueprint import Blueprint
from hasg.core.diff import Blocker, Changes, diff, with_digest
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
    desired = with_digest(resolve_vpc_peers(blueprint, vpc.cidr))
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
    return Plan(vpc, desired, live, replace(changes, groups=groups).with_blockers(blockers))
