"""The library's composed entry points: read with a backend, judge with a check.

Backends and checks never import each other (docs/architecture.md); what
needs both (audit a Terraform module, audit or verify a live VPC) is composed
here, above them, as the CLI composes its commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from hasg.checks.audit import AuditReport, audit_blueprint, audit_mapped, ordered_findings
from hasg.checks.reachability import VerifyReport, verify
from hasg.core.blueprint import DEFAULT_GROUP, Blueprint
from hasg.core.compile import compile_policy
from hasg.core.findings import Located, Places
from hasg.core.mapping import MappedGroup, RoleMap, check_role_map, mapped_blueprint
from hasg.core.transforms import resolve_vpc_peers
from hasg.errors import UsageError
from hasg.policy.model import CidrPeer, Policy

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

    from hasg.backends.aws.read import Vpc
    from hasg.backends.terraform.imports import LiveResources
    from hasg.hosts.inventory import Inventory
    from hasg.hosts.probes import HostView


def audit_hcl(policy: Policy, path: Path, *, var_file: Path | None = None) -> AuditReport:
    """Audit a Terraform file or module directory, as hasg emitted it or as
    edited by hand (`audit_from(policy, "terraform", path, var_file=...)`).
    Variables take their defaults, or the values of `var_file`.

    No AWS: both sides name the VPC's CIDR symbolically (`data.aws_vpc` in
    the HCL, a "vpc" peer in the policy), so they compare as they are.

    A rule made once per CIDR of a policy list (`for_each` over the list's
    variable) has no instance while the list is empty, so one valuation of
    the variables cannot judge it: a module that opens SSH to 0.0.0.0/0 as
    soon as someone sets `admin_cidrs_ipv4` is not clean. The module is
    judged again with every CIDR list variable it declares set to values of
    its own (`list_valuations`), against the policy with the same lists, and
    with every list empty; what differs under any valuation is drift, named
    with the valuation (`AuditSource.with_lists`).
    """
    return audit_from(policy, "terraform", path, var_file=var_file)


def audit_from(policy: Policy, target: str, path: Path | str, **options: Any) -> AuditReport:
    """`hasg audit --from TARGET PATH`: the files of any target with a reader,
    judged against the policy. A target's Blueprint (Terraform, CloudFormation)
    is compared with the policy's; a host's firewall (nftables, firewalld) is
    tried on the probe space by the host audit. `options` are the target's
    (`hasg audit --from TARGET --help`), by their Python names: the host
    targets take `inventory`, `host`, `bastion`, `networks`, `egress`."""
    from hasg.backends.base import load_backend

    backend = load_backend(target)
    source = backend.audit
    if source is None:
        raise UsageError(f"hasg audit --from {target}: the {target} target has no reader")
    given = backend.audit_options(options)
    read = source.read(Path(path), given)
    if isinstance(read, Blueprint):
        read = Located(read, Places())
    if isinstance(read, Located):
        expected = compile_policy(policy)
        report = audit_blueprint(expected, read.blueprint, source=str(path), places=read.places)
        with_lists = source.with_lists
        if with_lists is None:
            return report
        findings = list(report.findings)
        for label, lists in list_valuations(policy, read.blueprint.cidr_lists):
            valued = with_lists(Path(path), given, lists)
            judged = audit_blueprint(
                compile_policy(policy.model_copy(update=lists)),
                valued.blueprint,
                source=str(path),
                places=valued.places,
            )
            for finding in judged.findings:
                labelled = replace(finding, detail=f"{label}: {finding.detail}")
                if labelled not in findings and finding not in report.findings:
                    findings.append(labelled)
        return replace(report, findings=ordered_findings(findings))
    return _audit_host_view(
        policy,
        read,
        str(path),
        given["inventory"],
        given["host"],
        given.get("bastion") or (),
        given.get("networks") or (),
        given.get("egress") or "open",
    )


# Values no policy list is likely to hold (documentation ranges, RFC 5737 and
# RFC 3849), each at most a public /24 or /48, so that no flow's world guard
# refuses them: one pair per list, that the valuation's rules are told apart.
_SAMPLE_CIDRS: tuple[tuple[str, str], ...] = (
    ("192.0.2.0/24", "2001:db8:2::/48"),
    ("198.51.100.0/24", "2001:db8:3::/48"),
    ("203.0.113.0/24", "2001:db8:4::/48"),
)


def list_valuations(
    policy: Policy, module_lists: Mapping[str, Sequence[str]]
) -> list[tuple[str, dict[str, tuple[str, ...]]]]:
    """The valuations of the CIDR list variables a module declares under which
    `audit_hcl` judges it again, besides the given one: every list filled
    (every rule made per CIDR has instances), and every list empty (the VPC
    fallback of `user_cidrs`). Each is (label, {list: CIDRs}), for the policy
    and, by the target's `AuditSource.with_lists`, for its files."""
    names = sorted(set(module_lists) & {"admin_cidrs", "user_cidrs"})
    if not names:
        return []
    taken = {c for flow in policy.flows for c in _cidrs_of(flow)}
    taken |= {c for name in names for c in getattr(policy, name)}
    samples = [pair for pair in _SAMPLE_CIDRS if not taken & set(pair)]
    filled = {name: samples[i % len(samples)] for i, name in enumerate(names)}
    empty: dict[str, tuple[str, ...]] = {name: () for name in names}
    return [
        ("with every CIDR list set (" + _shown(filled) + ")", dict(filled)),
        ("with every CIDR list empty", empty),
    ]


