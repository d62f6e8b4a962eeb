"""Blueprint -> a Terraform module.

The module uses `aws_vpc_security_group_ingress_rule` / `_egress_rule`, one
peer per rule, each keyed by a name made from what the rule is, so reordering
the policy never renames (and so never recreates) a resource. Policy CIDR
lists become variables and `for_each` maps keyed by the CIDR itself. Its
reader is `read.py` (`read_hcl(to_hcl(b)) == b`, descriptions included), kept
apart so that writing a module loads none of the reading.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import NamedTuple

from hasg.backends.terraform.writer import Block, Expr, Value, quote, render
from hasg.core.blueprint import (
    DEFAULT_GROUP,
    Blueprint,
    Direction,
    Peer,
    PeerKind,
    Rule,
    SecurityGroup,
)
from hasg.core.digest import (
    CIDR_SEPARATOR,
    DIGEST_LENGTH,
    LINE_SEPARATOR,
    list_inputs,
    list_line,
    policy_digest,
    shape,
)
from hasg.core.naming import unique_names
from hasg.core.networks import FAMILIES, WORLD, Family, covers_world, family_of
from hasg.core.peers import VPC_FALLBACK_LISTS, cidr_peer, icmp_for
from hasg.core.ports import world_safe
from hasg.core.protocols import Protocol
from hasg.core.tags import POLICY_DIGEST_TAG

# The one table of how an aws_vpc_security_group_*_rule names its peer, by
# kind: the writer sets that attribute, and the reader reads exactly these
# (a "vpc" peer is cidr_ipv4 = data.aws_vpc's cidr_block).
PEER_ATTRIBUTE: dict[PeerKind, str] = {
    "group": "referenced_security_group_id",
    "vpc": "cidr_ipv4",
    "prefix_list": "prefix_list_id",
    "cidr_ipv4": "cidr_ipv4",
    "cidr_ipv6": "cidr_ipv6",
}
MODULE_FILES = ("versions.tf", "variables.tf", "main.tf", "outputs.tf")
RULE_TYPES: dict[Direction, str] = {
    "ingress": "aws_vpc_security_group_ingress_rule",
    "egress": "aws_vpc_security_group_egress_rule",
}
GROUP_TYPE = "aws_security_group"
TERRAFORM_VERSION = ">= 1.5.0"  # strcontains() arrived in Terraform 1.5
AWS_PROVIDER_VERSION = ">= 5.0"  # the aws_vpc_security_group_*_rule resources
_VPC_CIDR = "data.aws_vpc.this.cidr_block"
# The for_each key of the one instance a VPC-fallback list's IPv4 rule has
# when the list is empty in both families (`_list_local_expression`).
VPC_FALLBACK_KEY = "vpc"
# The module creates groups; what uses them is the caller's, so the one checkov
# check skipped is CKV2_AWS_5 ("security group attached to a resource"), which
# cannot pass inside a module that attaches nothing.
CHECKOV_UNATTACHED_CHECK = "CKV2_AWS_5"


def checkov_skip(group: SecurityGroup) -> str:
    """The inline skip of CKV2_AWS_5 in a group's resource, with its reason."""
    return (
        f"checkov:skip={CHECKOV_UNATTACHED_CHECK}: this module only creates the group; the "
        f"caller attaches it to what plays the {group.role} role (output security_group_ids)"
    )


def list_variable(name: str, family: str) -> str:
    """Terraform variable of one family of a policy CIDR list.

    One variable per family because the rule resources take `cidr_ipv4` or
    `cidr_ipv6`; each variable's validation then speaks of one family.
    """
    return f"{name}_{family}"


# --------------------------------------------------------------------------- emit


def to_hcl(blueprint: Blueprint) -> str:
    """One self-contained Terraform configuration (what `hasg emit-hcl` prints)."""
    module = to_hcl_module(blueprint)
    return "\n".join(module[name] for name in MODULE_FILES)


