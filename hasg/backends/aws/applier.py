"""Apply: execute a Plan's Changes against EC2, and nothing else.

Three phases, each a set of independent calls run at once: create the missing
groups (tagged in the same call, so a group is never unowned, even for a
moment); then, per group and direction, one call to authorize the missing
rules, one to revoke the extra ones, one to fix descriptions, and one to set
tags (and, for a policy with `restrict_default_group`, per direction one
revoke of every rule of the VPC's default group); then delete the groups the
policy no longer has.

Before any call, every group it will change or delete is checked again to be
hasg's own, on exact tag values and name. After the last call, when anything
changed, one DescribeSecurityGroups reads the cluster back: it must hold
exactly the Blueprint, or another writer was at work (ConcurrentChangeError;
docs/aws.md, "Concurrent applies").

Every call is safe to repeat. Botocore retries a call whose answer was lost,
and EC2 then answers that the first try already did it (a duplicate rule, a
missing rule, an existing group): that counts as done, after a look at the
group where a batch may have landed only in part. A run that dies anywhere
leaves a state the next run's plan starts from, so it converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from hasg.backends.aws.boundary import check_blueprint, check_names, check_vpc_id
from hasg.backends.aws.parallel import run_parallel
from hasg.backends.aws.permissions import to_ip_permissions
from hasg.backends.aws.planner import Plan, made_from_aws, make_plan, render_result
from hasg.backends.aws.read import (
    describe_groups,
    foreign_group_message,
    group_from_aws,
    holders,
    is_owned,
    owns,
    read_groups_again,
    tags_of,
)
from hasg.backends.aws.session import (
    BOTO_ERRORS,
    DEFAULT_WORKERS,
    aws_errors,
    error_code,
    make_client,
    translate,
)
from hasg.core.blueprint import DEFAULT_GROUP, Blueprint, Direction, Peer, Rule, SecurityGroup
from hasg.core.diff import Changes, GroupChange, RuleAction, RuleChange, TagChange, diff
from hasg.core.protocols import Protocol
from hasg.core.tags import POLICY_DIGEST_TAG
from hasg.errors import AwsError, ConcurrentChangeError, HasgError, OwnershipError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, SecurityGroupTypeDef, TagTypeDef

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
    """What apply (or destroy) changed, and the group id of every role it leaves.
    Printed, it is what `hasg apply` prints once done."""

    vpc_id: str
    changes: Changes
    group_ids: Mapping[str, str]
    # The plan carried out: what the text names the VPC and the groups by.
    plan: Plan | None = field(default=None, repr=False, compare=False)

    @property
    def changes_pending(self) -> bool:
        """Whether there was anything to change (`changes_pending` of `hasg apply --json`)."""
        return not self.changes.empty

    def __str__(self) -> str:
        if self.plan is None:
            return f"{self.changes.summary(done=True)}.\n"
        return render_result(self.plan, self.group_ids)


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
    names, or a group to delete that something still uses. Raises
    ConcurrentChangeError when the groups, read back at the end, are not
    exactly `blueprint`: someone else changed them meanwhile.
    """
    check_blueprint("hasg.apply", blueprint)
    check_vpc_id(vpc_id)
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
    """Delete every group hasg owns for `cluster` in `vpc_id`: apply an empty Blueprint.

    `cluster` is a name exactly as a policy takes it: `st*` is refused, not
    read as EC2's wildcard."""
    name = check_names(
        "hasg.destroy", cluster.cluster if isinstance(cluster, Blueprint) else cluster
    )
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
    """Carry out exactly `plan.changes`; refuse, changing nothing, if it has blockers
    or touches a group that is not provably hasg's. Then, if anything changed,
    read the groups back: they must be exactly the plan's Blueprint."""
    plan.check()
    check_owned(plan)
    with aws_errors():
        check_owned_by_aws(client, plan)
    executor = _Executor(client, plan, max_workers)
    try:
        executor.run()
    except (ConcurrentChangeError, OwnershipError):
        raise
    except HasgError as error:
        raise _stopped(error) from error
    except BOTO_ERRORS as error:
        raise _stopped(translate(error)) from error
    if not plan.changes.empty:
        # Every change landed: what the read-back finds is said as it is.
        try:
            check_read_back(client, plan, executor.group_ids)
        except BOTO_ERRORS as error:
            raise _stopped(translate(error)) from error
    group_ids = {role: g for role, g in executor.group_ids.items() if role != DEFAULT_GROUP}
    return ApplyResult(plan.vpc.id, plan.changes, dict(sorted(group_ids.items())), plan)


def _stopped(error: HasgError) -> HasgError:
    code = error.code if isinstance(error, AwsError) else ""
    return AwsError(f"{error}; {_CONTINUE}", code=code)


