"""The template deploys: moto's CloudFormation (completed to AWS's documented
behaviour, conftest.py) leaves exactly what `hasg apply` leaves in a second
VPC, groups and rules with their descriptions; a changed CIDR list parameter
updates the rules in place; delete_stack removes everything.

The one rule the stack holds that apply does not is the inline egress rule that
removes AWS's default allow-all (hasg.backends.cloudformation.NO_TRAFFIC_EGRESS):
the comparison expects it on every group, exactly, not "ignores" it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from terraform.test_equivalence import as_applied
from terraform.tooling import every_kind_of_peer

from hasg import Blueprint, chef_automate_ha, compile_policy
from hasg.backends.aws import apply
from hasg.backends.aws.read import read_groups, read_vpc
from hasg.backends.cloudformation import NO_TRAFFIC_EGRESS, to_cloudformation
from hasg.core.blueprint import CLUSTER_TAG
from hasg.core.transforms import resolve_vpc_peers

VPC_CIDR = "10.40.0.0/16"
ADMINS = ["203.0.113.7/32", "2001:db8:2::/64"]
USERS = ["198.51.100.0/24", "2001:db8:1::/48"]


def new_vpc(session: boto3.session.Session) -> str:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    return str(vpc["VpcId"])


def live(session: boto3.session.Session, vpc_id: str, cluster: str) -> Blueprint:
    """What DescribeSecurityGroups says the VPC holds of the cluster."""
    client = session.client("ec2")
    found = read_groups(client, read_vpc(client, vpc_id), cluster)
    assert not found.blockers, found.blockers
    return found.blueprint


def applied(blueprint: Blueprint, session: boto3.session.Session) -> Blueprint:
    vpc_id = new_vpc(session)
    apply(blueprint, vpc_id=vpc_id, session=session)
    return live(session, vpc_id, blueprint.cluster)


def deploy(
    blueprint: Blueprint,
    session: boto3.session.Session,
    stack: str,
    **parameters: str,
) -> tuple[str, str]:
    """create_stack with the template `hasg emit cloudformation` writes: (stack id, VPC)."""
    vpc_id = new_vpc(session)
    values = {"VpcId": vpc_id, **parameters}
    if "VpcCidr" in to_cloudformation(blueprint):
        values["VpcCidr"] = VPC_CIDR
    made = session.client("cloudformation").create_stack(
        StackName=stack,
        TemplateBody=to_cloudformation(blueprint),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    status = stack_status(session, stack)
    assert status == "CREATE_COMPLETE", status
    return str(made["StackId"]), vpc_id


def stack_status(session: boto3.session.Session, stack: str) -> str:
    stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return str(stacks[0]["StackStatus"])


def with_no_traffic_rule(blueprint: Blueprint) -> Blueprint:
    """What the stack holds: apply's rules and, on every group, the inline rule."""
    groups = tuple(g.replace(rules=(*g.rules, NO_TRAFFIC_EGRESS)) for g in blueprint)
    return Blueprint(blueprint.cluster, groups, blueprint.cidr_lists)


# CloudFormation tags every resource it creates with these (AWS-reserved `aws:` keys).
STACK_TAGS = ("aws:cloudformation:logical-id", "aws:cloudformation:stack-id")
STACK_TAGS += ("aws:cloudformation:stack-name",)


def without_stack_tags(blueprint: Blueprint) -> Blueprint:
    """The stack's groups without CloudFormation's own tags, which each must bear."""
    for group in blueprint:
        assert set(STACK_TAGS) <= set(group.tags), group.tags
    groups = tuple(
        g.replace(tags={k: v for k, v in g.tags.items() if k not in STACK_TAGS}) for g in blueprint
    )
    return Blueprint(blueprint.cluster, groups, blueprint.cidr_lists)


def assert_stack_holds_what_apply_leaves(from_stack: Blueprint, from_apply: Blueprint) -> None:
    want = with_no_traffic_rule(from_apply)
    from_stack = without_stack_tags(from_stack)
    # Blueprints compare by value, descriptions included.
    assert as_applied(from_stack) == as_applied(want)


