"""Terraform `import` blocks that adopt the groups and rules `hasg apply` made
into the module `hasg emit terraform` writes, so that `terraform plan` finds
them instead of creating the cluster's groups again.

Pure: the live side arrives as `LiveResources` (read by the AWS backend and
composed in `hasg.workflows`). Each address comes from `resource_instances`,
the code that names the module's resources, so the two cannot drift.

Terraform 1.5 takes one `import` block per resource instance, with a literal
address: `for_each` inside `import` arrived in Terraform 1.7, and the module
promises `>= 1.5.0`. So a list rule's instances get a block each,
`to = aws_vpc_security_group_ingress_rule.NAME["198.51.100.0/24"]`.

A declared instance gets one import block, with the live id, or a finding
(never a guess): its group or rule is not in the VPC, its group's name is
held by a group hasg does not own, or two live rules would match it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hasg.backends.terraform.hcl import (
    ResourceInstance,
    family_cidrs,
    list_variable,
    resource_instances,
)
from hasg.backends.terraform.writer import Block, Expr, Value, render, render_attributes
from hasg.core.blueprint import (
    DEFAULT_GROUP,
    DEFAULT_GROUP_NAME,
    Blueprint,
    Direction,
    Peer,
    PeerKind,
    Rule,
)
from hasg.core.findings import Finding, FindingKind
from hasg.core.networks import FAMILIES, canonical_cidr
from hasg.core.protocols import Protocol

IMPORTS_FILE = "imports.tf"
TFVARS_FILE = "terraform.tfvars"


@dataclass(frozen=True)
class LiveRule:
    """One rule of a live group, with its id (`sgr-...`). A peer that is one of
    the cluster's groups names its role; any other group keeps its id."""

    role: str
    rule_id: str
    rule: Rule


@dataclass(frozen=True)
class LiveResources:
    """What a VPC holds of a cluster: the groups hasg owns there, and their rules.

    `refused` names the roles whose group must not be imported, and why: a
    group hasg does not own holds the name, or two groups claim the role."""

    vpc_id: str
    vpc_cidr: str
    group_ids: Mapping[str, str]
    group_descriptions: Mapping[str, str]
    rules: Sequence[LiveRule] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    # (role, group id, why): groups carrying hasg's tags for a role under a
    # name hasg does not give it; reported, never imported.
    strangers: Sequence[tuple[str, str, str]] = ()


@dataclass(frozen=True)
class Adoption:
    """The import blocks (`imports.tf`), what they import, and what could not be."""

    text: str
    imported: tuple[tuple[ResourceInstance, str], ...]
    findings: tuple[Finding, ...]
    groups_declared: int
    rules_declared: int


# A rule as both sides are matched: by meaning (a network in its one
# spelling), never by how the text is written.
_Identity = tuple[str, Direction, Protocol, int, int, PeerKind, str]


def _identity(role: str, rule: Rule) -> _Identity:
    peer = rule.peer
    value = peer.value
    if peer.is_network:
        # Not a network: it matches nothing declared, and is reported.
        with contextlib.suppress(ValueError):
            value = canonical_cidr(value)
    return (role, rule.direction, rule.protocol, rule.from_port, rule.to_port, peer.kind, value)


def import_blocks(blueprint: Blueprint, live: LiveResources) -> Adoption:
    """One `import` block per resource instance of the module that exists in
    the VPC; a finding for every other one, and for every live rule of an
    imported group that the module does not declare."""
    instances = resource_instances(blueprint)
    adopter = _Adopter(blueprint, live)
    for instance in instances:
        if instance.rule is None:
            adopter.group(instance)
        else:
            adopter.rule(instance, instance.rule)
    adopter.leftovers()
    blocks = [
        Block("import").attr("to", Expr(instance.address)).attr("id", live_id)
        for instance, live_id in adopter.imported
    ]
    header = (
        f"# The groups and rules of cluster {blueprint.cluster} that {live.vpc_id} already "
        "holds,\n# written by `hasg emit terraform --import-from-vpc`. Needs Terraform 1.5+.\n"
    )
    return Adoption(
        text=header + ("\n" + render(blocks) if blocks else ""),
        imported=tuple(adopter.imported),
        findings=tuple(adopter.findings),
        groups_declared=sum(1 for i in instances if i.rule is None),
        rules_declared=sum(1 for i in instances if i.rule is not None),
    )


