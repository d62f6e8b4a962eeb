"""Terraform and AWS hold the same rules: what the emitted HCL says, read back,
equals what `hasg apply` leaves in a VPC (moto's EC2, in-process).

The HCL names the VPC's CIDR as `data.aws_vpc.this.cidr_block`; AWS holds the
CIDR itself. That one peer is resolved to the VPC's CIDR before comparing;
everything else, descriptions and tags included, must be equal as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from hasg import Blueprint, Rule, chef_automate_ha, compile_policy
from hasg.aws import apply
from hasg.aws.diff import resolve_vpc_peers
from hasg.aws.read import read_groups, read_vpc
from hasg.hcl import read_hcl, read_hcl_dir, to_hcl
from terraform.tooling import (
    EXAMPLE_TFVARS,
    MODULE,
    cidr_list_values,
    every_kind_of_peer,
    hcl_values,
    policy_for,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
VPC_CIDR = "10.30.0.0/16"


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def ec2(session: boto3.session.Session) -> EC2Client:
    return session.client("ec2")


@pytest.fixture
def vpc_id(ec2: EC2Client) -> str:
    return ec2.create_vpc(CidrBlock=VPC_CIDR, AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]


@pytest.fixture
def prefix_list_id(ec2: EC2Client) -> str:
    """A customer-managed prefix list of office ranges, as a user would make one."""
    return ec2.create_managed_prefix_list(
        PrefixListName="offices",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "192.0.2.0/24", "Description": "head office"}],
    )["PrefixList"]["PrefixListId"]


def snapshot(blueprint: Blueprint) -> list[Any]:
    """Every group as AWS and Terraform both know it: name, description, tags,
    and each rule with its description."""
    return [
        (
            g.role,
            g.name,
            g.description,
            dict(g.tags),
            sorted((r.key, description(r)) for r in g.rules),
        )
        for g in blueprint
    ]


def description(rule: Rule) -> str | None:
    """moto 5 forgets the Description of a PrefixListIds entry (DescribeSecurityGroups
    answers the id alone; AWS keeps it), so for those only the rule is compared."""
    return None if rule.peer.kind == "prefix_list" else rule.description


def applied(blueprint: Blueprint, session: boto3.session.Session, vpc_id: str) -> Blueprint:
    """`hasg apply`, then what DescribeSecurityGroups says the VPC holds."""
    apply(blueprint, vpc_id=vpc_id, session=session)
    client = session.client("ec2")
    live = read_groups(client, read_vpc(client, vpc_id), blueprint.cluster)
    assert not live.blockers
    return live.blueprint


def assert_equivalent(hcl: Blueprint, live: Blueprint) -> None:
    from_terraform = resolve_vpc_peers(hcl, VPC_CIDR)
    assert from_terraform.rule_set() == live.rule_set()
    assert snapshot(from_terraform) == snapshot(live)


def test_builtin_policy(session: boto3.session.Session, vpc_id: str) -> None:
    blueprint = compile_policy(chef_automate_ha())
    assert any(r.peer.kind == "vpc" for g in blueprint for r in g.rules)
    assert_equivalent(read_hcl(to_hcl(blueprint)), applied(blueprint, session, vpc_id))


def test_policy_with_ipv4_ipv6_and_prefix_list_peers(
    session: boto3.session.Session, vpc_id: str, prefix_list_id: str
) -> None:
    blueprint = compile_policy(every_kind_of_peer(prefix_list_id))
    kinds = {r.peer.kind for g in blueprint for r in g.rules}
    assert kinds == {"group", "cidr_ipv4", "cidr_ipv6", "prefix_list", "vpc"}
    assert {r.protocol for g in blueprint for r in g.rules} >= {"tcp", "icmpv6", "udp"}
    assert_equivalent(read_hcl(to_hcl(blueprint)), applied(blueprint, session, vpc_id))


def test_committed_module_with_the_example_values(
    session: boto3.session.Session, vpc_id: str
) -> None:
    """The committed module, given example.tfvars, holds what `hasg apply` of the
    built-in policy with those CIDRs leaves."""
    values = hcl_values(EXAMPLE_TFVARS)
    blueprint = compile_policy(policy_for(values))
    from_terraform = read_hcl_dir(MODULE, variables=cidr_list_values(values))
    assert_equivalent(from_terraform, applied(blueprint, session, vpc_id))
