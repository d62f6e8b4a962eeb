"""The template deploys: moto's CloudFormation (completed to AWS's documented
behaviour, conftest.py) leaves exactly what `hasg apply` leaves in a second
VPC, groups and rules with their descriptions; a changed CIDR list parameter
updates the rules in place; delete_stack removes everything.

The one rule the stack holds that apply does not is the inline egress rule that
removes AWS's default allow-all (hasg.core.no_traffic.NO_TRAFFIC_EGRESS): every
group holds it (DescribeSecurityGroups says so), and hasg's AWS reader reads it
as no rule, so `audit --vpc` of a stack-deployed VPC is clean until something
else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from terraform.test_equivalence import as_applied
from terraform.tooling import every_kind_of_peer

from hasg import Blueprint, chef_automate_ha, compile_policy
from hasg.backends.aws import apply
from hasg.backends.aws.permissions import from_ip_permissions
from hasg.backends.aws.read import read_cluster
from hasg.backends.cloudformation import to_cloudformation
from hasg.core.blueprint import Rule
from hasg.core.digest import policy_digest
from hasg.core.no_traffic import NO_TRAFFIC_EGRESS
from hasg.core.tags import CLUSTER_TAG, POLICY_DIGEST_TAG
from hasg.core.transforms import resolve_vpc_peers
from hasg.errors import ExitCode
from hasg.workflows import audit_vpc, verify_vpc

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
    found = read_cluster(client, vpc_id, cluster)[1]
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


def no_traffic_rules(session: boto3.session.Session, vpc_id: str) -> dict[str, list[Rule]]:
    """Each group's egress rules that are the inline no-traffic rule, as EC2 answers them."""
    groups = session.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return {
        g["GroupName"]: [
            r
            for r in from_ip_permissions("egress", g["IpPermissionsEgress"], {}, g["OwnerId"])
            if r == NO_TRAFFIC_EGRESS
        ]
        for g in groups
        if g["GroupName"] != "default"
    }


def assert_stack_holds_what_apply_leaves(
    from_stack: Blueprint,
    from_apply: Blueprint,
    inline: Mapping[str, list[Rule]],
    *,
    emitted: Blueprint | None = None,
) -> None:
    """The reader's view equals apply's, tags included (the policy digest
    too), and EC2 holds the inline rule, exactly (its description too), once
    on every group of the stack.

    `emitted`: the Blueprint the template was emitted from, when the stack was
    given other CIDR list values than the template's defaults. A template
    cannot hash its parameters, so its groups carry `emitted`'s digest
    (docs/cloudformation.md); everything else is what apply leaves."""
    assert inline == {g.name: [NO_TRAFFIC_EGRESS] for g in from_stack}
    stack = without_stack_tags(from_stack)
    if emitted is not None:
        assert {g.tags[POLICY_DIGEST_TAG] for g in stack} == {policy_digest(emitted)}
        applied_digest = {g.role: g.tags[POLICY_DIGEST_TAG] for g in from_apply}
        stack = stack.replace(
            groups=tuple(
                g.replace(tags={**g.tags, POLICY_DIGEST_TAG: applied_digest[g.role]}) for g in stack
            )
        )
    assert all(POLICY_DIGEST_TAG in g.tags for g in from_apply)
    # Blueprints compare by value, descriptions included.
    assert as_applied(stack) == as_applied(from_apply)


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
    assert_stack_holds_what_apply_leaves(from_stack, from_apply, no_traffic_rules(session, vpc_id))


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
            live(session, vpc_id, "cfn-stock"),
            applied(blueprint, session),
            no_traffic_rules(session, vpc_id),
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
    assert_stack_holds_what_apply_leaves(
        after, applied(changed, session), no_traffic_rules(session, vpc_id), emitted=blueprint
    )

    cloudformation.delete_stack(StackName=stack_id)
    ec2 = session.client("ec2")
    left = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    assert [g["GroupName"] for g in left["SecurityGroups"]] == ["default"]


def test_audit_of_a_stack_deployed_vpc_is_clean_until_a_rule_is_added(
    session: boto3.session.Session, cloudformation_like_aws: None
) -> None:
    """Every group holds the inline no-traffic rule, and neither `audit --vpc`
    nor `verify --vpc` calls it drift; one rule more, even one nearly like it,
    is drift to audit (exit 2) and a breach to verify (exit 1)."""
    policy = chef_automate_ha(cluster="cfn-audit", admin_cidrs=ADMINS)
    _, vpc_id = deploy(compile_policy(policy), session, "stack-audit")
    assert all(no_traffic_rules(session, vpc_id).values())
    clean = audit_vpc(policy, vpc_id, session=session)
    assert (clean.exit_code, clean.findings) == (ExitCode.OK, ())
    assert clean.groups_checked == len(policy.roles)
    reachable = verify_vpc(policy, vpc_id, session=session)
    assert (reachable.exit_code, reachable.findings) == (ExitCode.OK, ())

    bastion = next(g for g in live(session, vpc_id, "cfn-audit") if g.role == "bastion")
    group_id = session.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [bastion.name]}]
    )["SecurityGroups"][0]["GroupId"]
    # The inline rule for any code of type 252: not the rule the stack wrote.
    session.client("ec2").authorize_security_group_egress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "icmp",
                "FromPort": 252,
                "ToPort": -1,
                "IpRanges": [{"CidrIp": "255.255.255.255/32"}],
            }
        ],
    )
    drift = audit_vpc(policy, vpc_id, session=session)
    assert drift.exit_code == ExitCode.CHANGES
    assert [(f.kind, f.role) for f in drift.findings] == [("extra_rule", "bastion")]
    assert "icmp/252" in drift.findings[0].detail
    opened = verify_vpc(policy, vpc_id, session=session)
    assert (opened.ok, opened.exit_code) == (False, ExitCode.ERROR)  # verify fails a breach
    assert [("255.255.255.255/32" in b.message, b.role) for b in opened.breaches] == [
        (True, "bastion")
    ]
