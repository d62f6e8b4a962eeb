"""Terraform and AWS hold the same rules: what the emitted HCL says, read back,
equals what `hasg apply` leaves in a VPC (moto's EC2, in-process).

The HCL names the VPC's CIDR as `data.aws_vpc.this.cidr_block`; AWS holds the
CIDR itself. That one peer is resolved to the VPC's CIDR before comparing;
everything else, descriptions and tags included (the policy digest, which the
module computes from its variables), must be equal as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from hasg import Blueprint, chef_automate_ha, compile_policy
from hasg.backends.aws import apply
from hasg.backends.aws.read import read_cluster
from hasg.backends.terraform.hcl import to_hcl
from hasg.backends.terraform.read import read_hcl, read_hcl_dir
from hasg.core.tags import POLICY_DIGEST_TAG
from hasg.core.transforms import resolve_vpc_peers
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


@pytest.fixture(autouse=True)
def _moto_keeps_prefix_list_descriptions_like_ec2(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5 forgets the Description of a PrefixListIds entry (DescribeSecurityGroups
    answers the id alone; AWS keeps it). hasg's apply reads its groups back and
    would rightly call the missing description someone else's change: make moto
    keep it, as EC2 does."""
    from moto.ec2.models.security_groups import SecurityGroup, SecurityGroupRule

    original_init = SecurityGroupRule.__init__
    original_flatten = SecurityGroup._flattened_rules

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        given = kwargs.get("prefix_list_id", args[7] if len(args) > 7 else None)
        self.prefix_list_description = (given or {}).get("Description")

    def _flattened_rules(self: Any, rules: list[Any]) -> list[Any]:
        views = original_flatten(self, rules)
        described = {
            (r.from_port, r.to_port, r.ip_protocol, r.prefix_list_id): r.prefix_list_description
            for r in rules
            if r.prefix_list_id and getattr(r, "prefix_list_description", None)
        }
        for view in views:
            for entry in view.prefix_list_ids:
                key = (view.from_port, view.to_port, view.ip_protocol, entry["PrefixListId"])
                if key in described:
                    entry["Description"] = described[key]
        return views

    monkeypatch.setattr(SecurityGroupRule, "__init__", __init__)
    monkeypatch.setattr(SecurityGroup, "_flattened_rules", _flattened_rules)


def as_applied(blueprint: Blueprint) -> Blueprint:
    """The groups as AWS holds them: no policy CIDR lists (Terraform's variables,
    expanded into `rules`). Tags stay, the policy digest among them: every
    target writes the same ones."""
    return Blueprint(blueprint.cluster, tuple(g.replace(list_rules=()) for g in blueprint))


def applied(blueprint: Blueprint, session: boto3.session.Session, vpc_id: str) -> Blueprint:
    """`hasg apply`, then what DescribeSecurityGroups says the VPC holds."""
    apply(blueprint, vpc_id=vpc_id, session=session)
    client = session.client("ec2")
    live = read_cluster(client, vpc_id, blueprint.cluster)[1]
    assert not live.blockers
    return live.blueprint


def assert_equivalent(hcl: Blueprint, live: Blueprint) -> None:
    from_terraform = resolve_vpc_peers(hcl, VPC_CIDR)
    assert from_terraform.rule_set() == live.rule_set()
    assert all(POLICY_DIGEST_TAG in g.tags for g in (*from_terraform, *live))
    assert as_applied(from_terraform) == as_applied(live)


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
