"""`execute(client, plan)` takes what hasg owns from AWS's answer, never from
the Plan: a Plan is a value a caller can build, or change in place.

A Plan whose `live.default_group_id` named an untagged group of someone
else's had that group's rules revoked (the check that the groups hold what
was applied fired only afterwards). Now a Plan that `make_plan` did not
return, or that names other groups than when AWS answered, is checked
against one more read of the VPC before anything changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import hasg
from hasg.backends.aws import apply
from hasg.backends.aws.applier import execute
from hasg.backends.aws.planner import make_plan
from hasg.backends.aws.session import make_client
from hasg.core.diff import GroupChange
from hasg.errors import OwnershipError
from hasg.policy.model import Policy

from .conftest import Cloud, tcp

POLICY = hasg.chef_automate_ha(cluster="forged")
RESTRICTING = hasg.compile_policy(
    Policy.model_validate({**POLICY.model_dump(), "restrict_default_group": True})
)
BLUEPRINT = hasg.compile_policy(POLICY)


def rules_of(cloud: Cloud, group_id: str) -> Any:
    (group,) = cloud.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return sorted(map(str, group["IpPermissions"] + group["IpPermissionsEgress"]))


@pytest.fixture
def legacy(cloud: Cloud) -> str:
    """Someone else's group in the VPC: no tags, AWS's allow-all egress, one SSH rule."""
    group_id = cloud.make_group("legacy-admin")
    cloud.ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=tcp(22, "10.0.0.0/8", "admins")
    )
    return group_id


def drifted(cloud: Cloud) -> tuple[Any, Any]:
    """The cluster applied, a rule added to the bastion by hand, and the plan
    `make_plan` makes to remove it."""
    apply(BLUEPRINT, vpc_id=cloud.vpc_id, session=cloud.session)
    client = make_client(cloud.session)
    bastion = cloud.group_id("forged-bastion")
    ssh = tcp(2222, "10.0.0.0/8")
    cloud.ec2.authorize_security_group_ingress(GroupId=bastion, IpPermissions=ssh)
    return client, make_plan(client, BLUEPRINT, cloud.vpc_id)


def refused(cloud: Cloud, client: Any, forged: Any, legacy: str, match: str) -> None:
    before = rules_of(cloud, legacy)
    cloud.calls.clear()
    with pytest.raises(OwnershipError, match=match):
        execute(client, forged)
    assert cloud.calls.mutating == []
    assert rules_of(cloud, legacy) == before


def test_a_default_group_id_that_is_not_the_vpcs_is_refused(cloud: Cloud, legacy: str) -> None:
    client = make_client(cloud.session)
    real = make_plan(client, RESTRICTING, cloud.vpc_id)
    assert real.changes.default_group  # AWS's default egress, to revoke
    forged = replace(real, live=replace(real.live, default_group_id=legacy))
    refused(cloud, client, forged, legacy, f"{legacy} is not the default group of")


def test_a_group_id_that_is_not_hasgs_is_refused(cloud: Cloud, legacy: str) -> None:
    client, real = drifted(cloud)
    assert [c.role for c in real.changes.rules] == ["bastion"]
    ids = {**real.live.group_ids, "bastion": legacy}
    forged = replace(real, live=replace(real.live, group_ids=ids))
    refused(cloud, client, forged, legacy, f"group {legacy} is not hasg's group of forged/bastion")


def test_a_plan_changed_in_place_is_read_again(cloud: Cloud, legacy: str) -> None:
    """The Plan `make_plan` returned, its group ids edited in the dict it holds."""
    client, real = drifted(cloud)
    real.live.group_ids["bastion"] = legacy  # type: ignore[index]
    refused(cloud, client, real, legacy, "is not hasg's group of forged/bastion")


def test_a_group_to_delete_that_is_not_hasgs_is_refused(cloud: Cloud, legacy: str) -> None:
    apply(BLUEPRINT, vpc_id=cloud.vpc_id, session=cloud.session)
    client = make_client(cloud.session)
    real = make_plan(client, hasg.core.blueprint.Blueprint("forged", ()), cloud.vpc_id)
    doomed = tuple(
        replace(c, group_id=legacy) if c.role == "bastion" else c for c in real.changes.groups
    )
    assert any(isinstance(c, GroupChange) and c.group_id == legacy for c in doomed)
    forged = replace(real, changes=replace(real.changes, groups=doomed))
    refused(cloud, client, forged, legacy, f"group {legacy} is not hasg's group of forged/bastion")


def test_a_plan_built_by_the_caller_that_aws_confirms_is_executed(cloud: Cloud) -> None:
    """Not refused for being built: checked. The same plan, a new value."""
    client, real = drifted(cloud)
    rebuilt = replace(real)
    cloud.calls.clear()
    execute(client, rebuilt)
    assert cloud.calls.names[0] == "DescribeSecurityGroups"  # AWS's answer, first
    assert cloud.calls.mutating == ["RevokeSecurityGroupIngress"]
    assert make_plan(client, BLUEPRINT, cloud.vpc_id).empty


def test_the_plan_make_plan_returned_is_not_read_again(cloud: Cloud) -> None:
    client, real = drifted(cloud)
    cloud.calls.clear()
    execute(client, real)
    assert cloud.calls.names[0] == "RevokeSecurityGroupIngress"