def to_hcl_module(blueprint: Blueprint) -> dict[str, str]:
    """A module: versions.tf, variables.tf, main.tf and outputs.tf. What
    Terraform cannot express is refused first, as `hasg emit terraform` does."""
    from hasg.backends.terraform import BACKEND  # the package's registration, not a cycle

    BACKEND.refuse_unsupported(blueprint)
    return {
        "versions.tf": render([_versions()]),
        "variables.tf": render(_variables(blueprint)),
        "main.tf": render(_main(blueprint)),
        "outputs.tf": render(_outputs(blueprint)),
    }


def _versions() -> Block:
    provider = {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}
    return (
        Block("terraform")
        .attr("required_version", TERRAFORM_VERSION)
        .blank()
        .block(Block("required_providers").attr("aws", provider))
    )


def _variables(blueprint: Blueprint) -> list[Block]:
    vpc_id = (
        Block("variable", ("vpc_id",))
        .attr("description", "ID of the VPC the security groups belong to.")
        .attr("type", Expr("string"))
        .blank()
        .block(
            Block("validation")
            .attr("condition", Expr('can(regex("^vpc-[0-9a-f]+$", var.vpc_id))'))
            .attr("error_message", "vpc_id must be a VPC id such as vpc-0123456789abcdef0.")
        )
    )
    blocks = [vpc_id]
    for name, cidrs in blueprint.cidr_lists.items():
        # The one world guard's exemption (tcp/80 and tcp/443, or a flow that
        # says public), as CloudFormation's parameter patterns judge it.
        risky = sorted(
            {
                r.ports_text()
                for g in blueprint
                for r in g.list_rules
                if r.peer.value == name and not r.public and not world_safe(r)
            }
        )
        for family in FAMILIES:
            variable = list_variable(name, family)
            default = family_cidrs(cidrs, family)
            block = (
                Block("variable", (variable,))
                .attr("description", list_description(blueprint, name, family))
                .attr("type", Expr("list(string)"))
                .attr("default", default)
                .blank()
                .block(_family_validation(variable, family))
            )
            # The policy's own rule, enforced where the list can change: only
            # tcp/80 and tcp/443 may reach the whole internet unless a flow says
            # public (and then the default already holds the world).
            if risky and not any(covers_world([c], family) for c in default):
                block.blank().block(_world_validation(variable, family, risky))
            blocks.append(block)
    return blocks


def list_description(blueprint: Blueprint, name: str, family: Family) -> str:
    """What one family of a CIDR list opens, said from the rules that use it:
    `IPv4 CIDRs that may reach automate on tcp/443, tcp/80.`"""
    reach: dict[tuple[Direction, str], list[str]] = {}
    for group in blueprint:
        for rule in group.list_rules:
            if rule.peer.value == name:
                ports = reach.setdefault((rule.direction, group.role), [])
                ports.append(_for_family(rule, family).ports_text())
    ingress = [f"{role} on {', '.join(p)}" for (d, role), p in reach.items() if d == "ingress"]
    egress = [
        f"{role} may reach on {', '.join(p)}" for (d, role), p in reach.items() if d != "ingress"
    ]
    uses = ([f"may reach {'; '.join(ingress)}"] if ingress else []) + egress
    what = (
        f"that {'; that '.join(uses)}" if uses else f"of the policy list {name}, which no rule uses"
    )
    # The compiler's fallback (hasg.core.peers.expand_cidr_list), as the locals write it.
    empty = "only addresses inside the VPC" if name in VPC_FALLBACK_LISTS else "nobody"
    return f"{_FAMILY_NAMES[family]} CIDRs {what}. With no CIDR in either family: {empty}."


def _for_family(rule: Rule, family: str) -> Rule:
    """A list rule as one family's resource writes it: ICMP towards IPv6 is ICMPv6."""
    if rule.protocol == "icmp":
        return dataclasses.replace(rule, protocol=icmp_for(family == "ipv6"))
    return rule


