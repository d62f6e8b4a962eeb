"""The library's composed entry points: read with a backend, judge with a check.

Backends and checks never import each other (docs/architecture.md); what
needs both (audit a Terraform module, audit or verify a live VPC) is composed
here, above them, as the CLI composes its commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hasg.checks.audit import AuditReport, audit_blueprint, audit_mapped, ordered_findings
from hasg.checks.reachability import VerifyReport, verify
from hasg.core.blueprint import DEFAULT_GROUP
from hasg.core.compile import compile_policy
from hasg.core.mapping import MappedGroup, RoleMap, check_role_map, mapped_blueprint
from hasg.core.transforms import resolve_vpc_peers
from hasg.errors import NftReadError, UsageError
from hasg.policy.model import Policy

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

    from hasg.backends.aws.read import Vpc
    from hasg.backends.nftables import HostAudit
    from hasg.backends.terraform.imports import LiveResources
    from hasg.core.blueprint import Blueprint
    from hasg.core.inventory import Inventory


def audit_hcl(policy: Policy, path: Path, *, var_file: Path | None = None) -> AuditReport:
    """Audit a Terraform file or module directory, as hasg emitted it or as
    edited by hand. Variables take their defaults, or the values of `var_file`.

    No AWS: both sides name the VPC's CIDR symbolically (`data.aws_vpc` in
    the HCL, a "vpc" peer in the policy), so they compare as they are.
    """
    from hasg.backends.terraform.read import read_hcl_dir

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
    role_map: str | Mapping[str, str | Sequence[str]] | None = None,
    map_tag: str | None = None,
) -> AuditReport:
    """Audit the policy's groups in a VPC. Reads only (DescribeVpcs,
    DescribeSecurityGroups). `known_clusters` are other hasg clusters that
    are expected in the VPC, whose groups are therefore not findings.

    With `role_map` (role -> group ids, or the CLI's `ROLE=sg-1+sg-2,...`) or
    `map_tag` (a tag whose value names a group's roles), audit groups hasg
    did not build instead (docs/aws.md, "Auditing groups hasg did not build"):
    `hasg.checks.audit.audit_mapped`."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client

    check_live_arguments("hasg.audit_vpc", policy, vpc_id, known_clusters)
    mapping = _checked_mapping("hasg.audit_vpc", policy, role_map, map_tag)
    if mapping is not None and known_clusters:
        raise UsageError("hasg.audit_vpc: known_clusters are hasg clusters: not with a map")

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        if mapping is None:
            return audit_live(client, policy, vpc_id, known_clusters=known_clusters)
        vpc, groups = _read_mapped(client, policy, vpc_id, *mapping)
    expected = resolve_vpc_peers(compile_policy(policy), vpc.cidr)
    return audit_mapped(expected, groups, vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs], source=vpc_id)


def _checked_mapping(
    where: str, policy: Policy, role_map: object, map_tag: object
) -> tuple[RoleMap | None, str | None] | None:
    """The map or the tag, refused as the CLI refuses them; None for hasg's own groups."""
    if role_map is not None and map_tag is not None:
        raise UsageError(f"{where}: a map or a map tag, not both")
    if role_map is not None:
        return check_role_map(where, role_map, [r.id for r in policy.roles]), None
    if map_tag is not None:
        if not isinstance(map_tag, str) or not map_tag.strip():
            raise UsageError(f"{where}: the map tag is a tag key, not {map_tag!r}")
        return None, map_tag
    return None


def _read_mapped(
    client: EC2Client, policy: Policy, vpc_id: str, role_map: RoleMap | None, map_tag: str | None
) -> tuple[Vpc, tuple[MappedGroup, ...]]:
    from hasg.backends.aws.audit import read_mapped
    from hasg.backends.aws.read import read_vpc

    vpc = read_vpc(client, vpc_id)
    roles = [r.id for r in policy.roles]
    return vpc, read_mapped(client, vpc, roles, role_map=role_map, map_tag=map_tag)


def audit_live(
    client: EC2Client, policy: Policy, vpc_id: str, *, known_clusters: Sequence[str] = ()
) -> AuditReport:
    from hasg.backends.aws.audit import live_findings, read_live

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
    role_map: str | Mapping[str, str | Sequence[str]] | None = None,
    map_tag: str | None = None,
) -> VerifyReport:
    """`hasg verify --vpc`: the reachability check on the groups live in the VPC,
    hasg's own or, with `role_map` or `map_tag`, groups mapped to roles (as for
    `audit_vpc`), each role with the union of its groups' rules."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client

    check_live_arguments("hasg.verify_vpc", policy, vpc_id)
    mapping = _checked_mapping("hasg.verify_vpc", policy, role_map, map_tag)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        from hasg.backends.aws.audit import read_live

        if mapping is None:
            vpc, live = read_live(
                client, policy.cluster, vpc_id, default_group=policy.restrict_default_group
            )
            blueprint = live.blueprint
        else:
            vpc, groups = _read_mapped(client, policy, vpc_id, *mapping)
            blueprint = mapped_blueprint(policy.cluster, groups)
    return verify(policy, blueprint, vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs])


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


@dataclass(frozen=True)
class TerraformImport:
    """`hasg emit terraform --import-from-vpc`: the module's files, `imports.tf`
    and `terraform.tfvars`; and the report of what could not be imported."""

    files: dict[str, str]
    imports: int
    report: AuditReport


def import_from_vpc(
    policy: Policy,
    vpc_id: str,
    *,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> TerraformImport:
    """The Terraform module of `policy`, with an `import` block for every group
    and rule of it that `vpc_id` already holds (the live id of each), and the
    variable values those ids hold for. Reads only (DescribeVpcs,
    DescribeSecurityGroups, DescribeSecurityGroupRules). What the module
    declares and the VPC lacks, what only a group hasg does not own could
    stand for, and what the VPC holds beyond the module are the report's
    findings: the report is clean only when every declared resource is imported."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client
    from hasg.backends.terraform import BACKEND
    from hasg.backends.terraform.imports import (
        IMPORTS_FILE,
        TFVARS_FILE,
        import_blocks,
        import_tfvars,
    )

    check_live_arguments("hasg.import_from_vpc", policy, vpc_id)
    blueprint = compile_policy(policy)
    files = BACKEND.emit(blueprint)
    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        live = read_importable(client, blueprint, vpc_id)
    adoption = import_blocks(blueprint, live)
    files[IMPORTS_FILE] = adoption.text
    files[TFVARS_FILE] = import_tfvars(blueprint, vpc_id)
    report = AuditReport(
        blueprint.cluster,
        vpc_id,
        adoption.groups_declared,
        adoption.rules_declared,
        ordered_findings(adoption.findings),
    )
    return TerraformImport(dict(sorted(files.items())), len(adoption.imported), report)