def check_owned(plan: Plan) -> None:
    """Every live group the plan changes or deletes is hasg's, on exact tag values
    and the name hasg gives it: a Plan is a value a caller could have built."""
    cluster = plan.cluster
    touched = {c.role for c in plan.changes.rules} | {c.role for c in plan.changes.tags}
    touched |= {c.role for c in plan.changes.groups if c.action == "delete"}
    for role in sorted(touched & set(plan.live.group_ids)):
        group = plan.live.blueprint[role]
        if not owns(group, cluster):
            raise OwnershipError(
                f"group {group.name} ({plan.live.group_ids[role]}) is not provably hasg's "
                f"for {cluster}/{role} (tags {dict(group.tags)}); nothing changed"
            )
    # The one group hasg changes without owning it: the VPC's default group,
    # only as the policy's restrict_default_group asks, and only the one read.
    if plan.changes.default_group and (
        plan.desired.default_group is None or not plan.live.default_group_id
    ):
        raise OwnershipError(
            f"the plan changes the default group of {plan.vpc.id}, which hasg changes only "
            "for a policy with restrict_default_group: true and as read; nothing changed"
        )


def check_owned_by_aws(client: EC2Client, plan: Plan) -> None:
    """Every group id the plan would change is hasg's by AWS's answer: a Plan
    `make_plan` made was read from AWS; any other (built or changed by the
    caller) is checked against one more read of the VPC, before any change.

    The ids it may change: the groups of the roles whose rules or tags change,
    the groups to delete, and the VPC's default group where its rules change.
    Each must be the one AWS holds for that role (exact tags and hasg's name,
    in the plan's VPC), and the default group the VPC's own."""
    touched = {c.role for c in plan.changes.rules} | {c.role for c in plan.changes.tags}
    created = {c.role for c in plan.changes.groups if c.action == "create"}
    strangers = sorted(touched - created - set(plan.live.group_ids))
    if strangers:
        raise OwnershipError(
            f"the plan changes the group of role {strangers[0]}, which it neither creates "
            "nor read from AWS; nothing changed"
        )
    claimed = {role: plan.live.group_ids[role] for role in touched - created}
    deleted = [(c.role, c.group_id) for c in plan.changes.groups if c.action == "delete"]
    default = plan.live.default_group_id if plan.changes.default_group else ""
    if made_from_aws(plan) or not (claimed or deleted or default):
        return
    answer = read_groups_again(client, plan.vpc, plan.cluster, default_group=bool(default))
    for role, group_id in [*claimed.items(), *deleted]:
        if answer.group_ids.get(role) != group_id:
            raise OwnershipError(
                f"group {group_id} is not hasg's group of {plan.cluster}/{role} in "
                f"{plan.vpc.id} as AWS answers ("
                + (f"that is {answer.group_ids[role]}" if role in answer.group_ids else "none is")
                + "); the plan was not made from AWS's answer: nothing changed"
            )
    if default and answer.default_group_id != default:
        raise OwnershipError(
            f"group {default} is not the default group of {plan.vpc.id} as AWS answers "
            f"(that is {answer.default_group_id}); the plan was not made from AWS's answer: "
            "nothing changed"
        )


def check_read_back(client: EC2Client, plan: Plan, group_ids: Mapping[str, str]) -> None:
    """The cluster's groups, read once more, are exactly the plan's Blueprint."""
    back = read_groups_again(
        client, plan.vpc, plan.cluster, default_group=plan.desired.default_group is not None
    )
    changes = diff(plan.desired, back.blueprint)
    moved = [
        f"group {plan.group_name(role)} is now {group_id}, not {group_ids.get(role)}"
        for role, group_id in back.group_ids.items()
        if role in group_ids and group_ids[role] != group_id
    ]
    if not back.blockers and not moved and (undone := _updates_not_done(plan, changes)):
        raise AwsError(_update_not_done_message(plan, undone))
    differences = [
        *(b.message for b in back.blockers),
        *(
            f"the VPC's default group ({back.default_group_id}): {_rule_difference(c)}"
            for c in changes.default_group
        ),
        *(_group_difference(plan, c, group_ids) for c in changes.groups),
        *(f"group {plan.group_name(c.role)}: {_rule_difference(c)}" for c in changes.rules),
        *(
            f"group {plan.group_name(c.role)}: tags "
            + ", ".join(
                f"{k}={back.blueprint[c.role].tags.get(k)!r} (want {v!r})"
                for k, v in c.tags.items()
            )
            for c in changes.tags
        ),
        *moved,
    ]
    if not differences:
        return
    more = f" (and {len(differences) - 1} more difference(s))" if len(differences) > 1 else ""
    digest = plan.desired.groups[0].tags.get(POLICY_DIGEST_TAG) if plan.desired.groups else ""
    raise ConcurrentChangeError(
        f"cluster {plan.cluster} in {plan.vpc.id} changed under this apply: "
        f"{differences[0]}{more}; another apply (of a policy other than digest "
        f"{digest or 'none'}) or a person is changing these groups: when it is done, "
        "run `hasg plan` and apply again"
    )


