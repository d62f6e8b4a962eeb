"""The policy digest: set by the compiler on every group, so that every target
writes it; made of the policy and its CIDR lists' values, never of the VPC's
CIDR; computed by the Terraform module from its variables, as hasg computes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from terraform.tooling import every_kind_of_peer

from hasg import chef_automate_ha, compile_policy
from hasg.backends.cloudformation import read_cloudformation, to_cloudformation
from hasg.backends.terraform.hcl import to_hcl_module
from hasg.backends.terraform.read import read_hcl_dir
from hasg.core.digest import policy_digest, with_digest
from hasg.core.tags import POLICY_DIGEST_TAG
from hasg.core.transforms import resolve_vpc_peers


def digests(blueprint: object) -> set[str]:
    return {g.tags[POLICY_DIGEST_TAG] for g in blueprint}  # type: ignore[attr-defined]


def test_the_compiler_tags_every_group_with_its_digest() -> None:
    blueprint = compile_policy(chef_automate_ha())
    assert digests(blueprint) == {policy_digest(blueprint)}
    assert with_digest(blueprint) == blueprint


def test_the_vpcs_cidr_is_not_in_it() -> None:
    """What Terraform and CloudFormation cannot know before deploying: a rule to
    the VPC counts as `vpc`, whichever CIDR the VPC has."""
    blueprint = compile_policy(every_kind_of_peer())
    assert any(r.peer.kind == "vpc" and r.peer.variable is None for g in blueprint for r in g.rules)
    for cidr in ("10.0.0.0/16", "172.31.0.0/16"):
        resolved = resolve_vpc_peers(blueprint, cidr)
        assert digests(resolved) == {policy_digest(blueprint)}
        assert policy_digest(resolved) != policy_digest(blueprint)  # why apply digests first


@pytest.mark.parametrize(
    "other",
    [
        {"admin_cidrs": ["203.0.113.8/32"]},
        {"admin_cidrs": ["203.0.113.7/32", "2001:db8::/64"]},
        {"user_cidrs": ["198.51.100.0/24"]},
        {"admin_cidrs": ["203.0.113.7/32"], "cluster": "other"},
        {"admin_cidrs": ["203.0.113.7/32"], "ssh_port": 2222},
    ],
)
def test_policies_that_differ_only_in_a_lists_values_have_two_digests(
    other: dict[str, object],
) -> None:
    one = compile_policy(chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))
    two = compile_policy(chef_automate_ha(**other))  # type: ignore[arg-type]
    assert digests(one) != digests(two)


# Narrow enough together for SSH (the policy refuses wider admin networks).
CIDRS = {
    "ipv4": st.sampled_from(["203.0.113.7/32", "198.51.100.10/32", "192.0.2.0/28"]),
    "ipv6": st.sampled_from(["2001:db8::/64", "2001:db8:1::1/128"]),
}


def lists() -> st.SearchStrategy[list[str]]:
    return st.lists(st.one_of(*CIDRS.values()), max_size=3, unique=True)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(admins=lists(), users=lists(), given_admins=lists(), given_users=lists())
def test_the_terraform_module_computes_the_digest_of_the_values_it_is_given(
    tmp_path: Path,
    admins: list[str],
    users: list[str],
    given_admins: list[str],
    given_users: list[str],
) -> None:
    """The module emitted for one policy, given another policy's lists through
    its variables, holds that other policy's groups, tags (its digest) included,
    as Terraform's evaluator (tfparse) reads it."""
    emitted = compile_policy(chef_automate_ha(admin_cidrs=admins, user_cidrs=users))
    wanted = compile_policy(chef_automate_ha(admin_cidrs=given_admins, user_cidrs=given_users))
    directory = tmp_path / f"m{abs(hash((*admins, '|', *users)))}"
    directory.mkdir(exist_ok=True)
    for name, text in to_hcl_module(emitted).items():
        (directory / name).write_text(text, encoding="utf-8")
    variables = {
        f"{name}_{family}": [c for c in cidrs if (":" in c) == (family == "ipv6")]
        for name, cidrs in (("admin_cidrs", given_admins), ("user_cidrs", given_users))
        for family in ("ipv4", "ipv6")
    }
    read = read_hcl_dir(directory, variables=variables)
    assert {g.role: dict(g.tags) for g in read} == {g.role: dict(g.tags) for g in wanted}


def test_the_template_holds_the_digest_of_its_policy() -> None:
    blueprint = compile_policy(chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))
    read = read_cloudformation(to_cloudformation(blueprint))
    assert {g.role: dict(g.tags) for g in read} == {g.role: dict(g.tags) for g in blueprint}