def _cidrs_of(flow: object) -> tuple[str, ...]:
    sides = (getattr(flow, "source", None), getattr(flow, "destination", None))
    return tuple(side.cidr for side in sides if isinstance(side, CidrPeer))


def _shown(lists: Mapping[str, Sequence[str]]) -> str:
    return ", ".join(f"{name} = {', '.join(cidrs)}" for name, cidrs in lists.items())


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
    DescribeSecurityGroups; with findings, DescribeSecurityGroupRules for the
    ids of the rules they are in). `known_clusters` are other hasg clusters that
    are expected in the VPC, whose groups are therefore not findings.

    With `role_map` (role -> group ids, or the CLI's `ROLE=sg-1+sg-2,...`) or
    `map_tag` (a tag whose value names a group's roles), audit groups hasg
    did not build instead (docs/aws.md, "Auditing groups hasg did not build"):
    `hasg.checks.audit.audit_mapped`."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.session import aws_errors, make_client

    check_live_arguments("hasg.audit_vpc", policy, vpc_id, known_clusters)
    mapping = _checked_mapping(policy, role_map, map_tag)
    if mapping is not None and known_clusters:
        raise UsageError("--known-cluster names hasg clusters: not with --map or --map-tag")

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        if mapping is None:
            return audit_live(client, policy, vpc_id, known_clusters=known_clusters)
        return _audit_mapped(client, policy, vpc_id, *mapping)


def audit_dumps(
    policy: Policy,
    files: Sequence[Path | str] | Path | str,
    *,
    vpc_id: str | None = None,
    known_clusters: Sequence[str] = (),
    role_map: str | Mapping[str, str | Sequence[str]] | None = None,
    map_tag: str | None = None,
) -> AuditReport:
    """`audit_vpc` without AWS: the VPC as the AWS CLI's JSON output shows it
    (`hasg audit --groups-json`). `files` hold the output of `aws ec2
    describe-security-groups --output json`, of `describe-vpcs` (the VPC's
    CIDRs, which the policy's `vpc` peer stands for) and, for rule ids, of
    `describe-security-group-rules`, in any order, one or several documents
    each (`hasg.backends.aws.dump`). `vpc_id` says which VPC of the dumps to
    audit; without it, the one describe-vpcs output holds.

    The audit is the live one, finding for finding, run on what the files
    hold: what they do not hold (groups of other VPCs that refer to the
    policy's groups, where the dump is of one VPC) it cannot see. A file that
    is not what the AWS CLI writes is a DumpReadError naming it and where."""
    from hasg.backends.aws.audit import check_live_arguments

    dumped = _dumped("hasg.audit_dumps", policy, files, vpc_id, role_map, map_tag)
    check_live_arguments("hasg.audit_dumps", policy, dumped.vpc_id, known_clusters)
    if dumped.mapping is not None and known_clusters:
        raise UsageError("--known-cluster names hasg clusters: not with --map or --map-tag")
    client, vpc, source = dumped.client, dumped.vpc_id, dumped.source
    if dumped.mapping is None:
        return audit_live(client, policy, vpc, known_clusters=known_clusters, source=source)
    return _audit_mapped(client, policy, vpc, *dumped.mapping, source=source)


def verify_dumps(
    policy: Policy,
    files: Sequence[Path | str] | Path | str,
    *,
    vpc_id: str | None = None,
    role_map: str | Mapping[str, str | Sequence[str]] | None = None,
    map_tag: str | None = None,
) -> VerifyReport:
    """`verify_vpc` without AWS, on the AWS CLI's JSON output (as `audit_dumps`)."""
    from hasg.backends.aws.audit import check_live_arguments

    dumped = _dumped("hasg.verify_dumps", policy, files, vpc_id, role_map, map_tag)
    check_live_arguments("hasg.verify_dumps", policy, dumped.vpc_id)
    return _verify_client(dumped.client, policy, dumped.vpc_id, dumped.mapping)


class _Dumped(NamedTuple):
    client: EC2Client  # the dumps, answering the live audit's read calls
    vpc_id: str
    source: str  # "vpc-1 as dumped in a.json, b.json"
    mapping: tuple[RoleMap | None, str | None] | None


def _dumped(
    where: str,
    policy: Policy,
    files: Sequence[Path | str] | Path | str,
    vpc_id: str | None,
    role_map: object,
    map_tag: object,
) -> _Dumped:
    """The dumps, as the client the live audit reads (`hasg.backends.aws.dump`),
    the VPC to audit, and the mapping, each refused as the CLI refuses it."""
    from hasg.backends.aws.audit import check_live_arguments
    from hasg.backends.aws.dump import read_dumps

    if not isinstance(policy, Policy):
        raise UsageError(f"{where}: expected a hasg.Policy, not {type(policy).__name__}")
    if vpc_id is not None:
        check_live_arguments(where, policy, vpc_id)
    mapping = _checked_mapping(policy, role_map, map_tag)
    listed = [files] if isinstance(files, (str, Path)) else files
    if not isinstance(listed, Sequence) or not all(isinstance(f, (str, Path)) for f in listed):
        raise UsageError(f"{where}: files are paths of the AWS CLI's output, not {files!r}")
    dumps = read_dumps([Path(f) for f in listed])
    vpc = vpc_id or dumps.only_vpc()
    source = f"{vpc} as dumped in {', '.join(dumps.files)}"
    # The dumps answer the read calls the live audit makes of EC2: they stand for its client.
    return _Dumped(cast("EC2Client", dumps), vpc, source, mapping)


def _audit_mapped(
    client: EC2Client,
    policy: Policy,
    vpc_id: str,
    role_map: RoleMap | None,
    map_tag: str | None,
    *,
    source: str = "",
) -> AuditReport:
    from hasg.backends.aws.audit import vpc_places, with_rule_ids

    vpc, groups = _read_mapped(client, policy, vpc_id, role_map, map_tag)
    expected = resolve_vpc_peers(compile_policy(policy), vpc.cidr)
    ids = {g.group_id: g.group_id for g in groups}

    def audit(places: Places) -> AuditReport:
        return audit_mapped(
            expected,
            groups,
            vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs],
            source=source or vpc_id,
            places=places,
        )

    report = audit(vpc_places(vpc.id, ids))
    if report.ok:
        return report
    # Mapped rules are read with no role names: their group peers are group ids.
    return audit(with_rule_ids(client, vpc_places(vpc.id, ids), ids, {}))


def _checked_mapping(
    policy: Policy, role_map: object, map_tag: object
) -> tuple[RoleMap | None, str | None] | None:
    """The map or the tag, refused as the CLI refuses them, in its words (the
    options are the keywords role_map and map_tag); None for hasg's own groups."""
    if role_map is not None and map_tag is not None:
        raise UsageError("--map or --map-tag, not both")
    if role_map is not None:
        return check_role_map("--map", role_map, [r.id for r in policy.roles]), None
    if map_tag is not None:
        if not isinstance(map_tag, str) or not map_tag.strip():
            raise UsageError(f"--map-tag: a tag key, not {map_tag!r}")
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
    client: EC2Client,
    policy: Policy,
    vpc_id: str,
    *,
    known_clusters: Sequence[str] = (),
    source: str = "",
) -> AuditReport:
    """The audit of hasg's own groups of the policy's cluster in the VPC, as
    `client` reads them. Findings are located in the VPC, their group and,
    for a rule that is there, the rule (one DescribeSecurityGroupRules, made
    only when there is drift)."""
    from hasg.backends.aws.audit import live_findings, read_live, vpc_places, with_rule_ids

    vpc, live = read_live(
        client, policy.cluster, vpc_id, default_group=policy.restrict_default_group
    )
    expected = resolve_vpc_peers(compile_policy(policy), vpc.cidr)
    ids = {**live.group_ids, DEFAULT_GROUP: live.default_group_id}

    def audit(places: Places) -> AuditReport:
        return audit_blueprint(
            expected, live.blueprint, source=source or vpc_id, group_ids=ids, places=places
        )

    report = audit(vpc_places(vpc.id, ids))
    if not report.ok:
        # The rules' group peers as `live_state` names them: hasg's groups by
        # role, and in the default group's own rules, itself as DEFAULT_GROUP.
        roles = {group_id: role for role, group_id in live.group_ids.items()}
        default = {**roles, live.default_group_id: DEFAULT_GROUP}
        places = with_rule_ids(
            client,
            vpc_places(vpc.id, ids),
            ids,
            lambda group_id: default if group_id == live.default_group_id else roles,
        )
        report = audit(places)
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
    mapping = _checked_mapping(policy, role_map, map_tag)

    with aws_errors():
        client = make_client(session, region=region, profile=profile, endpoint_url=endpoint_url)
        return _verify_client(client, policy, vpc_id, mapping)