class _Adopter:
    """Matches declared instances to live resources, once each, noting what it cannot."""

    def __init__(self, blueprint: Blueprint, live: LiveResources) -> None:
        self.blueprint = blueprint
        self.live = live
        self.names = {g.role: g.name for g in blueprint}
        if blueprint.default_group is not None:
            self.names[DEFAULT_GROUP] = DEFAULT_GROUP_NAME
        self.adopted = {
            role: group_id
            for role, group_id in live.group_ids.items()
            if role not in live.refused and role in self.names
        }
        self.by_identity: dict[_Identity, list[LiveRule]] = {}
        for live_rule in live.rules:
            if live_rule.role in self.adopted:
                key = _identity(live_rule.role, live_rule.rule)
                self.by_identity.setdefault(key, []).append(live_rule)
        self.claimed: set[str] = set()
        self.importer: dict[str, str] = {}  # live rule id -> the address importing it
        self.imported: list[tuple[ResourceInstance, str]] = []
        self.findings: list[Finding] = []

    def note(self, kind: FindingKind, role: str, detail: str, group_id: str = "") -> None:
        name = self.names.get(role, role)
        self.findings.append(
            Finding(kind, role, name, detail, group_id or self.adopted.get(role, ""))
        )

    def group(self, instance: ResourceInstance) -> None:
        role = instance.role
        if role not in self.adopted:
            why = (
                self.live.refused.get(role) or f"no group {self.names[role]} in {self.live.vpc_id}"
            )
            self.note("missing_group", role, f"{instance.address}: not imported: {why}")
            return
        self.imported.append((instance, self.adopted[role]))
        if role == DEFAULT_GROUP:
            return  # AWS's group: its description is AWS's, and the module sets none
        declared = self.blueprint[role].description
        found = self.live.group_descriptions.get(role, declared)
        if found != declared:
            self.note(
                "changed_group",
                role,
                f"{instance.address}: the live description {found!r} is not the module's "
                f"{declared!r}; AWS cannot change a group's description, so terraform plan "
                "will replace the group",
            )

    def rule(self, instance: ResourceInstance, rule: Rule) -> None:
        role = instance.role
        wanted = rule
        if rule.peer.is_vpc:
            # The module's data.aws_vpc.this.cidr_block: the VPC's primary CIDR.
            wanted = dataclasses.replace(rule, peer=Peer("cidr_ipv4", self.live.vpc_cidr))
        if role not in self.adopted:
            self.note(
                "missing_rule",
                role,
                f"{instance.address}: {wanted} is not imported with its group: "
                "terraform plan will create it",
            )
            return
        matches = self.by_identity.get(_identity(role, wanted), [])
        self.claimed.update(m.rule_id for m in matches)
        if not matches:
            self.note(
                "missing_rule",
                role,
                f"{instance.address}: {wanted} is not in the VPC: terraform plan will create it",
            )
        elif len(matches) > 1:
            self.note(
                "missing_rule",
                role,
                f"{instance.address}: not imported: {len(matches)} live rules "
                f"({', '.join(m.rule_id for m in matches)}) are {wanted}, and hasg does not "
                "guess which one",
            )
        elif matches[0].rule_id in self.importer:
            # Two resources of one AWS rule would fight over it in every apply.
            self.note(
                "missing_rule",
                role,
                f"{instance.address}: not imported: its live rule {matches[0].rule_id} is "
                f"imported as {self.importer[matches[0].rule_id]}, and the module declares "
                f"{wanted} twice",
            )
        else:
            (match,) = matches
            self.importer[match.rule_id] = instance.address
            self.imported.append((instance, match.rule_id))
            if match.rule.description != rule.description:
                self.note(
                    "changed_rule",
                    role,
                    f"{instance.address} ({match.rule_id}): the live description "
                    f"{match.rule.description!r} is not the module's {rule.description!r}; "
                    "terraform plan will update it in place",
                )

    def leftovers(self) -> None:
        """What the VPC holds of the cluster beyond the module."""
        for live_rule in self.live.rules:
            if live_rule.role == DEFAULT_GROUP:
                self.note(
                    "extra_rule",
                    DEFAULT_GROUP,
                    f"{live_rule.rule} ({live_rule.rule_id}) of the VPC's default group: "
                    "terraform apply will remove it (restrict_default_group)",
                )
            elif live_rule.role in self.adopted and live_rule.rule_id not in self.claimed:
                self.note(
                    "extra_rule",
                    live_rule.role,
                    f"{live_rule.rule} ({live_rule.rule_id}) is not declared by the module: "
                    "terraform will neither manage nor remove it (the module's groups "
                    "declare no inline rules)",
                )
        for role, group_id in self.live.group_ids.items():
            if role not in self.names:
                self.note(
                    "extra_group",
                    role,
                    f"a group of cluster {self.blueprint.cluster} for role {role}, which the "
                    "module does not declare: not imported; terraform will neither manage "
                    "nor delete it",
                    group_id,
                )
        for role, group_id, why in self.live.strangers:
            self.note("misnamed_group", role, why, group_id)


def import_tfvars(blueprint: Blueprint, vpc_id: str) -> str:
    """The variable values the import ids hold for: the VPC, and the policy's
    lists (the variables' defaults, written out so that an edited default
    cannot silently point an import at another rule)."""
    values: list[tuple[str, Value]] = [("vpc_id", vpc_id)]
    for name, cidrs in blueprint.cidr_lists.items():
        for family in FAMILIES:
            values.append((list_variable(name, family), family_cidrs(cidrs, family)))
    return render_attributes(values)