def _updates_not_done(plan: Plan, changes: Changes) -> list[RuleChange]:
    """The read-back's differences, when they are only description updates this
    apply made and each rule still holds the description it had before: the
    update was answered as done and not done, and no other change is seen.
    Otherwise nothing."""
    planned = {
        (c.role, c.rule): c.old_description for c in plan.changes.rules if c.action == "update"
    }
    if changes.groups or changes.tags or changes.default_group or not changes.rules:
        return []
    for change in changes.rules:
        if change.action != "update" or (change.role, change.rule) not in planned:
            return []
        if planned[(change.role, change.rule)] != change.old_description:
            return []
    return list(changes.rules)


def _update_not_done_message(plan: Plan, undone: Sequence[RuleChange]) -> str:
    directions = sorted({c.rule.direction.capitalize() for c in undone})
    calls = " and ".join(f"UpdateSecurityGroupRuleDescriptions{d}" for d in directions)
    first = undone[0]
    more = f" (and {len(undone) - 1} more)" if len(undone) > 1 else ""
    return (
        f"cluster {plan.cluster} in {plan.vpc.id}: the endpoint answered {calls} as done, "
        f"yet {len(undone)} rule(s) still hold the description they had before: group "
        f"{plan.group_name(first.role)}: {_rule_difference(first)}{more}; nothing else "
        "differs, so no other writer is seen: the endpoint did not update them (moto as "
        "shipped matches a rule that references a group by its description too, and so "
        "updates none: docs/aws.md); the rules themselves are in place"
    )


def _group_difference(plan: Plan, change: GroupChange, group_ids: Mapping[str, str]) -> str:
    if change.action == "create":
        return f"group {change.group.name} is gone ({group_ids.get(change.role, 'never made')})"
    return f"group {change.group.name} of role {change.role} appeared, which this policy lacks"


def _rule_difference(change: RuleChange) -> str:
    if change.action == "add":
        return f"lacks {change.rule}"
    if change.action == "remove":
        return f"holds {change.rule}, which the policy lacks"
    return (
        f"{change.rule}: description {change.old_description!r}, want {change.rule.description!r}"
    )


Batch = tuple[str, Direction, RuleAction]
T = TypeVar("T")
RuleKey = tuple[Direction, Protocol, int, int, Peer]


class _Executor:
    def __init__(self, client: EC2Client, plan: Plan, max_workers: int) -> None:
        self.client = client
        self.plan = plan
        self.max_workers = max_workers
        self.group_ids: dict[str, str] = dict(plan.live.group_ids)
        if plan.changes.default_group:
            self.group_ids[DEFAULT_GROUP] = plan.live.default_group_id

    def run(self) -> None:
        changes = self.plan.changes
        new = [c.group for c in changes.groups if c.action == "create"]
        ids = self._parallel([partial(self.create_group, group) for group in new])
        self.group_ids.update(zip((g.role for g in new), ids, strict=True))

        # The default group's revokes go with the other groups' rules: one wave.
        batches = _batches((*changes.rules, *changes.default_group))
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
        # Our own retried create, or a concurrent apply: fine if the group is ours
        # and holds this policy (its digest); an apply of another policy is racing.
        filters: list[FilterTypeDef] = [
            {"Name": "vpc-id", "Values": [self.plan.vpc.id]},
            {"Name": "group-name", "Values": [group.name]},
        ]
        for raw in describe_groups(self.client, filters):
            if not is_owned(raw, self.plan.cluster, group.role):
                raise HasgError(foreign_group_message(raw, self.plan.cluster))
            self.check_writer(group.role, raw)
            return raw.get("GroupId", "")
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
            # A batch is all-or-nothing on AWS but not on every look-alike, and a
            # concurrent apply may have done part of it: see what is left, and who.
            raw = self._read_group(role)
            self.check_writer(role, raw)
            if len(pending) == 1:
                return None
            live = {r.key: r for r in self._rules_of(raw) if r.direction == direction}
            pending = _still_needed(action, pending, live)
            if not pending:
                return None
        raise ConcurrentChangeError(
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

    def _read_group(self, role: str) -> SecurityGroupTypeDef:
        answer = self.client.describe_security_groups(GroupIds=[self.group_ids[role]])
        return answer["SecurityGroups"][0]

    def _rules_of(self, raw: SecurityGroupTypeDef) -> tuple[Rule, ...]:
        roles_by_id = {group_id: r for r, group_id in self.group_ids.items()}
        return group_from_aws("", raw, roles_by_id).rules

    def check_writer(self, role: str, raw: SecurityGroupTypeDef) -> None:
        """EC2 said something was already done: fine if it was this apply (a retry)
        or one of the same policy; a group that now holds another policy's digest
        means another policy is being applied at once, so stop before changing more."""
        found = tags_of(raw).get(POLICY_DIGEST_TAG, "")
        desired = self.plan.desired
        ours = desired[role].tags.get(POLICY_DIGEST_TAG, "") if role in desired.roles else ""
        planned = self.plan.live.group_ids.get(role) and self.plan.live.digest(role)
        if found in (ours, planned):
            return
        raise ConcurrentChangeError(
            f"group {raw.get('GroupName')} ({raw.get('GroupId')}) now holds policy digest "
            f"{found or 'none'}, not this apply's {ours}: an apply of another policy is "
            "changing it; when it is done, run `hasg plan` and apply again"
        )


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
