"""The VPC's default group: untouched without `restrict_default_group`; with it,
every rule revoked by apply, shown by plan in a section of its own, and drift
for an audit (CIS AWS Foundations 5.4)."""

from __future__ import annotations

from typing import Any

import pytest

import hasg
from hasg.backends.aws import apply, destroy, plan
from hasg.backends.aws.planner import plan_json, render_plan
from hasg.errors import ConcurrentChangeError, ExitCode, PolicyError
from hasg.policy.model import Policy
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import TIMELINE_LATENCY, Cloud, Timeline, assert_holds, tcp

POLICY = hasg.chef_automate_ha()
RESTRICTING_POLICY = POLICY.model_copy(update={"restrict_default_group": True})
LEAVING = hasg.compile_policy(POLICY)
RESTRICTING = hasg.compile_policy(Policy.model_validate(RESTRICTING_POLICY.model_dump()))


def default_group(cloud: Cloud, vpc_id: str | None = None) -> Any:
    return next(g for g in cloud.groups(vpc_id) if g["GroupName"] == "default")


def rule_count(group: Any) -> int:
    return sum(
        len(p.get(kind, []))
        for p in group["IpPermissions"] + group["IpPermissionsEgress"]
        for kind in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")
    )


@pytest.fixture
def opened(cloud: Cloud) -> Cloud:
    """A VPC whose default group holds AWS's two rules and one a person added."""
    group_id = default_group(cloud)["GroupId"]
    if not default_group(cloud)["IpPermissions"]:
        # AWS's default group takes all traffic from itself (Amazon VPC User
        # Guide, "Default security groups"); moto's has no ingress rule.
        cloud.ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}],
        )
    cloud.ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=tcp(22, "0.0.0.0/0", "by hand")
    )
    assert rule_count(default_group(cloud)) == 3
    return cloud


def test_the_option_is_off_by_default_and_strict() -> None:
    assert LEAVING.default_group is None
    assert RESTRICTING.default_group == ()
    with pytest.raises(
        PolicyError, match="restrict_default_group: input should be a valid boolean"
    ):
        Policy.model_validate({**POLICY.model_dump(), "restrict_default_group": "yes"})


def test_without_the_option_the_default_group_survives_apply_and_destroy(opened: Cloud) -> None:
    before = default_group(opened)

    pending = plan(LEAVING, vpc_id=opened.vpc_id, session=opened.session)
    apply(LEAVING, vpc_id=opened.vpc_id, session=opened.session)
    destroy(LEAVING, vpc_id=opened.vpc_id, session=opened.session)

    assert default_group(opened) == before
    assert "default group" not in render_plan(pending)
    assert default_group(opened)["GroupId"] not in render_plan(pending)
    assert plan_json(pending)["default_group"] is None
    assert pending.changes.default_group == ()


def test_with_the_option_plan_lists_every_rule_of_the_default_group_apart(
    opened: Cloud,
) -> None:
    group_id = default_group(opened)["GroupId"]

    pending = plan(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)

    text = render_plan(pending)
    section = text[text.index("~ group default") :].split("\n\n")[0].splitlines()
    assert section[0].startswith(f"~ group default ({group_id}), the VPC's default group")
    assert sorted(section[1:]) == [
        "    - egress all to 0.0.0.0/0",
        "    - ingress all from group default",
        "    - ingress tcp/22 from 0.0.0.0/0",
    ]
    assert "3 rule(s) of the VPC's default group to revoke" in text
    document: Any = plan_json(pending)["default_group"]
    assert document["group_id"] == group_id
    assert {r["action"] for r in document["rules"]} == {"remove"}
    assert len(document["rules"]) == 3
    assert {"kind": "group", "value": group_id} in [r["peer"] for r in document["rules"]]
    assert opened.calls.mutating == []