def _verify_client(
    client: EC2Client,
    policy: Policy,
    vpc_id: str,
    mapping: tuple[RoleMap | None, str | None] | None,
) -> VerifyReport:
    """`verify_vpc` on what `client` reads. Findings are located in the VPC and
    the role's groups."""
    from hasg.backends.aws.audit import read_live, vpc_places

    groups_of: dict[str, list[str]]
    if mapping is None:
        vpc, live = read_live(
            client, policy.cluster, vpc_id, default_group=policy.restrict_default_group
        )
        blueprint = live.blueprint
        groups_of = {role: [gid] for role, gid in live.group_ids.items()}
        if live.default_group_id:
            groups_of[DEFAULT_GROUP] = [live.default_group_id]
    else:
        vpc, groups = _read_mapped(client, policy, vpc_id, *mapping)
        blueprint = mapped_blueprint(policy.cluster, groups)
        groups_of = {}
        for group in groups:
            for role in group.roles:
                groups_of.setdefault(role, []).append(group.group_id)
    places = vpc_places(vpc.id, {gid: gid for ids in groups_of.values() for gid in ids})
    locations = {
        role: tuple(places.group(gid) for gid in groups_of.get(role, ())) or (places.source,)
        for role in (*(r.id for r in policy.roles), *groups_of)
    }
    return verify(policy, blueprint, vpc_cidrs=[vpc.cidr, *vpc.ipv6_cidrs], locations=locations)