_FAMILY_NAMES: dict[Family, str] = {"ipv4": "IPv4", "ipv6": "IPv6"}
_EXAMPLE_CIDR: dict[Family, str] = {"ipv4": "198.51.100.0/24", "ipv6": "2001:db8::/48"}


def _family_validation(variable: str, family: Family) -> Block:
    """Every element a CIDR of the variable's family. Terraform's cidrnetmask()
    takes IPv4 networks only (an IPv4-mapped `::ffff:a.b.c.d/n` counts as IPv4
    to it), cidrhost() takes both."""
    element = (
        "can(cidrnetmask(c))" if family == "ipv4" else "!can(cidrnetmask(c)) && can(cidrhost(c, 0))"
    )
    return (
        Block("validation")
        .attr("condition", Expr(f"alltrue([for c in var.{variable} : {element}])"))
        .attr(
            "error_message",
            f"{variable} must hold only {_FAMILY_NAMES[family]} CIDRs, "
            f"such as {_EXAMPLE_CIDR[family]}.",
        )
    )


def _world_validation(variable: str, family: Family, risky: list[str]) -> Block:
    """No element is the whole internet, however it is spelled: cidrsubnet(c, 0, 0)
    is the network in Terraform's one canonical form (`0::/0`, `::0/0`, `::/00`
    and `0:0:0:0:0:0:0:0/0` are all `::/0`), compared instead of the text."""
    world = WORLD[family]
    return (
        Block("validation")
        .attr(
            "condition",
            Expr(f'alltrue([for c in var.{variable} : try(cidrsubnet(c, 0, 0), "") != "{world}"])'),
        )
        .attr(
            "error_message",
            f"{variable} must not hold {world} (in any spelling): the list opens "
            f"{', '.join(risky)}, which a policy opens to the internet only in a public flow.",
        )
    )


def _needs_vpc_cidr(blueprint: Blueprint) -> bool:
    return any(r.peer.is_vpc for g in blueprint for r in g.rules) or any(
        name in VPC_FALLBACK_LISTS for name in blueprint.cidr_lists
    )


def _list_locals(blueprint: Blueprint, digest_local: bool) -> Block:
    """Per list and family, a map keyed by the CIDR: stable for_each keys that
    are known at plan time even when the VPC's CIDR is not. And the policy
    digest of the lists' values as given (`_digest_follows_variables`)."""
    block = Block("locals")
    for name in blueprint.cidr_lists:
        for family in FAMILIES:
            block.attr(f"{name}_{family}", Expr(list_local_expression(name, family)))
    if digest_local:
        block.blank().comment(
            f"{POLICY_DIGEST_TAG} as hasg computes it (hasg.core.digest): the hash of the "
            "policy's shape, then each CIDR list as given."
        )
        block.attr(POLICY_SHAPE_LOCAL, shape(blueprint))
        block.attr(POLICY_DIGEST_LOCAL, Expr(digest_expression(blueprint)))
    return block


POLICY_SHAPE_LOCAL = "policy_shape"
POLICY_DIGEST_LOCAL = "policy_digest"


def _digest_follows_variables(blueprint: Blueprint) -> bool:
    """Whether the groups' digest tag is the policy digest of the Blueprint
    with CIDR list variables: then the module computes it from the variables,
    so that groups made with other values carry the digest `hasg apply` of a
    policy with those values writes. Any other tag is written as it is."""
    if not blueprint.cidr_lists or not blueprint.groups:
        return False
    digest = policy_digest(blueprint)
    return all(g.tags.get(POLICY_DIGEST_TAG) == digest for g in blueprint)


def digest_expression(blueprint: Blueprint) -> str:
    """`hasg.core.digest.digest_of` in Terraform: sha256 of the shape and one
    line per list and family, made of the variable's values."""
    lines = [f"local.{POLICY_SHAPE_LOCAL}"]
    for name, family, _ in list_inputs(blueprint):
        values = f"join({quote(CIDR_SEPARATOR)}, var.{list_variable(name, family)})"
        # `admin_cidrs_ipv4=` holds no character to escape: list names are [a-z0-9_].
        lines.append(f'"{list_line(name, family, ())}${{{values}}}"')
    text = f"join({quote(LINE_SEPARATOR)}, [{', '.join(lines)}])"
    return f"substr(sha256({text}), 0, {DIGEST_LENGTH})"


