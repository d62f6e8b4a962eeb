"""Blueprint -> CloudFormation template (`hasg emit cloudformation`).

One `AWS::EC2::SecurityGroup` per role and one `AWS::EC2::SecurityGroupIngress`
or `AWS::EC2::SecurityGroupEgress` per rule, one peer each, with logical ids
made from what the rule is (as the Terraform resource names are), so that
reordering the policy renames, and so replaces, nothing. What the policy leaves
to deploy time is a parameter: the VPC, the VPC's CIDR where a `vpc` peer
needs it, and each policy CIDR list (one list per address family). docs/cloudformation.md
says why each choice was made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from hasg.backends.base import Backend, Files, Options
from hasg.core.blueprint import (
    ALL_TRAFFIC,
    Blueprint,
    Direction,
    Peer,
    Rule,
    SecurityGroup,
    has_ports,
)
from hasg.core.networks import FAMILIES, Family, covers_world, family_of
from hasg.core.version import __version__
from hasg.errors import QuotaError
from hasg.policy.model import WORLD_SAFE_TCP_PORTS

FORMATS = ("yaml", "json")
TEMPLATE_FILE = {"yaml": "template.yaml", "json": "template.json"}
# CloudFormation's quota on a template passed inline as TemplateBody; a larger
# template must be uploaded to S3 and passed as TemplateURL (up to 1 MB).
TEMPLATE_BODY_LIMIT = 51_200
# AWS: 60 inbound and 60 outbound rules per group, per address family
# (Amazon VPC quotas, "Inbound or outbound rules per security group").
RULES_PER_GROUP = 60
# Logical ids: alphanumeric, at most 255 characters (template anatomy, Resources).
LOGICAL_ID_MAX = 255

# A group's egress must be all explicit. CloudFormation removes AWS's default
# allow-all egress only when the group resource itself lists an egress rule;
# standalone AWS::EC2::SecurityGroupEgress resources leave it in place. So each
# group lists this one rule inline, as AWS CDK does for `allowAllOutbound:
# false`: ICMP type 252 code 86 (unassigned by IANA) to 255.255.255.255/32
# (limited broadcast, never routed): it can match no packet on either count.
NO_TRAFFIC_EGRESS = Rule(
    "egress",
    "icmp",
    252,
    86,
    Peer("cidr_ipv4", "255.255.255.255/32"),
    description="Disallow all traffic",
)

VPC_ID_PARAMETER = "VpcId"
VPC_CIDR_PARAMETER = "VpcCidr"
RULE_TYPES: dict[Direction, str] = {
    "ingress": "AWS::EC2::SecurityGroupIngress",
    "egress": "AWS::EC2::SecurityGroupEgress",
}
GROUP_TYPE = "AWS::EC2::SecurityGroup"
# The property naming the other side of a rule, per direction and peer kind.
_PEER_PROPERTY: dict[tuple[Direction, str], str] = {
    ("ingress", "group"): "SourceSecurityGroupId",
    ("egress", "group"): "DestinationSecurityGroupId",
    ("ingress", "prefix_list"): "SourcePrefixListId",
    ("egress", "prefix_list"): "DestinationPrefixListId",
}
# An IPv4 or IPv6 CIDR's shape; EC2 itself judges the value.
_CIDR_PATTERN: dict[str, str] = {
    "ipv4": r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$",
    "ipv6": r"^[0-9A-Fa-f:.]+/\d{1,3}$",
}
# The policy's rule where the list can change (as the Terraform module's
# validation): only tcp/80 and tcp/443 may be open to the whole internet. A
# prefix length of 0 is the whole family whatever the address is spelled
# (`0.0.0.0/0`, `::/0`, `0::/00`), so the pattern refuses it by the length.
NOT_THE_WORLD = r"(?!.*/0+$)"


def camel(text: str) -> str:
    """`chef_server` -> `ChefServer`; anything not alphanumeric separates words."""
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", text) if w)


def list_parameter(name: str, family: str) -> str:
    """The parameter of one family of a policy CIDR list: `AdminCidrsIpv4`."""
    return camel(f"{name}_{family}")


def _list_slots(blueprint: Blueprint) -> dict[tuple[str, Family], list[str]]:
    """(list, family) -> the list's CIDRs of that family, in order: one slot each."""
    return {
        (name, family): [c for c in cidrs if family_of(c) == family]
        for name, cidrs in blueprint.cidr_lists.items()
        for family in FAMILIES
        if any(family_of(c) == family for c in cidrs)
    }


def _slot(rule: Rule, blueprint: Blueprint) -> tuple[str, int] | None:
    """(parameter, index) of a rule whose CIDR comes from a policy CIDR list."""
    if rule.peer.variable is None or rule.peer.kind not in ("cidr_ipv4", "cidr_ipv6"):
        return None
    family = family_of(rule.peer.value)
    cidrs = _list_slots(blueprint)[(rule.peer.variable, family)]
    return list_parameter(rule.peer.variable, family), cidrs.index(rule.peer.value)