def read_importable(client: EC2Client, blueprint: Blueprint, vpc_id: str) -> LiveResources:
    """What the VPC holds of the Blueprint's cluster, as the import needs it.

    Ownership is decided as `hasg apply` decides it (`live_state`): exact tags
    and hasg's name. A role whose group is misnamed or claimed twice, or whose
    name a group hasg does not own holds, is refused: never imported."""
    from hasg.backends.aws.audit import read_live
    from hasg.backends.aws.read import name_conflicts, read_rules
    from hasg.backends.terraform.imports import LiveResources, LiveRule

    restrict = blueprint.default_group is not None
    vpc, live = read_live(client, blueprint.cluster, vpc_id, default_group=restrict)
    absent = [g for g in blueprint if g.role not in live.group_ids]
    # A misnamed group is a stranger wearing hasg's tags: reported beside the
    # role's own group (which apply would keep), never imported in its place.
    misnamed = [b for b in live.blockers if b.kind == "misnamed"]
    others = [b for b in live.blockers if b.kind != "misnamed"]
    blockers = [*others, *name_conflicts(live, blueprint.cluster, absent)]
    refused = {b.role: b.message for b in blockers}
    owned = {role: gid for role, gid in live.group_ids.items() if role not in refused}
    if restrict:  # the module adopts the VPC's default group: its id, and its rules
        owned[DEFAULT_GROUP] = live.default_group_id
    return LiveResources(
        vpc_id=vpc.id,
        vpc_cidr=vpc.cidr,
        group_ids=owned,
        group_descriptions={g.role: g.description for g in live.blueprint if g.role in owned},
        rules=[LiveRule(*found) for found in read_rules(client, owned, live.owner_ids)],
        strangers=[(b.role, b.group_id, b.message) for b in misnamed],
        refused=refused,
    )