def _group_tags(group: SecurityGroup, digest_local: bool) -> dict[str, Value]:
    tags: dict[str, Value] = dict(group.tags)
    if digest_local:
        tags[POLICY_DIGEST_TAG] = Expr(f"local.{POLICY_DIGEST_LOCAL}")
    return tags


def list_local_expression(name: str, family: str) -> str:
    """The local a list's rules take their for_each from (the reader knows it too)."""
    var = f"var.{list_variable(name, family)}"
    by_cidr = f"zipmap({var}, {var})"
    if family == "ipv4" and name in VPC_FALLBACK_LISTS:
        both = ", ".join(f"var.{list_variable(name, f)}" for f in FAMILIES)
        by_cidr = (
            f"length(concat({both})) == 0 ? tomap({{ {VPC_FALLBACK_KEY} = {_VPC_CIDR} }}) "
            f": {by_cidr}"
        )
    return by_cidr


def _main(blueprint: Blueprint) -> list[Block]:
    blocks: list[Block] = []
    if _needs_vpc_cidr(blueprint):
        blocks.append(Block("data", ("aws_vpc", "this")).attr("id", Expr("var.vpc_id")))
    digest_local = _digest_follows_variables(blueprint)
    if blueprint.cidr_lists:
        blocks.append(_list_locals(blueprint, digest_local))
    for group in blueprint:
        blocks.append(
            Block("resource", (GROUP_TYPE, group.role))
            .comment(checkov_skip(group))
            .attr("name", group.name)
            .attr("description", group.description)
            .attr("vpc_id", Expr("var.vpc_id"))
            .attr("tags", _group_tags(group, digest_local))
        )
    if blueprint.default_group is not None:
        blocks.append(_default_group_block(blueprint.default_group))
    # The rule resources carry no tags: CloudFormation's rule resources take
    # none and `hasg apply` writes none, so every target leaves the same rules.
    names = rule_resource_names(blueprint)
    for group in blueprint:
        for rule in group.list_rules:
            for family in FAMILIES:
                name = names[(group.role, rule.key, family)]
                blocks.append(_list_rule_block(group, rule, family, name))
        for rule in group.rules:
            if rule.peer.variable is None:
                blocks.append(_rule_block(group, rule, names[(group.role, rule.key, "")]))
    return blocks


# The resource that adopts the VPC's default group (restrict_default_group).
DEFAULT_GROUP_RESOURCE = ("aws_default_security_group", "default")


def _default_group_block(rules: tuple[Rule, ...]) -> Block:
    """restrict_default_group: the VPC's default group, adopted by Terraform.
    The AWS provider removes every rule of the group on adoption and keeps it
    without any while the resource has no ingress or egress block
    (aws_default_security_group docs), which is CIS AWS Foundations 5.4
    (checkov CKV2_AWS_12). No tags: hasg does not own that group, and its tags
    would claim it did. With rules it was refused before (the target's
    Capabilities: default_group="without_rules")."""
    assert not rules, "refused by Backend.refuse_unsupported"
    return (
        Block("resource", DEFAULT_GROUP_RESOURCE)
        .comment("restrict_default_group: every rule of the VPC's default group removed.")
        .attr("vpc_id", Expr("var.vpc_id"))
    )


# A rule resource: (role, Rule.key, family of a list rule's resource or "").
RuleBlock = tuple[str, tuple[Direction, Protocol, int, int, Peer], str]


def _rule_blocks(blueprint: Blueprint) -> list[RuleBlock]:
    """Every rule resource the module holds: one per rule, one per family of a list rule."""
    found: list[RuleBlock] = []
    for group in blueprint:
        found += [(group.role, r.key, f) for r in group.list_rules for f in FAMILIES]
        found += [(group.role, r.key, "") for r in group.rules if r.peer.variable is None]
    return found