def _ports_words(rule: Rule) -> str:
    if rule.protocol == ALL_TRAFFIC:
        return "All"
    if not has_ports(rule.protocol):
        return f"Proto{rule.protocol}"
    if rule.protocol in ("icmp", "icmpv6"):
        kind = "Any" if rule.from_port == -1 else str(rule.from_port)
        code = "" if rule.to_port == -1 else f"Code{rule.to_port}"
        return f"{camel(rule.protocol)}{kind}{code}"
    high = "" if rule.from_port == rule.to_port else f"To{rule.to_port}"
    return f"{camel(rule.protocol)}{rule.from_port}{high}"


def _readable_rule_id(role: str, rule: Rule, blueprint: Blueprint) -> str:
    slot = _slot(rule, blueprint)
    peer = rule.peer
    if slot is not None:
        what = f"{slot[0]}N{slot[1]}"
    elif peer.kind == "vpc":
        what = "Vpc"
    elif peer.kind == "group":
        what = camel(peer.value)
    else:
        what = re.sub(r"[^A-Za-z0-9]", "x", peer.value)
    side = "From" if rule.direction == "ingress" else "To"
    return f"{camel(role)}{_ports_words(rule)}{side}{what}"


# What a logical id stands for: a group (role, None) or a rule (role, Rule).
Named = tuple[str, Rule | None]


def logical_ids(blueprint: Blueprint) -> dict[Named, str]:
    """Each group's and rule's logical id: made from what it is, and unique.

    Readable ids can clash (role `a_1` and `a1` are both `A1`; a role named
    `vpc_id` is the parameter `VpcId`). Every id that clashes, and only those,
    takes a suffix from a hash of what it stands for, longer until none clash;
    which ids clash depends on the set of rules, never on their order.
    """
    named: dict[Named, str] = {}
    for group in blueprint:
        named[(group.role, None)] = camel(group.role)
        for rule in group.rules:
            named[(group.role, rule)] = _readable_rule_id(group.role, rule, blueprint)
    readable = dict(named)
    taken = set(_parameters(blueprint))
    for width in (8, 16, 64):
        seen: dict[str, int] = {}
        for name in named.values():
            seen[name] = seen.get(name, 0) + 1
        clashing = [
            k
            for k, n in named.items()
            if seen[n] > 1 or n in taken or len(n) > LOGICAL_ID_MAX or not n
        ]
        if not clashing:
            return named
        for key in clashing:
            role, member = key
            identity: list[object] = [role]
            if member is not None:
                identity += [*member.key[:4], member.peer.kind, member.peer.value]
            digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:width]
            named[key] = readable[key][: LOGICAL_ID_MAX - width] + digest
    raise AssertionError(f"logical ids still clash: {sorted(named.values())}")


def _parameters(blueprint: Blueprint) -> dict[str, dict[str, Any]]:
    parameters: dict[str, dict[str, Any]] = {
        VPC_ID_PARAMETER: {
            "Type": "AWS::EC2::VPC::Id",
            "Description": "The VPC the security groups belong to.",
        }
    }
    if any(r.peer.kind == "vpc" for g in blueprint for r in g.rules):
        parameters[VPC_CIDR_PARAMETER] = {
            "Type": "String",
            "Description": "The VPC's primary IPv4 CIDR (rules to or from the VPC).",
            "AllowedPattern": _CIDR_PATTERN["ipv4"],
        }
    for (name, family), cidrs in _list_slots(blueprint).items():
        risky = {
            r.ports_text()
            for g in blueprint
            for r in g.rules
            if r.peer.variable == name
            and not (r.protocol == "tcp" and r.from_port == r.to_port in WORLD_SAFE_TCP_PORTS)
        }
        pattern = _CIDR_PATTERN[family]
        if risky and not any(covers_world([c], family) for c in cidrs):
            pattern = "^" + NOT_THE_WORLD + pattern[1:]
        parameters[list_parameter(name, family)] = {
            "Type": "CommaDelimitedList",
            "Description": (
                f"{family.replace('ip', 'IP')} CIDRs of the policy list {name}: exactly "
                f"{len(cidrs)} (one rule each); for another count, emit the template again."
            ),
            "Default": ",".join(cidrs),
            # For a CommaDelimitedList the pattern must match every element.
            "AllowedPattern": pattern,
        }
    return parameters


def _peer_properties(rule: Rule, blueprint: Blueprint, ids: Mapping[Named, str]) -> dict[str, Any]:
    peer = rule.peer
    slot = _slot(rule, blueprint)
    cidr_property = "CidrIpv6" if peer.kind == "cidr_ipv6" else "CidrIp"
    if slot is not None:
        return {cidr_property: {"Fn::Select": [slot[1], {"Ref": slot[0]}]}}
    if peer.kind == "vpc":
        return {"CidrIp": {"Ref": VPC_CIDR_PARAMETER}}
    if peer.kind == "group":
        return {_PEER_PROPERTY[(rule.direction, "group")]: {"Ref": ids[(peer.value, None)]}}
    if peer.kind == "prefix_list":
        return {_PEER_PROPERTY[(rule.direction, "prefix_list")]: peer.value}
    return {cidr_property: peer.value}