def audit_host(
    policy: Policy,
    nft: Path,
    *,
    inventory: Path | Inventory,
    host: str,
    bastion: Sequence[str] = (),
    networks: Sequence[str] = (),
    egress: str = "open",
) -> AuditReport:
    """`hasg audit --nft` (`audit_from(policy, "nftables", ...)`): a host's
    `nft -j list ruleset` output (the file `nft`; -n and -a dumps read the
    same) judged on the probe space against what the policy gives the host
    with address `host`.

    A file that is not `nft -j` output, an inventory hasg cannot use, or an
    address no host has is an error naming it (exit 1); what the ruleset
    holds that hasg cannot evaluate is a finding (drift), never "clean"."""
    return audit_from(
        policy,
        "nftables",
        nft,
        inventory=inventory,
        host=host,
        bastion=list(bastion),
        networks=list(networks),
        egress=egress,
    )


def _audit_host_view(
    policy: Policy,
    view: HostView,
    source: str,
    inventory: Path | Inventory | None,
    host: str,
    bastion: Sequence[str],
    networks: Sequence[str],
    egress: str,
) -> AuditReport:
    """Any reader's view of one host, judged by the one host audit."""
    from hasg.checks.audit import audit_host as judge
    from hasg.hosts.inventory import Inventory, load_inventory
    from hasg.hosts.options import enforces_egress, host_rulesets_of
    from hasg.hosts.probes import audit_services

    if inventory is None:
        raise UsageError("a host's audit needs the site's inventory (--inventory FILE)")
    if not isinstance(inventory, Inventory):
        inventory = load_inventory(Path(inventory))
    inventory = inventory.with_options(bastion=bastion, networks=networks)
    wanted = inventory.host(host)
    blueprint = compile_policy(policy)
    # Both directions' rules: with egress open, those the policy requires still count.
    options = {"inventory": inventory, "egress": "enforce", "ssh_port": policy.ssh_port}
    (ruleset,) = [r for r in host_rulesets_of(blueprint, options) if r.host == wanted]
    enforce = enforces_egress({"egress": egress})
    return judge(
        ruleset, inventory, view, audit_services(blueprint), enforce_egress=enforce, source=source
    )


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
