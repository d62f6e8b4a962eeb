"""Plan: read what is live, diff it against the Blueprint, find what blocks it."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hasg.backends.aws.boundary import check_blueprint, check_vpc_id
from hasg.backends.aws.read import LiveState, Vpc, holders, name_conflicts, read_cluster
from hasg.backends.aws.session import DEFAULT_WORKERS, aws_errors, make_client
from hasg.core.blueprint import Blueprint
from hasg.core.diff import Blocker, Changes, diff
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
        from hasg.backends.aws.render import render_plan

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