@pytest.mark.parametrize("kind", ["builtin", "every_kind_of_peer"])
def test_stack_holds_what_apply_leaves(
    session: boto3.session.Session, cloudformation_like_aws: None, kind: str
) -> None:
    if kind == "builtin":
        policy = chef_automate_ha(cluster="cfn-builtin", admin_cidrs=ADMINS)
    else:
        prefix_list = session.client("ec2").create_managed_prefix_list(
            PrefixListName="offices",
            AddressFamily="IPv4",
            MaxEntries=5,
            Entries=[{"Cidr": "192.0.2.0/24", "Description": "head office"}],
        )["PrefixList"]["PrefixListId"]
        policy = every_kind_of_peer(prefix_list).model_copy(update={"cluster": "cfn-every"})
    blueprint = compile_policy(policy)
    _, vpc_id = deploy(blueprint, session, f"stack-{kind}")
    from_stack = live(session, vpc_id, blueprint.cluster)
    from_apply = applied(blueprint, session)
    assert from_apply.rule_set() == resolve_vpc_peers(blueprint, VPC_CIDR).rule_set()
    assert {r.peer.kind for g in from_stack for r in g.rules} >= {"group", "cidr_ipv4"}
    assert_stack_holds_what_apply_leaves(from_stack, from_apply)


def test_stock_moto_does_not_deploy_it_as_aws_would(session: boto3.session.Session) -> None:
    """Without the completed handlers the same comparison fails: stock moto keeps
    the default allow-all egress, skips the egress rules, drops IPv6 ingress."""
    blueprint = compile_policy(chef_automate_ha(cluster="cfn-stock", admin_cidrs=ADMINS))
    # Given, not defaults: stock moto leaves a CommaDelimitedList's default a string.
    lists = {"AdminCidrsIpv4": ADMINS[0], "AdminCidrsIpv6": ADMINS[1]}
    _, vpc_id = deploy(blueprint, session, "stack-stock", **lists)
    groups = session.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": ["cfn-stock"]}]
    )["SecurityGroups"]
    egress = [p for g in groups for p in g["IpPermissionsEgress"]]
    assert any(r.get("CidrIp") == "0.0.0.0/0" for p in egress for r in p.get("IpRanges", []))
    with pytest.raises(AssertionError):
        assert_stack_holds_what_apply_leaves(
            live(session, vpc_id, "cfn-stock"), applied(blueprint, session)
        )


def test_a_changed_cidr_list_parameter_updates_in_place_and_delete_removes_all(
    session: boto3.session.Session, cloudformation_like_aws: None
) -> None:
    blueprint = compile_policy(chef_automate_ha(cluster="cfn-update", admin_cidrs=ADMINS))
    stack_id, vpc_id = deploy(blueprint, session, "stack-update")
    group_ids = {g.role: g for g in live(session, vpc_id, "cfn-update")}
    cloudformation = session.client("cloudformation")
    values: dict[str, Any] = {
        "VpcId": vpc_id,
        "VpcCidr": VPC_CIDR,
        "AdminCidrsIpv4": "198.51.100.9/32",
        "AdminCidrsIpv6": "2001:db8:2::/64",
    }
    cloudformation.update_stack(
        StackName=stack_id,
        UsePreviousTemplate=True,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    assert stack_status(session, stack_id) == "UPDATE_COMPLETE"
    after = live(session, vpc_id, "cfn-update")
    # The groups stayed (same names, the instances using them keep them) ...
    assert {g.role: g.name for g in after} == {r: g.name for r, g in group_ids.items()}
    # ... and hold what apply leaves for the new list: the old CIDR's rule is gone.
    changed = compile_policy(
        chef_automate_ha(cluster="cfn-update", admin_cidrs=["198.51.100.9/32", ADMINS[1]])
    )
    assert_stack_holds_what_apply_leaves(after, applied(changed, session))

    cloudformation.delete_stack(StackName=stack_id)
    ec2 = session.client("ec2")
    left = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    assert [g["GroupName"] for g in left["SecurityGroups"]] == ["default"]