def rule_resource_names(blueprint: Blueprint) -> dict[RuleBlock, str]:
    """Each rule resource's name: made from what the rule is, and unique.

    The readable name can clash: a role `vpc` beside the `vpc` peer, a role
    `user_cidrs_ipv4` beside the list, a role id equal to a CIDR with its
    punctuation made `_`, or `_` inside role ids joining the parts another way
    (role `a_tcp_1_from_b` with tcp/2 from `c`; role `a` with tcp/1 from
    `b_tcp_2_from_c`). Terraform refuses a module that declares a name twice.
    So every name that clashes (and only those: the others stay as they were)
    takes a suffix from a hash of the rule's identity, longer until no two
    names are the same. Which names clash depends on the set of rules, never
    on their order, so reordering the policy still renames nothing.
    """
    readable = {b: _readable_rule_name(b) for b in _rule_blocks(blueprint)}

    def identity(block: RuleBlock) -> list[object]:
        # What AWS identifies the rule by; not max_entries and the like.
        role, (direction, protocol, low, high, peer), family = block
        return [role, direction, protocol, low, high, peer.kind, peer.value, family]

    # Names are unique per resource type: ingress and egress are two namespaces.
    return unique_names(readable, identity, namespace=lambda block: block[1][0])


def _readable_rule_name(block: RuleBlock) -> str:
    role, (direction, protocol, low, high, peer), family = block
    rule = Rule(direction, protocol, low, high, peer)
    return rule_resource_name(role, rule, suffix=f"_{family}" if family else "")


def rule_resource_name(role: str, rule: Rule, suffix: str = "") -> str:
    """A Terraform name made from what the rule is, never from its position
    (the name the module uses unless it clashes: see rule_resource_names)."""
    ports = rule.ports_text()
    if rule.protocol in ("icmp", "icmpv6") and rule.from_port == -1:
        # A resource name is an address in users' Terraform state: renaming one
        # destroys and recreates the rule. ICMP of any type keeps the name it had
        # before port text came to say plain `icmp`.
        ports = f"{rule.protocol}/any"
    ports = ports.replace("/", "_").replace("-", "_").replace(":", "_")
    side = "from" if rule.direction == "ingress" else "to"
    peer = rule.peer
    what = {
        "group": peer.value,
        "vpc": "vpc",
        "cidr_list": peer.value,
    }.get(peer.kind) or re.sub(r"[^A-Za-z0-9]", "_", peer.value)
    return f"{role}_{ports}_{side}_{what}{suffix}"


def group_address(role: str) -> str:
    """The address of a role's group in the module: `aws_security_group.ROLE`."""
    return f"{GROUP_TYPE}.{role}"


def group_id_reference(role: str) -> str:
    return f"{group_address(role)}.id"


def family_cidrs(cidrs: Iterable[str], family: Family) -> list[str]:
    """One family's CIDRs of a policy list: the default of its variable."""
    return [c for c in cidrs if family_of(c) == family]


class ResourceInstance(NamedTuple):
    """One resource instance the module declares: its address as Terraform
    writes it (`aws_x.name["key"]` for a for_each instance), the role it belongs
    to, and the rule it holds (None: the role's group). A `vpc` peer stays `vpc`:
    only the VPC knows its CIDR."""

    address: str
    role: str
    rule: Rule | None = None


