"""The template rolled out with StackSets (docs/cloudformation.md): moto's
StackSets deploy a stack instance's resources into its own account and region,
so one stack set from the emitted template leaves, in each region and account,
what `hasg apply` leaves there, with each instance's parameter overrides (a
CIDR list that differs per region) honoured.

Where moto 5.2.5 is not AWS it is shown, not hidden:
`test_what_moto_stack_sets_do_not_do_as_aws` characterizes it, and the
fixture `stack_sets_like_aws` (conftest.py) completes the one part the
deployment tests need, the merge of the overrides into the stack set's values.
"""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from hasg import Blueprint, Policy, chef_automate_ha, compile_policy
from hasg.backends.cloudformation import to_cloudformation
from hasg.errors import ExitCode
from hasg.workflows import audit_vpc

from .test_deploy import (
    VPC_CIDR,
    applied,
    assert_stack_holds_what_apply_leaves,
    live,
    no_traffic_rules,
)

# A stack set's values for what differs per account and region: every
# parameter an instance overrides must have one in the stack set (AWS:
# "You can only override the parameter values that are specified in the stack set").
PLACEHOLDER_VPC = "vpc-00000000000000000"
STACK_SET_ADMINS = "203.0.113.7/32"
OTHER_ACCOUNT = "111111111111"


def policy(cluster: str, admin: str) -> Policy:
    return chef_automate_ha(cluster=cluster, admin_cidrs=[admin])


def parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def create_stack_set(
    session: boto3.session.Session, name: str, blueprint: Blueprint, **extra: Any
) -> None:
    """create-stack-set with the template `hasg emit cloudformation` writes."""
    session.client("cloudformation").create_stack_set(
        StackSetName=name,
        TemplateBody=to_cloudformation(blueprint),
        Parameters=parameters(
            VpcId=PLACEHOLDER_VPC, VpcCidr=VPC_CIDR, AdminCidrsIpv4=STACK_SET_ADMINS
        ),
        **extra,
    )


def in_region(region: str, credentials: dict[str, Any] | None = None) -> boto3.session.Session:
    """A session on the moto server (AWS_ENDPOINT_URL) in `region`, as the
    default account or, with an assumed role's credentials, as its account."""
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return boto3.session.Session(region_name=region, **keys)


def as_account(session: boto3.session.Session, account: str, region: str) -> boto3.session.Session:
    """moto attributes the calls made with an assumed role's credentials to
    the role's account, as AWS does."""
    role = f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    credentials = session.client("sts").assume_role(RoleArn=role, RoleSessionName="hasg-tests")
    return in_region(region, credentials["Credentials"])


