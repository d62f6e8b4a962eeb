"""Where a live audit's findings are: the VPC, the group and the rule, by the
ids EC2 gives them (moto's, read back by the test itself), in the findings
and in the SARIF log."""

from __future__ import annotations

from typing import Any

from reports.sarif import results, valid_sarif

import hasg
from hasg.backends.aws import apply
from hasg.core.sarif import to_sarif
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import Cloud, tcp
from .test_map import HEX, build_chef_groups, chef_map

POLICY = hasg.chef_automate_ha(cluster="where")


def rule_id(cloud: Cloud, group_id: str, **fields: Any) -> str:
    """The id of the one rule of the group whose fields are `fields`, as
    DescribeSecurityGroupRules lists it."""
    rules = cloud.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    (found,) = [r for r in rules if all(r.get(k) == v for k, v in fields.items())]
    return str(found["SecurityGroupRuleId"])


def logical(finding: Any) -> list[str]:
    return ["/".join(name for _, name in loc.logical) for loc in finding.locations]


def test_an_extra_rule_is_in_its_vpc_group_and_rule(cloud: Cloud) -> None:
    result = apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    bastion = result.group_ids["bastion"]
    cloud.calls.clear()
    assert audit_vpc(POLICY, cloud.vpc_id, session=cloud.session).ok
    # A clean audit reads no rule ids.
    assert "DescribeSecurityGroupRules" not in cloud.calls.names

    cloud.ec2.authorize_security_group_ingress(
        GroupId=bastion, IpPermissions=tcp(3389, "0.0.0.0/0", "RDP")
    )
    cloud.calls.clear()
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    assert cloud.calls.names.count("DescribeSecurityGroupRules") == 1
    (extra,) = report.of_kind("extra_rule")
    sgr = rule_id(cloud, bastion, FromPort=3389, CidrIpv4="0.0.0.0/0")
    assert logical(extra) == [f"{cloud.vpc_id}/{bastion}/{sgr}"]

    log = valid_sarif(to_sarif(report, check="audit", source=cloud.vpc_id))
    (found,) = results(log)
    (where,) = found["locations"]
    assert "physicalLocation" not in where
    (named,) = where["logicalLocations"]
    assert (named["kind"], named["name"]) == ("rule", sgr)
    entries = log["runs"][0]["logicalLocations"]
    group = entries[entries[named["index"]]["parentIndex"]]
    assert (group["kind"], group["name"]) == ("group", bastion)
    assert entries[group["parentIndex"]] == {
        "name": cloud.vpc_id,
        "kind": "vpc",
        "fullyQualifiedName": cloud.vpc_id,
    }


def test_a_missing_rule_is_in_its_group_and_a_missing_group_in_the_vpc(cloud: Cloud) -> None:
    result = apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    automate = result.group_ids["automate"]
    rules = cloud.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [automate]}]
    )["SecurityGroupRules"]
    ingress = next(r for r in rules if not r["IsEgress"] and r.get("FromPort") == 7799)
    cloud.ec2.revoke_security_group_ingress(
        GroupId=automate, SecurityGroupRuleIds=[ingress["SecurityGroupRuleId"]]
    )
    cloud.ec2.delete_security_group(GroupId=result.group_ids["bastion"])
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    missing = [f for f in report.of_kind("missing_rule") if f.role == "automate"]
    assert missing and all(logical(f) == [f"{cloud.vpc_id}/{automate}"] for f in missing)
    (gone,) = report.of_kind("missing_group")
    assert logical(gone) == [cloud.vpc_id]


def test_a_foreign_reference_is_in_the_strangers_group_and_rule(cloud: Cloud) -> None:
    result = apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    other_vpc = cloud.new_vpc("10.30.0.0/16")
    stranger = cloud.make_group("legacy-admin", vpc_id=other_vpc)
    postgresql = result.group_ids["postgresql"]
    cloud.ec2.authorize_security_group_ingress(
        GroupId=stranger, IpPermissions=tcp(5432, postgresql, "old admin")
    )
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    (reference,) = report.of_kind("foreign_reference")
    sgr = rule_id(cloud, stranger, FromPort=5432)
    assert logical(reference) == [f"{other_vpc}/{stranger}/{sgr}"]


def test_a_mapped_grant_is_where_every_rule_that_opens_it_is(cloud: Cloud) -> None:
    chef = build_chef_groups(cloud.ec2, cloud.vpc_id)
    report = audit_vpc(
        hasg.chef_automate_ha(), cloud.vpc_id, session=cloud.session, role_map=chef_map(chef)
    )
    group = chef["chef_automate"]
    world = [f for f in report.of_kind("world_open") if f.group == f"chef_automate_{HEX}"]
    assert world
    opened = {
        f"{cloud.vpc_id}/{group}/{rule_id(cloud, group, FromPort=port, CidrIpv4='0.0.0.0/0')}"
        for port in (22, 7799)
    }
    assert all(set(logical(f)) == opened for f in world)
    results(valid_sarif(to_sarif(report, check="audit", source=cloud.vpc_id)))


def test_verify_locates_a_breach_at_the_roles_group(cloud: Cloud) -> None:
    result = apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    bastion = result.group_ids["bastion"]
    cloud.ec2.authorize_security_group_ingress(
        GroupId=bastion, IpPermissions=tcp(3389, "0.0.0.0/0", "RDP")
    )
    report = verify_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    (opened,) = [f for f in report.findings if f.kind == "unnamed_cidr"]
    assert logical(opened) == [f"{cloud.vpc_id}/{bastion}"]
    valid_sarif(to_sarif(report, check="verify", source=cloud.vpc_id))