def _rule_properties(rule: Rule) -> dict[str, Any]:
    """Protocol and ports as EC2 takes them: none for protocols without ports."""
    properties: dict[str, Any] = {"IpProtocol": rule.protocol}
    if has_ports(rule.protocol):
        properties.update(FromPort=rule.from_port, ToPort=rule.to_port)
    return properties


def _group_resource(group: SecurityGroup) -> dict[str, Any]:
    placeholder = {
        **_rule_properties(NO_TRAFFIC_EGRESS),
        "CidrIp": NO_TRAFFIC_EGRESS.peer.value,
        "Description": NO_TRAFFIC_EGRESS.description,
    }
    return {
        "Type": GROUP_TYPE,
        "Properties": {
            "GroupName": group.name,
            "GroupDescription": group.description,
            "VpcId": {"Ref": VPC_ID_PARAMETER},
            "SecurityGroupEgress": [placeholder],
            "Tags": [{"Key": k, "Value": v} for k, v in group.tags.items()],
        },
    }


# cfn-lint 1.x's E3688 ("FromPort and ToPort both -1 when one is") exempts ICMP,
# whose ToPort is the code (-1: any code of the type, EC2 API reference,
# IpPermission.ToPort), but not ICMPv6, where EC2 reads them the same way. The
# check is ignored on exactly those rules, and docs/cloudformation.md says why.
LINT_ICMPV6 = "E3688"


def _lint_misreads(rule: Rule) -> bool:
    return rule.protocol == "icmpv6" and (rule.from_port == -1) != (rule.to_port == -1)


def check_egress_quota(blueprint: Blueprint, limit: int = RULES_PER_GROUP) -> None:
    """The inline no-traffic rule is one more IPv4 egress rule per group: refuse
    a group it would take over AWS's quota, which the compiler checked without it."""
    for group in blueprint:
        used = sum(
            r.peer.quota_cost
            for r in group.rules_for("egress")
            if r.peer.family in ("ipv4", "both")
        )
        if used + 1 > limit:
            raise QuotaError(
                f"group {group.name!r} (role {group.role}) would have {used + 1} egress IPv4 "
                f"rules in CloudFormation ({used} and the inline rule that removes AWS's "
                f"default egress); AWS allows {limit} per group"
            )


def template(blueprint: Blueprint) -> dict[str, Any]:
    """The template as a document, before it is written as YAML or JSON."""
    check_egress_quota(blueprint)
    ids = logical_ids(blueprint)
    resources: dict[str, Any] = {}
    for group in blueprint:
        resources[ids[(group.role, None)]] = _group_resource(group)
    for group in blueprint:
        for rule in group.rules:
            properties: dict[str, Any] = {"GroupId": {"Ref": ids[(group.role, None)]}}
            properties.update(_rule_properties(rule))
            properties.update(_peer_properties(rule, blueprint, ids))
            properties["Description"] = rule.description
            resource: dict[str, Any] = {"Type": RULE_TYPES[rule.direction]}
            if _lint_misreads(rule):
                resource["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": [LINT_ICMPV6]}}}
            resource["Properties"] = properties
            resources[ids[(group.role, rule)]] = resource
    outputs = {
        f"{ids[(g.role, None)]}GroupId": {
            "Description": f"Security group of the {g.role} role ({g.name}).",
            "Value": {"Ref": ids[(g.role, None)]},
            "Export": {"Name": {"Fn::Sub": f"${{AWS::StackName}}-{g.role.replace('_', '-')}"}},
        }
        for g in blueprint
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Security groups of the {blueprint.cluster} cluster (hasg {__version__}).",
        "Parameters": _parameters(blueprint),
        "Resources": resources,
        "Outputs": outputs,
    }


def dumps(document: Mapping[str, Any], form: str = "yaml") -> str:
    """YAML (the smaller: CloudFormation's inline limit is 51,200 bytes) or JSON."""
    if form == "json":
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
    import yaml

    # Flow style for leaf mappings and lists (`GroupId: {Ref: Bastion}`) keeps
    # the template compact; no line wrapping, so each value is one line.
    return yaml.safe_dump(
        dict(document),
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=1 << 20,
    )


def to_cloudformation(blueprint: Blueprint, form: str = "yaml") -> str:
    """The template's text: what `hasg emit cloudformation --format FORM` writes."""
    if form not in FORMATS:
        raise ValueError(f"format {form!r}: choose one of {', '.join(FORMATS)}")
    return dumps(template(blueprint), form)


def _write(blueprint: Blueprint, options: Options) -> Files:
    form = str(options.get("format") or "yaml")
    return {TEMPLATE_FILE.get(form, "template"): to_cloudformation(blueprint, form)}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="yaml",
        help="template syntax (default: yaml, the smaller)",
    )


BACKEND = Backend(
    name="cloudformation",
    summary="a CloudFormation template: one group per role, one resource per rule",
    peer_kinds=frozenset({"group", "cidr_ipv4", "cidr_ipv6", "prefix_list", "vpc", "cidr_list"}),
    write=_write,
    add_arguments=_add_arguments,
)