def new_vpc(session: boto3.session.Session) -> str:
    return str(session.client("ec2").create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"])


def assert_instance_holds_what_apply_leaves(
    session: boto3.session.Session, vpc_id: str, cluster: str, admin: str
) -> None:
    """The instance's groups in its account and region are what `hasg apply`
    leaves there for the policy with the instance's admin CIDR, and `audit
    --vpc` of them is clean. Their policy digest is the template's: the stack
    set's (STACK_SET_ADMINS), which a template cannot compute again from an
    instance's overrides; the audit compares no digest."""
    blueprint = compile_policy(policy(cluster, admin))
    from_stack = live(session, vpc_id, cluster)
    from_apply = applied(blueprint, session)
    assert_stack_holds_what_apply_leaves(
        from_stack,
        from_apply,
        no_traffic_rules(session, vpc_id),
        emitted=compile_policy(policy(cluster, STACK_SET_ADMINS)),
    )
    report = audit_vpc(policy(cluster, admin), vpc_id, session=session)
    assert (report.exit_code, report.findings) == (ExitCode.OK, ())


def test_a_stack_set_deploys_each_instance_with_its_overrides(
    session: boto3.session.Session, stack_sets_like_aws: None
) -> None:
    """Self-managed permissions: instances in two regions of this account and
    in a second account, each with its own VPC and admin CIDR."""
    cluster = "ss-self"
    create_stack_set(
        session,
        "hasg-self",
        compile_policy(policy(cluster, STACK_SET_ADMINS)),
        PermissionModel="SELF_MANAGED",
    )
    account = session.client("sts").get_caller_identity()["Account"]
    targets = {
        (account, "us-east-1"): ("198.51.100.1/32", in_region("us-east-1")),
        (account, "eu-west-1"): ("198.51.100.2/32", in_region("eu-west-1")),
        (OTHER_ACCOUNT, "eu-west-1"): (
            "192.0.2.9/32",
            as_account(session, OTHER_ACCOUNT, "eu-west-1"),
        ),
    }
    vpcs = {target: new_vpc(where) for target, (_, where) in targets.items()}
    cloudformation = session.client("cloudformation")
    for (account_id, region), (admin, _) in targets.items():
        cloudformation.create_stack_instances(
            StackSetName="hasg-self",
            Accounts=[account_id],
            Regions=[region],
            # VpcCidr is not overridden: it keeps the stack set's value.
            ParameterOverrides=parameters(VpcId=vpcs[(account_id, region)], AdminCidrsIpv4=admin),
        )
    instances = cloudformation.list_stack_instances(StackSetName="hasg-self")["Summaries"]
    assert {(i["Account"], i["Region"]) for i in instances} == set(targets)
    for target, (admin, where) in targets.items():
        assert_instance_holds_what_apply_leaves(where, vpcs[target], cluster, admin)


def test_a_service_managed_stack_set_deploys_to_the_accounts_of_an_ou(
    session: boto3.session.Session, stack_sets_like_aws: None
) -> None:
    """Service-managed permissions, the docs' commands: an organizational unit
    as the deployment target, auto-deployment on, the account's VPC as an override."""
    organizations = session.client("organizations")
    # The moto server lives for the module: another test may have made the organization.
    with contextlib.suppress(organizations.exceptions.AlreadyInOrganizationException):
        organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="hasg-prod")
    ou_id = ou["OrganizationalUnit"]["Id"]
    made = organizations.create_account(Email="prod@example.com", AccountName="prod")
    member = made["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou_id)
    where = as_account(session, member, "eu-west-1")
    vpc_id = new_vpc(where)

    cluster = "ss-org"
    create_stack_set(
        session,
        "hasg-org",
        compile_policy(policy(cluster, STACK_SET_ADMINS)),
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    session.client("cloudformation").create_stack_instances(
        StackSetName="hasg-org",
        DeploymentTargets={"OrganizationalUnitIds": [ou_id]},
        Regions=["eu-west-1"],
        ParameterOverrides=parameters(VpcId=vpc_id),
    )
    assert_instance_holds_what_apply_leaves(where, vpc_id, cluster, STACK_SET_ADMINS)


def test_what_moto_stack_sets_do_not_do_as_aws(
    session: boto3.session.Session, cloudformation_like_aws: None
) -> None:
    """Stock moto 5.2.5 (docs/cloudformation.md says so): an instance's
    overrides replace the stack set's values instead of overriding them, so
    leaving VpcCidr to the stack set fails; and update_stack_instances records
    new overrides without changing the deployed rules."""
    cluster = "ss-stock"
    create_stack_set(
        session,
        "hasg-stock",
        compile_policy(policy(cluster, STACK_SET_ADMINS)),
        PermissionModel="SELF_MANAGED",
    )
    cloudformation = session.client("cloudformation")
    account = session.client("sts").get_caller_identity()["Account"]
    vpc_id = new_vpc(session)

    def on_the_instance(call: Any, **overrides: str) -> None:
        call(
            StackSetName="hasg-stock",
            Accounts=[account],
            Regions=["us-east-1"],
            ParameterOverrides=parameters(**overrides),
        )

    with pytest.raises(ClientError, match="Missing parameter VpcCidr"):
        on_the_instance(cloudformation.create_stack_instances, VpcId=vpc_id)
    every = {"VpcId": vpc_id, "VpcCidr": VPC_CIDR}
    on_the_instance(
        cloudformation.create_stack_instances, **every, AdminCidrsIpv4="198.51.100.1/32"
    )
    before = live(session, vpc_id, cluster)
    changed = {**every, "AdminCidrsIpv4": "198.51.100.7/32"}
    on_the_instance(cloudformation.update_stack_instances, **changed)
    instance = cloudformation.describe_stack_instance(
        StackSetName="hasg-stock", StackInstanceAccount=account, StackInstanceRegion="us-east-1"
    )["StackInstance"]
    assert instance["ParameterOverrides"] == parameters(**changed)
    assert live(session, vpc_id, cluster) == before  # AWS would have updated the stack