def resource_instances(blueprint: Blueprint) -> tuple[ResourceInstance, ...]:
    """Every resource instance the module of `blueprint` declares, named by the
    code that names them in main.tf, for the variables' defaults (the policy's
    lists): each group, each fixed rule, and per list rule one instance per
    CIDR of each family, keyed by the CIDR (`zipmap(var, var)`), or the VPC
    fallback's one instance."""
    names = rule_resource_names(blueprint)
    found = [ResourceInstance(group_address(g.role), g.role) for g in blueprint]
    for group in blueprint:
        for rule in group.list_rules:
            cidrs = blueprint.cidr_lists.get(rule.peer.value, ())
            for family in FAMILIES:
                resource = f"{RULE_TYPES[rule.direction]}.{names[(group.role, rule.key, family)]}"
                written = _for_family(rule, family)
                found += [
                    ResourceInstance(
                        f"{resource}[{quote(key)}]",
                        group.role,
                        dataclasses.replace(written, peer=peer),
                    )
                    for key, peer in _list_instances(rule.peer.value, cidrs, family)
                ]
        found += [
            ResourceInstance(
                f"{RULE_TYPES[rule.direction]}.{names[(group.role, rule.key, '')]}",
                group.role,
                rule,
            )
            for rule in group.rules
            if rule.peer.variable is None
        ]
    if blueprint.default_group is not None:
        found.append(ResourceInstance(".".join(DEFAULT_GROUP_RESOURCE), DEFAULT_GROUP))
    return tuple(found)


def _list_instances(name: str, cidrs: Iterable[str], family: Family) -> list[tuple[str, Peer]]:
    """(for_each key, peer) of one family's resource of a list rule, as the local evaluates."""
    listed = list(cidrs)
    own = list(dict.fromkeys(family_cidrs(listed, family)))  # zipmap keeps one key per CIDR
    if own:
        return [(cidr, cidr_peer(cidr)) for cidr in own]
    if family == "ipv4" and name in VPC_FALLBACK_LISTS and not listed:
        return [(VPC_FALLBACK_KEY, Peer("vpc"))]
    return []


def _rule_body(block: Block, group: SecurityGroup, rule: Rule) -> None:
    block.attr("security_group_id", Expr(group_id_reference(group.role)))
    block.attr("description", rule.description)
    block.attr("ip_protocol", rule.protocol)
    ports = rule.aws_ports
    if ports is not None:
        block.attr("from_port", ports[0])
        block.attr("to_port", ports[1])


def _rule_block(group: SecurityGroup, rule: Rule, name: str) -> Block:
    block = Block("resource", (RULE_TYPES[rule.direction], name))
    _rule_body(block, group, rule)
    peer = rule.peer
    value: Value = peer.value
    if peer.is_group:
        value = Expr(group_id_reference(peer.value))
    elif peer.is_vpc:
        value = Expr(_VPC_CIDR)
    block.attr(PEER_ATTRIBUTE[peer.kind], value)
    if rule.direction == "ingress" and (peer.is_group or peer.is_prefix_list):
        # An explicit "no CIDR": checkov's open-ingress checks (CKV_AWS_24, 25, 260,
        # 277) know neither referenced_security_group_id nor prefix_list_id and read
        # an ingress rule without cidr_ipv4 as open to the world
        # (bridgecrewio/checkov#6624). null changes nothing for Terraform and keeps
        # those checks evaluating the rule, where a skip would stop them for good.
        block.attr("cidr_ipv4", Expr("null"))
    return block


def _list_rule_block(group: SecurityGroup, rule: Rule, family: str, name: str) -> Block:
    block = Block("resource", (RULE_TYPES[rule.direction], name))
    block.attr("for_each", Expr(f"local.{rule.peer.value}_{family}"))
    block.blank()
    _rule_body(block, group, _for_family(rule, family))
    return block.attr(f"cidr_{family}", Expr("each.value"))


def _outputs(blueprint: Blueprint) -> list[Block]:
    ids: dict[str, Value] = {g.role: Expr(group_id_reference(g.role)) for g in blueprint}
    blocks = [
        Block("output", ("security_group_ids",))
        .attr("description", "Security group id of each role.")
        .attr("value", ids)
    ]
    for group in blueprint:
        blocks.append(
            Block("output", (f"{group.role}_security_group_id",))
            .attr("description", f"Security group of the {group.role} role ({group.name}).")
            .attr("value", Expr(group_id_reference(group.role)))
        )
    return blocks
