"""The library's composed entry points: read with a backend, judge with a check.

Backends and checks never import each other (docs/architecture.md); what
needs both (audit a Terraform module, audit or verify a live VPC) is composed
here, above them, as the CLI composes its commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hasg.checks.audit import AuditReport, audit_blueprint, ordered_findings
from hasg.checks.reachability import VerifyReport, verify
from hasg.core.blueprint import DEFAULT_GROUP
from hasg.core.compile import compile_policy
from hasg.errors import NftReadError
from hasg.policy.model import Policy

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

    from hasg.backends.nftables import HostAudit
    from hasg.core.inventory import Inventory


def audit_hcl(policy: Policy, path: Path, *, var_file: Path | None = None) -> AuditReport:
    """Audit a Terraform file or module directory, as hasg emitted it or as
    edited by hand. Variables take their defaults, or the values of `var_file`.

    No AWS: both sides name the VPC's CIDR symbolically (`data.aws_vpc` in
    the HCL, a "vpc" peer in the policy), so they compare as they are.
    """
    from hasg.backends.terraform.hcl import read_hcl_dir

    actual = read_hcl_dir(path, var_file=var_file)
    return audit_blueprint(compile_policy(policy), actual, source=str(path))


def audit_vpc(
    policy: Policy,
    vpc_id: str,
    *,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    known_clusters: Sequence[str] = (),
) -> AuditReport:
    """Audit the policy's groups in a VPC. Reads only (DescribeVpcs,
    DescribeSecurityGroups). `known_clusters` are other hasg clusters that
    are expected in the VPC, whose groups are therefore not findings."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client

    check_live_arguments("hasg.audit_vpc", policy, vpc_id, known_clusters)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        return audit_live(client, policy, vpc_id, known_clusters=known_clusters)


def audit_live(
    client: EC2Client, policy: Policy, vpc_id: str, *, known_clusters: Sequence[str] = ()
) -> AuditReport:
    from hasg.backends.aws.audit import live_findings, read_live
    from hasg.core.transforms import resolve_vpc_peers

    vpc, live = read_live(
        client, policy.cluster, vpc_id, default_group=policy.restrict_default_group
    )
    expected = resolve_vpc_peers(compile_policy(policy), vpc.cidr)
    ids = {**live.group_ids, DEFAULT_GROUP: live.default_group_id}
    report = audit_blueprint(expected, live.blueprint, source=vpc_id, group_ids=ids)
    strangers = live_findings(client, vpc, live, policy.cluster, known_clusters)
    return replace(report, findings=ordered_findings([*report.findings, *strangers]))


def verify_vpc(
    policy: Policy,
    vpc_id: str,
    *,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> VerifyReport:
    """`hasg verify --vpc`: the reachability check on the groups live in the VPC."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client

    check_live_arguments("hasg.verify_vpc", policy, vpc_id)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        from hasg.backends.aws.audit import read_live

        vpc, live = read_live(
            client, policy.cluster, vpc_id, default_group=policy.restrict_default_group
        )
    return verify(policy, live.blueprint, vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs])


def audit_host(
    policy: Policy,
    nft: Path,
    *,
    inventory: Path | Inventory,
    host: str,
    bastion: Sequence[str] = (),
    networks: Sequence[str] = (),
    egress: str = "open",
) -> HostAudit:
    """`hasg audit --nft`: a host's `nft -j list ruleset` output (the file
    `nft`) against what the policy gives the host with address `host`.

    A file that is not `nft -j` output, an inventory hasg cannot use, or an
    address no host has is an error naming it; what the ruleset holds that
    hasg cannot interpret is a finding (drift), never "clean"."""
    from hasg.backends import nftables
    from hasg.backends.base import enforces_egress, host_rulesets_of
    from hasg.core.inventory import Inventory, load_inventory

    if not isinstance(inventory, Inventory):
        inventory = load_inventory(Path(inventory))
    inventory = inventory.with_options(bastion=bastion, networks=networks)
    wanted = inventory.host(host)
    options = {"inventory": inventory, "egress": egress, "ssh_port": policy.ssh_port}
    (ruleset,) = [r for r in host_rulesets_of(compile_policy(policy), options) if r.host == wanted]
    try:
        text = nft.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise NftReadError(f"{nft}: not UTF-8 text ({error.reason})") from None
    nftables.check_nft_document(text, str(nft))
    return nftables.audit_host(text, ruleset, enforce_egress=enforces_egress(options))
