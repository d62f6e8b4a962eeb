"""Ownership and the library's boundary: hasg validates every public entry point
as the CLI and policy files do, and owns a group only by its three tags with
exact values AND the name hasg gives it; it never trusts EC2's tag filter."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends.aws import apply, destroy, plan
from hasg.backends.aws.applier import execute
from hasg.backends.aws.planner import make_plan
from hasg.backends.aws.read import live_state
from hasg.backends.aws.session import make_client
from hasg.core.blueprint import Blueprint, group_name
from hasg.core.tags import ownership_tags
from hasg.errors import HasgError, OwnershipError, PolicyError, UsageError
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import Cloud, assert_holds, tcp

STAGING = hasg.compile_policy(hasg.chef_automate_ha(cluster="staging"))
WILDCARDS = ["st*", "*", "stag?ng", "staging*", "s*g", "?taging", "*-automate"]


def everything(cloud: Cloud) -> list[Any]:
    return sorted(cloud.ec2.describe_security_groups()["SecurityGroups"], key=str)


@pytest.fixture
def staging(cloud: Cloud) -> Cloud:
    apply(STAGING, vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()
    return cloud


@pytest.mark.parametrize("pattern", WILDCARDS)
def test_destroy_with_a_wildcard_touches_nothing_of_staging(staging: Cloud, pattern: str) -> None:
    before = everything(staging)

    with pytest.raises(PolicyError, match=r"^hasg\.destroy: .*is not a cluster name"):
        destroy(pattern, vpc_id=staging.vpc_id, session=staging.session)

    assert staging.calls.names == []  # refused before any AWS call
    assert everything(staging) == before
    assert_holds(staging, STAGING)


def test_a_tag_filter_match_that_is_not_exact_is_not_hasgs() -> None:
    """EC2 would answer `hasg:cluster=st*` with staging's groups: the reader
    still owns only exact values."""
    raw: Any = {
        "GroupId": "sg-0aaa",
        "GroupName": group_name("staging", "automate"),
        "Description": "x",
        "Tags": [{"Key": k, "Value": v} for k, v in ownership_tags("staging", "automate").items()],
    }
    assert live_state("st*", [raw]).group_ids == {}
    assert live_state("staging", [raw]).group_ids == {"automate": "sg-0aaa"}


def _policy_accepts(cluster: str) -> bool:
    try:
        hasg.chef_automate_ha(cluster=cluster)
    except PolicyError:
        return False
    return True


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from([*WILDCARDS, "", "sg-1", "a" * 129, "ok", "Ok.1_-x", "é", "a b", "a\n"]),
    )
)
def test_the_library_takes_exactly_the_cluster_names_a_policy_takes(
    cloud: Cloud, cluster: str
) -> None:
    cloud.calls.clear()
    try:
        destroy(cluster, vpc_id=cloud.vpc_id, session=cloud.session)
    except PolicyError:
        assert not _policy_accepts(cluster)
        assert cloud.calls.names == []
    else:
        assert _policy_accepts(cluster)


@pytest.mark.parametrize("vpc_id", ["vpc-*", "vpc-123", "subnet-0123abcd", "", "VPC-0123ABCD"])
def test_every_live_entry_point_refuses_a_bad_vpc_id_before_any_call(
    cloud: Cloud, vpc_id: str
) -> None:
    policy = hasg.chef_automate_ha()
    calls: list[Any] = [
        lambda: plan(STAGING, vpc_id=vpc_id, session=cloud.session),
        lambda: apply(STAGING, vpc_id=vpc_id, session=cloud.session),
        lambda: destroy("staging", vpc_id=vpc_id, session=cloud.session),
        lambda: audit_vpc(policy, vpc_id, session=cloud.session),
        lambda: verify_vpc(policy, vpc_id, session=cloud.session),
    ]
    for call in calls:
        with pytest.raises(UsageError, match="is not a VPC id"):
            call()
    assert cloud.calls.names == []


def test_a_hand_built_blueprint_hasg_would_not_own_is_refused(cloud: Cloud) -> None:
    bastion = STAGING["bastion"]
    others = tuple(g for g in STAGING if g.role != "bastion")
    cases = {
        "payments-db": bastion.replace(name="payments-db"),
        "lacks hasg's ownership tags": bastion.replace(tags={"Name": bastion.name}),
        "write protocol 'ESP' as '50'": bastion.replace(
            rules=(replace(bastion.rules[0], protocol="ESP"),)
        ),
    }
    for needle, broken in cases.items():
        with pytest.raises(PolicyError, match=needle):
            apply(
                Blueprint("staging", (*others, broken)), vpc_id=cloud.vpc_id, session=cloud.session
            )
    with pytest.raises(PolicyError, match="not a cluster name"):
        plan(Blueprint("st*", ()), vpc_id=cloud.vpc_id, session=cloud.session)
    with pytest.raises(UsageError, match="known_clusters"):
        audit_vpc(hasg.chef_automate_ha(), cloud.vpc_id, known_clusters="staging")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="not a cluster name"):
        audit_vpc(hasg.chef_automate_ha(), cloud.vpc_id, known_clusters=["st*"])
    assert cloud.calls.names == []


# ------------------------------------------------------------------ payments-db


@pytest.fixture
def payments_db(staging: Cloud) -> str:
    """Someone's database group, tagged as if it were hasg's role `ledger`."""
    group_id = staging.make_group("payments-db", tags=ownership_tags("staging", "ledger"))
    staging.ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=tcp(5432, "10.20.0.0/16")
    )
    staging.calls.clear()
    return group_id


def test_payments_db_survives_apply_and_destroy_and_is_reported(
    staging: Cloud, payments_db: str
) -> None:
    before = everything(staging)

    pending = plan(STAGING, vpc_id=staging.vpc_id, session=staging.session)
    (blocker,) = pending.blockers
    assert (blocker.kind, blocker.group_id, blocker.group) == (
        "misnamed",
        payments_db,
        "payments-db",
    )
    assert "not hasg's" in blocker.message and "staging-ledger" in blocker.message
    assert "ledger" not in pending.live.group_ids  # never part of what hasg may change

    with pytest.raises(OwnershipError, match=f"payments-db \\({payments_db}\\)"):
        apply(STAGING, vpc_id=staging.vpc_id, session=staging.session)
    with pytest.raises(OwnershipError, match=f"payments-db \\({payments_db}\\)"):
        destroy("staging", vpc_id=staging.vpc_id, session=staging.session)
    assert staging.calls.mutating == []
    assert everything(staging) == before

    report = audit_vpc(
        hasg.chef_automate_ha(cluster="staging"), staging.vpc_id, session=staging.session
    )
    (finding,) = report.of_kind("misnamed_group")
    assert (finding.group, finding.group_id, finding.role) == ("payments-db", payments_db, "ledger")


def test_a_policy_with_that_role_still_leaves_payments_db_alone(
    staging: Cloud, payments_db: str
) -> None:
    policy = hasg.chef_automate_ha(cluster="staging").model_dump()
    policy["roles"] = [*policy["roles"], {"id": "ledger", "description": "Ledger"}]
    with_ledger = hasg.compile_policy(hasg.Policy.model_validate(policy))
    before = everything(staging)

    with pytest.raises(OwnershipError, match="payments-db"):
        apply(with_ledger, vpc_id=staging.vpc_id, session=staging.session)
    assert everything(staging) == before


def test_a_plan_forged_to_touch_a_group_hasg_does_not_own_is_refused(staging: Cloud) -> None:
    """execute() re-checks ownership on exact values: a Plan is a value anyone can build."""
    client = make_client(staging.session)
    bastion_id = staging.group_id("staging-bastion")
    staging.ec2.authorize_security_group_ingress(
        GroupId=bastion_id, IpPermissions=tcp(2222, "0.0.0.0/0")
    )
    real = make_plan(client, STAGING, staging.vpc_id)
    assert not real.empty and not real.blockers
    live = real.live.blueprint
    forged_group = live["bastion"].replace(name="payments-db")
    forged_live = replace(
        real.live,
        blueprint=Blueprint("staging", (*(g for g in live if g.role != "bastion"), forged_group)),
        blockers=(),
    )
    forged = replace(real, live=forged_live, changes=replace(real.changes, blockers=()))
    staging.calls.clear()

    with pytest.raises(OwnershipError, match="not provably hasg's"):
        execute(client, forged)
    assert staging.calls.names == []


def test_the_hasg_package_entry_points_are_the_validated_ones(cloud: Cloud) -> None:
    with pytest.raises(HasgError):
        hasg.destroy("st*", vpc_id=cloud.vpc_id, session=cloud.session)
    with pytest.raises(HasgError):
        hasg.apply(STAGING, vpc_id="vpc-*", session=cloud.session)
    assert cloud.calls.names == []