def test_with_the_option_apply_revokes_every_rule_and_destroy_restores_none(
    opened: Cloud,
) -> None:
    result = apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)

    assert rule_count(default_group(opened)) == 0
    assert_holds(opened, RESTRICTING)
    assert "default" not in str(sorted(result.group_ids))
    opened.calls.clear()
    assert apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session).changes.empty
    assert sorted(opened.calls.names) == ["DescribeSecurityGroups", "DescribeVpcs"]

    destroy(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)
    group = default_group(opened)
    assert rule_count(group) == 0
    assert group["GroupId"] == default_group(opened)["GroupId"]


def test_an_ipv6_vpc_loses_its_default_groups_ipv6_egress_too(cloud: Cloud) -> None:
    vpc_id = cloud.new_vpc("10.31.0.0/16", ipv6=True)
    egress = default_group(cloud, vpc_id)["IpPermissionsEgress"]
    if not any(p.get("Ipv6Ranges") for p in egress):
        # AWS adds ::/0 to the default group of a VPC with an IPv6 block; moto may not.
        cloud.ec2.authorize_security_group_egress(
            GroupId=default_group(cloud, vpc_id)["GroupId"],
            IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
        )

    apply(RESTRICTING, vpc_id=vpc_id, session=cloud.session)

    assert rule_count(default_group(cloud, vpc_id)) == 0


def test_the_default_groups_revokes_go_in_the_wave_of_the_other_rules(opened: Cloud) -> None:
    timeline = Timeline(TIMELINE_LATENCY).attach(opened.session)

    apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)

    waves = timeline.waves()
    assert len(waves) == 4
    assert waves[2].count("RevokeSecurityGroupIngress") == 1
    assert waves[2].count("RevokeSecurityGroupEgress") == len(RESTRICTING.groups) + 1


def test_an_audit_with_the_option_reports_the_default_groups_rules(opened: Cloud) -> None:
    apply(LEAVING, vpc_id=opened.vpc_id, session=opened.session)

    leaving = audit_vpc(POLICY, opened.vpc_id, session=opened.session)
    restricting = audit_vpc(RESTRICTING_POLICY, opened.vpc_id, session=opened.session)

    assert leaving.ok and leaving.exit_code == ExitCode.OK
    assert restricting.exit_code == ExitCode.CHANGES
    extra = restricting.of_kind("extra_rule")
    assert len(extra) == 3
    assert {f.group for f in extra} == {"default"}
    assert {f.group_id for f in extra} == {default_group(opened)["GroupId"]}
    assert any("tcp/22 from 0.0.0.0/0" in f.detail for f in extra)

    apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)
    assert audit_vpc(RESTRICTING_POLICY, opened.vpc_id, session=opened.session).ok


def test_verify_with_the_option_breaches_on_the_default_groups_rules(opened: Cloud) -> None:
    apply(LEAVING, vpc_id=opened.vpc_id, session=opened.session)

    leaving = verify_vpc(POLICY, opened.vpc_id, session=opened.session)
    restricting = verify_vpc(RESTRICTING_POLICY, opened.vpc_id, session=opened.session)

    assert leaving.ok and "default group" not in leaving.to_text()
    assert len(restricting.of_kind("default_group")) == 3
    assert restricting.breaches == restricting.of_kind("default_group")
    assert restricting.exit_code == ExitCode.ERROR
    assert "FAIL  the VPC's default group holds no rule" in restricting.to_text()

    apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)
    fixed = verify_vpc(RESTRICTING_POLICY, opened.vpc_id, session=opened.session)
    assert fixed.ok and "ok    the VPC's default group holds no rule" in fixed.to_text()


def test_a_rule_added_to_the_default_group_during_apply_is_caught_by_the_read_back(
    opened: Cloud,
) -> None:
    """Another writer opens the default group right after hasg revoked its rules:
    the read-back sees it, and apply does not exit 0."""
    group_id = default_group(opened)["GroupId"]

    def reopen(model: Any, **_: Any) -> None:
        if model.name == "RevokeSecurityGroupIngress":
            opened.ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=tcp(3389, "0.0.0.0/0")
            )

    opened.session.events.register("after-call.ec2", reopen)
    with pytest.raises(ConcurrentChangeError, match=r"default group .*tcp/3389"):
        apply(RESTRICTING, vpc_id=opened.vpc_id, session=opened.session)
