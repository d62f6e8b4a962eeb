"""Apply: execute a Plan's Changes against EC2, and nothing else.

Three phases, each a set of independent calls run at once: create the missing
groups (tagged in the same call, so a group is never unowned, even for a
moment); then, per group and direction, one call to authorize the missing
rules, one to revoke the extra ones, one to fix descriptions, and one to set
tags; then delete the groups the policy no longer has.

Every call is safe to repeat. Botocore retries a call whose answer was lost,
and EC2 then answers that the first try already did it (a duplicate rule, a
missing rule, an existing group): that counts as done, after a look at the
group where a batch may have landed only in part. A run that dies anywhere
leaves a state the next run's plan starts from, so it converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from hasg.aws.diff import Changes, GroupChange, RuleAction, RuleChange, TagChange
from hasg.aws.parallel import run_parallel
from hasg.aws.permissions import to_ip_permissions
from hasg.aws.planner import Plan, make_plan
from hasg.aws.read import (
    describe_groups,
    foreign_group_message,
    holders,
    is_owned,
    read_group_rules,
)
from hasg.aws.session import (
    DEFAULT_WORKERS,
    aws_errors,
    error_code,
    make_client,
    translate,
)
from hasg.blueprint import Blueprint, Direction, Peer, Protocol, Rule, SecurityGroup
from hasg.errors import AwsError, HasgError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, TagTypeDef

# The error EC2 gives when a batch, or part of it, had already been done.
_ALREADY_DONE: dict[RuleAction, str] = {
    "add": "InvalidPermission.Duplicate",
    "remove": "InvalidPermission.NotFound",
    "update": "InvalidPermission.NotFound",
}
# Re-reads of one group while others change it too; past this, give up and say so.
_MAX_ROUNDS = 4
_CONTINUE = "apply stopped; once that is fixed, run it again: it starts from what landed"


@dataclass(frozen=True)
class ApplyResult:
    """What apply (or destroy) changed, and the group id of every role it leaves."""

    vpc_id: str
    changes: Changes
    group_ids: Mapping[str, str]


def apply(
    blueprint: Blueprint,
    *,
    vpc_id: str,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> ApplyResult:
    """Make `vpc_id` hold exactly `blueprint`'s groups; touch nothing else.

    Raises HasgError (nothing changed) when the plan has blockers: a group
    whose description or name differs, a stranger's group with one of the
    names, or a group to delete that something still uses.
    """
    with aws_errors():
        client = make_client(
            session,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            max_workers=max_workers,
        )
        reviewed = make_plan(client, blueprint, vpc_id, max_workers=max_workers)
        return execute(client, reviewed, max_workers=max_workers)


def destroy(
    cluster: Blueprint | str,
    *,
    vpc_id: str,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> ApplyResult:
    """Delete every group hasg owns for `cluster` in `vpc_id`: apply an empty Blueprint."""
    name = cluster.cluster if isinstance(cluster, Blueprint) else cluster
    return apply(
        Blueprint(name, ()),
        vpc_id=vpc_id,
        session=session,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        max_workers=max_workers,
    )


def execute(client: EC2Client, plan: Plan, *, max_workers: int = DEFAULT_WORKERS) -> ApplyResult:
    """Carry out exactly `plan.changes`; refuse, changing nothing, if it has blockers."""
    plan.check()
    executor = _Executor(client, plan, max_workers)
    try:
        executor.run()
    except HasgError as error:
        raise _stopped(error) from error
    except (ClientError, BotoCoreError) as error:
        raise _stopped(translate(error)) from error
    return ApplyResult(plan.vpc.id, plan.changes, dict(sorted(executor.group_ids.items())))


def _stopped(error: HasgError) -> HasgError:
    code = error.code if isinstance(error, AwsError) else ""
    return AwsError(f"{error}; {_CONTINUE}", code=code)


Batch = tuple[str, Direction, RuleAction]
T = TypeVar("T")
RuleKey = tuple[Direction, Protocol, int, int, Peer]


class _Executor:
    def __init__(self, client: EC2Client, plan: Plan, max_workers: int) -> None:
        self.client = client
        self.plan = plan
        self.max_workers = max_workers
        self.group_ids: dict[str, str] = dict(plan.live.group_ids)

    def run(self) -> None:
        changes = self.plan.changes
        new = [c.group for c in changes.groups if c.action == "create"]
        ids = self._parallel([partial(self.create_group, group) for group in new])
        self.group_ids.update(zip((g.role for g in new), ids, strict=True))

        batches = _batches(changes.rules)
        tasks: list[Callable[[], Batch | None]] = [
            partial(self.converge, batch, rules) for batch, rules in batches.items()
        ]
        tasks += [partial(self.tag, change) for change in changes.tags]
        deferred = [b for b in self._parallel(tasks) if b is not None]
        # Authorizations that hit the rules-per-group quota before the revokes
        # of the same phase had landed: now there is room.
        self._parallel([partial(self.converge, b, batches[b], last_try=True) for b in deferred])

        doomed = [c for c in changes.groups if c.action == "delete"]
        self._parallel([partial(self.delete_group, change) for change in doomed])
        for change in doomed:
            self.group_ids.pop(change.role, None)

    def _parallel(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        return run_parallel(tasks, self.max_workers)

    # ------------------------------------------------------------------ groups

    def create_group(self, group: SecurityGroup) -> str:
        tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in group.tags.items()]
        try:
            answer = self.client.create_security_group(
                GroupName=group.name,
                Description=group.description,
                VpcId=self.plan.vpc.id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
            )
            return answer["GroupId"]
        except ClientError as error:
            if error_code(error) != "InvalidGroup.Duplicate":
                raise
        # Our own retried create, or a concurrent apply: fine if the group is ours.
        filters: list[FilterTypeDef] = [
            {"Name": "vpc-id", "Values": [self.plan.vpc.id]},
            {"Name": "group-name", "Values": [group.name]},
        ]
        for raw in describe_groups(self.client, filters):
            if is_owned(raw, self.plan.cluster, group.role):
                return raw.get("GroupId", "")
            raise HasgError(foreign_group_message(raw, self.plan.cluster))
        raise HasgError(
            f"AWS says a group named like {group.name} already exists in {self.plan.vpc.id}; "
            "group names are unique regardless of case: rename that group"
        )

    def delete_group(self, change: GroupChange) -> None:
        try:
            self.client.delete_security_group(GroupId=change.group_id)
        except ClientError as error:
            code = error_code(error)
            if code == "InvalidGroup.NotFound":
                return
            if code != "DependencyViolation":
                raise
            # Something took hold of the group after the plan looked.
            found = holders(self.client, [change], self.group_ids.values(), 1)
            raise HasgError(
                found[0].message
                if found
                else f"group {change.group.name} ({change.group_id}) is still in use "
                "(DependencyViolation)"
            ) from error

    def tag(self, change: TagChange) -> None:
        tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in change.tags.items()]
        self.client.create_tags(Resources=[self.group_ids[change.role]], Tags=tags)

    # ------------------------------------------------------------------- rules

    def converge(
        self, batch: Batch, rules: tuple[Rule, ...], *, last_try: bool = False
    ) -> Batch | None:
        """Make one group's rules of one direction as `batch` wants; the batch back
        if it must wait for the phase's revokes (quota), else None."""
        role, direction, action = batch
        pending = rules
        for _ in range(_MAX_ROUNDS):
            try:
                self._call(role, direction, action, pending)
                return None
            except ClientError as error:
                code = error_code(error)
                if action == "add" and code == "RulesPerSecurityGroupLimitExceeded":
                    if last_try:
                        raise
                    return batch
                if code != _ALREADY_DONE[action]:
                    raise
            if len(pending) == 1:
                return None
            # A batch is all-or-nothing on AWS but not on every look-alike, and a
            # concurrent apply may have done part of it: see what is left.
            live = {r.key: r for r in self._live_rules(role) if r.direction == direction}
            pending = _still_needed(action, pending, live)
            if not pending:
                return None
        raise HasgError(
            f"the {direction} rules of {self.plan.group_name(role)} kept changing while hasg "
            "was changing them; is another apply running?"
        )

    def _call(
        self, role: str, direction: Direction, action: RuleAction, rules: Iterable[Rule]
    ) -> None:
        group_id = self.group_ids[role]
        permissions = to_ip_permissions(rules, self.group_ids)
        client = self.client
        if (action, direction) == ("add", "ingress"):
            client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        elif (action, direction) == ("add", "egress"):
            client.authorize_security_group_egress(GroupId=group_id, IpPermissions=permissions)
        elif (action, direction) == ("remove", "ingress"):
            client.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        elif (action, direction) == ("remove", "egress"):
            client.revoke_security_group_egress(GroupId=group_id, IpPermissions=permissions)
        elif direction == "ingress":
            client.update_security_group_rule_descriptions_ingress(
                GroupId=group_id, IpPermissions=permissions
            )
        else:
            client.update_security_group_rule_descriptions_egress(
                GroupId=group_id, IpPermissions=permissions
            )

    def _live_rules(self, role: str) -> tuple[Rule, ...]:
        roles_by_id = {group_id: r for r, group_id in self.group_ids.items()}
        return read_group_rules(self.client, self.group_ids[role], roles_by_id)


def _batches(changes: Iterable[RuleChange]) -> dict[Batch, tuple[Rule, ...]]:
    def key(change: RuleChange) -> Batch:
        return (change.role, change.rule.direction, change.action)

    ordered = sorted(changes, key=key)
    return {batch: tuple(c.rule for c in same) for batch, same in groupby(ordered, key=key)}


def _still_needed(
    action: RuleAction, pending: Iterable[Rule], live: Mapping[RuleKey, Rule]
) -> tuple[Rule, ...]:
    if action == "add":
        return tuple(r for r in pending if r.key not in live)
    if action == "remove":
        return tuple(live[r.key] for r in pending if r.key in live)
    return tuple(r for r in pending if r.key in live and live[r.key].description != r.description)
