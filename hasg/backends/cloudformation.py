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
import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hasg.backends.base import AuditSource, Backend, Capabilities, Files, Options
from hasg.core.blueprint import (
    DIRECTIONS,
    Blueprint,
    Direction,
    Peer,
    PeerKind,
    Rule,
    SecurityGroup,
)
from hasg.core.cidr_patterns import cidr_shape_pattern, narrow_cidr_pattern
from hasg.core.naming import unique_names
from hasg.core.networks import (
    FAMILIES,
    WIDE_OPEN_PREFIX,
    Family,
    family_of,
    parse_network,
)
from hasg.core.no_traffic import NO_TRAFFIC_EGRESS, is_no_traffic_egress
from hasg.core.peers import cidr_peer
from hasg.core.ports import world_safe
from hasg.core.protocols import ALL_TRAFFIC, canonical_protocol, has_ports
from hasg.core.quotas import RULES_PER_GROUP, quota_usage
from hasg.core.tags import CLUSTER_TAG, ROLE_TAG
from hasg.core.version import __version__
from hasg.errors import QuotaError, TemplateReadError, UsageError

FORMATS = ("yaml", "json")
TEMPLATE_FILE = {"yaml": "template.yaml", "json": "template.json"}
# CloudFormation's quota on a template passed inline as TemplateBody; a larger
# template must be uploaded to S3 and passed as TemplateURL (up to 1 MB).
TEMPLATE_BODY_LIMIT = 51_200
# What CloudFormation takes in one template however it is passed (AWS
# CloudFormation User Guide, "CloudFormation quotas"; cfn-lint's E1002,
# E1003, E2010, E3010, E6010 and E2015 check the same numbers).
TEMPLATE_LIMITS: dict[str, int] = {
    "bytes": 1_000_000,  # a template in S3 (TemplateURL): 1 MB
    "resources": 500,
    "parameters": 200,
    "outputs": 200,
    "description bytes": 1_024,
    "parameter value bytes": 4_096,
}
# Logical ids: alphanumeric, at most 255 characters (template anatomy, Resources).
LOGICAL_ID_MAX = 255

VPC_ID_PARAMETER = "VpcId"
VPC_CIDR_PARAMETER = "VpcCidr"
RULE_TYPES: dict[Direction, str] = {
    "ingress": "AWS::EC2::SecurityGroupIngress",
    "egress": "AWS::EC2::SecurityGroupEgress",
}
GROUP_TYPE = "AWS::EC2::SecurityGroup"
# The property naming the other side of a rule, per direction and peer kind.
# The one table of how a rule resource names its peer, by direction and kind:
# the writer sets that property, and the reader reads exactly these (a "vpc"
# peer is CidrIp: Ref VpcCidr).
PEER_PROPERTY: dict[tuple[Direction, PeerKind], str] = {
    **{(d, "cidr_ipv4"): "CidrIp" for d in DIRECTIONS},
    **{(d, "vpc"): "CidrIp" for d in DIRECTIONS},
    **{(d, "cidr_ipv6"): "CidrIpv6" for d in DIRECTIONS},
    ("ingress", "group"): "SourceSecurityGroupId",
    ("egress", "group"): "DestinationSecurityGroupId",
    ("ingress", "prefix_list"): "SourcePrefixListId",
    ("egress", "prefix_list"): "DestinationPrefixListId",
}
# A VPC's IPv4 CIDR block is a /16 to a /28 (Amazon VPC User Guide, "VPC CIDR
# blocks"): `VpcCidr` takes nothing else, so never 0.0.0.0/0.
VPC_PREFIXES = (16, 28)


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
    if rule.peer.variable is None or not rule.peer.is_network:
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
    elif peer.is_vpc:
        what = "Vpc"
    elif peer.is_group:
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
    readable: dict[Named, str] = {}
    for group in blueprint:
        readable[(group.role, None)] = camel(group.role)
        for rule in group.rules:
            readable[(group.role, rule)] = _readable_rule_id(group.role, rule, blueprint)
    taken = set(_parameters(blueprint))

    def identity(key: Named) -> list[object]:
        role, member = key
        if member is None:
            return [role]
        return [role, *member.key[:4], member.peer.kind, member.peer.value]

    return unique_names(
        readable,
        identity,
        acceptable=lambda name: bool(name) and name not in taken and len(name) <= LOGICAL_ID_MAX,
        # Logical ids are alphanumeric: the digest joins the name without a separator.
        suffixed=lambda name, digest: name[: LOGICAL_ID_MAX - len(digest)] + digest,
    )


def _parameters(blueprint: Blueprint) -> dict[str, dict[str, Any]]:
    parameters: dict[str, dict[str, Any]] = {
        VPC_ID_PARAMETER: {
            "Type": "AWS::EC2::VPC::Id",
            "Description": "The VPC the security groups belong to.",
        }
    }
    rules = [r for g in blueprint for r in g.rules]
    vpc_rules = [r for r in rules if r.peer.is_vpc]
    if vpc_rules:
        shortest, longest = VPC_PREFIXES
        parameters[VPC_CIDR_PARAMETER] = {
            "Type": "String",
            "Description": "The VPC's primary IPv4 CIDR (rules to or from the VPC).",
            **_guarded("ipv4", vpc_rules, (), shortest=shortest, longest=longest),
        }
    for (name, family), cidrs in _list_slots(blueprint).items():
        parameters[list_parameter(name, family)] = {
            "Type": "CommaDelimitedList",
            "Description": (
                f"{family.replace('ip', 'IP')} CIDRs of the policy list {name}: exactly "
                f"{len(cidrs)} (one rule each); for another count, emit the template again."
            ),
            "Default": ",".join(cidrs),
            # For a CommaDelimitedList the pattern must match every element.
            **_guarded(family, [r for r in rules if r.peer.variable == name], cidrs),
        }
    return parameters


def _guarded(
    family: Family,
    rules: list[Rule],
    defaults: list[str] | tuple[str, ...],
    *,
    shortest: int = 0,
    longest: int | None = None,
) -> dict[str, str]:
    """The AllowedPattern (and what it asks, for CloudFormation to say when a
    value fails it) of a parameter that `rules` open ports to.

    The one world guard, as far as a pattern can take it: where a rule opens
    more than tcp/80 and tcp/443 and no flow of it says `public: true`, each
    value must, alone, be no wider than the guard allows (a public IPv4 /24,
    an IPv6 /48, private space: `hasg.core.cidr_patterns`); the template's
    own defaults, which the guard judged as a union when it was emitted,
    always pass. Else any CIDR of the family."""
    name = family.replace("ip", "IP")
    risky = sorted({r.ports_text() for r in rules if not r.public and not world_safe(r)})
    lengths = f"a /{shortest} to a /{longest}, " if longest is not None else ""
    if not risky:
        return {
            "AllowedPattern": cidr_shape_pattern(family, shortest=shortest, longest=longest),
            "ConstraintDescription": f"{name} CIDRs, {lengths}without host bits",
        }
    widest = f"/{WIDE_OPEN_PREFIX[family]}"
    return {
        "AllowedPattern": narrow_cidr_pattern(
            family, shortest=shortest, longest=longest, also=tuple(defaults)
        ),
        "ConstraintDescription": (
            f"{name} CIDRs, {lengths}each private or at most a public {widest}: the stack "
            f"opens {', '.join(risky)} to them, and only a flow with public: true may open "
            "more than tcp/80 and tcp/443 wider (hasg's world guard)"
        ),
    }


def _peer_properties(rule: Rule, blueprint: Blueprint, ids: Mapping[Named, str]) -> dict[str, Any]:
    peer = rule.peer
    slot = _slot(rule, blueprint)
    value: Any = peer.value
    if slot is not None:
        value = {"Fn::Select": [slot[1], {"Ref": slot[0]}]}
    elif peer.is_vpc:
        value = {"Ref": VPC_CIDR_PARAMETER}
    elif peer.is_group:
        value = {"Ref": ids[(peer.value, None)]}
    return {PEER_PROPERTY[(rule.direction, peer.kind)]: value}


def _rule_properties(rule: Rule) -> dict[str, Any]:
    """Protocol and ports as EC2 takes them: none for protocols without ports."""
    properties: dict[str, Any] = {"IpProtocol": rule.protocol}
    ports = rule.aws_ports
    if ports is not None:
        properties.update(FromPort=ports[0], ToPort=ports[1])
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
        used = quota_usage(group)[("egress", "ipv4")]
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
    """YAML, the smaller (42,100 bytes for the built-in policy, within
    CloudFormation's 51,200-byte inline limit), or JSON indented for review
    (56,273 bytes: deployed from S3); docs/cloudformation.md, Size."""
    if form == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
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
    """The template's text: what `hasg emit cloudformation --format FORM` writes.

    A template CloudFormation would refuse however it is deployed (more than
    500 resources, 200 parameters or outputs, 1 MB, ...) is refused here,
    naming the limit and the count: `check_template_limits`."""
    if form not in FORMATS:
        raise UsageError(f"format {form!r}: choose one of {', '.join(FORMATS)}")
    BACKEND.refuse_unsupported(blueprint)
    document = template(blueprint)
    text = dumps(document, form)
    check_template_limits(document, text, TEMPLATE_FILE[form])
    return text


def check_template_limits(document: Mapping[str, Any], text: str, name: str) -> None:
    """Refuse a template past any of CloudFormation's quotas on one template.

    hasg writes one resource per rule, so a large policy meets the resource
    limit first; a form that fits would need nested stacks, and a policy that
    large is better split into clusters (docs/cloudformation.md). A template
    between TemplateBody's 51,200 bytes and 1 MB is written: it deploys from
    S3 (`aws cloudformation deploy --s3-bucket`, the console's upload)."""
    counts = {
        "bytes": len(text.encode()),
        "resources": len(document.get("Resources", {})),
        "parameters": len(document.get("Parameters", {})),
        "outputs": len(document.get("Outputs", {})),
        "description bytes": len(str(document.get("Description", "")).encode()),
        "parameter value bytes": max(
            (
                len(str(p.get("Default", "")).encode())
                for p in document.get("Parameters", {}).values()
            ),
            default=0,
        ),
    }
    for what, limit in TEMPLATE_LIMITS.items():
        if counts[what] > limit:
            raise QuotaError(
                f"{name} would hold {counts[what]:,} {what}; CloudFormation takes at most "
                f"{limit:,} in one template: split the policy into clusters of fewer rules"
            )


def _write(blueprint: Blueprint, options: Options) -> Files:
    form = str(options.get("format") or "yaml")
    text = to_cloudformation(blueprint, form)
    return {TEMPLATE_FILE[form]: text}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="yaml",
        help="template syntax (default: yaml); json is indented for review and about a third "
        "larger: over CloudFormation's 51,200-byte inline limit, it deploys from S3",
    )


# --------------------------------------------------------------------------- read
#
# The reader evaluates what hasg's templates use (Ref to a parameter or a
# resource, Fn::Select from a list parameter) and refuses anything else by
# file and resource (Fn::If, Conditions, a Ref to nothing, a missing parameter
# value): what it cannot evaluate is an error, never a rule left out.

_READ_INTRINSICS = frozenset({"Ref", "Fn::Select"})


def read_cloudformation(
    text: str, *, file: str = "<template>", parameters: Mapping[str, str] | None = None
) -> Blueprint:
    """A template's groups and rules as a Blueprint. `parameters` override the
    parameters' defaults, as a stack's parameter values do."""
    document = _load(text, file)
    reader = _Reader(document, file, dict(parameters or {}))
    return reader.blueprint()


def _load(text: str, file: str) -> dict[str, Any]:
    import yaml

    class _Loader(yaml.SafeLoader):
        """YAML with CloudFormation's short forms (`!Ref x`) read as the long ones."""

    def short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = suffix if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    _Loader.add_multi_constructor("!", short_form)
    try:
        document = yaml.load(text, Loader=_Loader)  # a SafeLoader, with short forms
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        raise TemplateReadError(f"{where}: not a YAML or JSON template") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateReadError(f"{file}: not a CloudFormation template (no Resources)")
    return document


class _Reader:
    def __init__(self, document: dict[str, Any], file: str, given: dict[str, str]) -> None:
        self.document = document
        self.file = file
        self.given = given
        self.resources: dict[str, Any] = document["Resources"]
        self.parameters: dict[str, Any] = document.get("Parameters") or {}
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise TemplateReadError(f"{file}: no parameter {', '.join(unknown)}")
        self.roles = {
            name: self._role(name, r)
            for name, r in self.resources.items()
            if isinstance(r, dict) and r.get("Type") == GROUP_TYPE
        }

    def error(self, where: str, problem: str) -> TemplateReadError:
        return TemplateReadError(f"{self.file}: {where}: {problem}")

    def _role(self, name: str, resource: dict[str, Any]) -> str:
        tags = self._tags(name, resource)
        if ROLE_TAG not in tags:
            raise self.error(f"Resources.{name}", f"a security group without the {ROLE_TAG} tag")
        return tags[ROLE_TAG]

    def _tags(self, name: str, resource: dict[str, Any]) -> dict[str, str]:
        tags = resource.get("Properties", {}).get("Tags", [])
        try:
            return {str(t["Key"]): str(t["Value"]) for t in tags}
        except (TypeError, KeyError):
            raise self.error(f"Resources.{name}.Tags", "tags must be Key/Value pairs") from None

    def parameter(self, name: str, where: str) -> Any:
        slot = self.parameters.get(name)
        if not isinstance(slot, dict):
            raise self.error(where, f"Ref to {name}, which is neither a parameter nor a group")
        value = self.given.get(name, slot.get("Default"))
        if value is None:
            raise self.error(where, f"parameter {name} has no value and no default")
        if slot.get("Type") == "CommaDelimitedList":
            return [v.strip() for v in str(value).split(",")] if str(value) else []
        return str(value)

    def value(self, expression: Any, where: str) -> Any:
        """A literal, or what a Ref / Fn::Select stands for: ("group", role),
        ("vpc",), ("list", parameter, cidr), or a parameter's value."""
        if not isinstance(expression, dict):
            return expression
        if len(expression) != 1 or next(iter(expression)) not in _READ_INTRINSICS:
            raise self.error(where, f"cannot evaluate {json.dumps(expression)[:80]}")
        ((function, argument),) = expression.items()
        if function == "Ref":
            if argument in self.roles:
                return ("group", self.roles[argument])
            if argument == VPC_CIDR_PARAMETER:
                return ("vpc",)
            return self.parameter(str(argument), where)
        if (
            not isinstance(argument, list)
            or len(argument) != 2
            or not isinstance(argument[1], dict)
            or set(argument[1]) != {"Ref"}
        ):
            raise self.error(where, "Fn::Select takes [index, Ref: list parameter]")
        name = str(argument[1]["Ref"])
        values = self.parameter(name, where)
        try:
            return ("list", name, values[int(argument[0])])
        except (ValueError, IndexError, TypeError):
            raise self.error(
                where, f"Fn::Select {argument[0]!r} of {name}: no such entry"
            ) from None

    def rule(self, direction: Direction, properties: Any, where: str) -> Rule:
        if not isinstance(properties, dict):
            raise self.error(where, "a rule's properties must be a mapping")
        try:
            protocol = canonical_protocol(self.value(properties.get("IpProtocol"), where))
        except ValueError as error:
            raise self.error(where, str(error)) from None
        low = high = -1
        if has_ports(protocol):
            try:
                low = int(self.value(properties["FromPort"], where))
                high = int(self.value(properties["ToPort"], where))
            except (KeyError, ValueError, TypeError):
                raise self.error(where, f"{protocol} needs integer FromPort and ToPort") from None
        peers = [p for p in _READ_PEERS[direction] if p in properties]
        if len(peers) != 1:
            raise self.error(where, f"a rule takes exactly one peer, not {peers or 'none'}")
        peer = self.peer(peers[0], self.value(properties[peers[0]], where), where)
        description = self.value(properties.get("Description", ""), where)
        return Rule(direction, protocol, low, high, peer, description=str(description))

    def peer(self, field: str, value: Any, where: str) -> Peer:
        if isinstance(value, tuple) and value[0] == "group" and field.endswith("GroupId"):
            return Peer("group", value[1])
        if isinstance(value, tuple) and value[0] == "vpc" and field == "CidrIp":
            return Peer("vpc")
        if isinstance(value, tuple) and value[0] == "list" and field.startswith("CidrIp"):
            return cidr_peer(str(value[2]), variable=_list_name(value[1]))
        if isinstance(value, str) and field.endswith("PrefixListId"):
            return Peer("prefix_list", value)
        if isinstance(value, str) and field.startswith("CidrIp"):
            try:
                return cidr_peer(str(parse_network(value)))
            except ValueError as error:
                raise self.error(where, str(error)) from None
        raise self.error(where, f"{field}: cannot read {value!r}")

    def blueprint(self) -> Blueprint:
        rules: dict[str, list[Rule]] = {role: [] for role in self.roles.values()}
        for name, resource in self.resources.items():
            where = f"Resources.{name}"
            if not isinstance(resource, dict):
                raise self.error(where, "a resource must be a mapping")
            if "Condition" in resource:
                raise self.error(where, "a resource under a Condition cannot be evaluated")
            kind = resource.get("Type")
            properties = resource.get("Properties", {})
            if kind == GROUP_TYPE:
                rules[self.roles[name]] += self._inline(name, properties)
            elif kind in RULE_TYPES.values():
                direction = next(d for d, t in RULE_TYPES.items() if t == kind)
                owner = self.value(properties.get("GroupId"), f"{where}.GroupId")
                if not (isinstance(owner, tuple) and owner[0] == "group"):
                    raise self.error(where, "GroupId must be a Ref to a group of the template")
                rules[owner[1]].append(self.rule(direction, properties, where))
        return self._assemble(rules)

    def _inline(self, name: str, properties: dict[str, Any]) -> list[Rule]:
        where = f"Resources.{name}"
        found = [
            self.rule("ingress", r, f"{where}.SecurityGroupIngress")
            for r in properties.get("SecurityGroupIngress", [])
        ]
        egress = [
            self.rule("egress", r, f"{where}.SecurityGroupEgress")
            for r in properties.get("SecurityGroupEgress", [])
        ]
        if not egress:
            # No inline egress: the group keeps AWS's allow-all (module doc).
            return [*found, Rule("egress", ALL_TRAFFIC, -1, -1, Peer("cidr_ipv4", "0.0.0.0/0"))]
        # The inline rule that removes AWS's default egress stands for no rule.
        return found + [r for r in egress if not is_no_traffic_egress(r)]

    def _assemble(self, rules: dict[str, list[Rule]]) -> Blueprint:
        groups = []
        clusters = set()
        lists: dict[str, list[str]] = {}
        for name, role in self.roles.items():
            properties = self.resources[name].get("Properties", {})
            tags = self._tags(name, self.resources[name])
            clusters.add(tags.get(CLUSTER_TAG, ""))
            list_rules = {
                dataclasses.replace(
                    r,
                    protocol="icmp" if r.protocol == "icmpv6" else r.protocol,
                    peer=Peer("cidr_list", r.peer.variable),
                )
                for r in rules[role]
                if r.peer.variable is not None
            }
            groups.append(
                SecurityGroup(
                    role=role,
                    name=str(properties.get("GroupName", "")),
                    description=str(properties.get("GroupDescription", "")),
                    tags=tags,
                    rules=tuple(rules[role]),
                    list_rules=tuple(list_rules),
                )
            )
        for parameter in self.parameters:
            if parameter.endswith(("Ipv4", "Ipv6")) and parameter != VPC_CIDR_PARAMETER:
                values = self.parameter(parameter, f"Parameters.{parameter}")
                if isinstance(values, list):
                    lists.setdefault(_list_name(parameter), []).extend(values)
        if len(clusters) > 1:
            raise TemplateReadError(f"{self.file}: groups of clusters {sorted(clusters)}")
        cidr_lists = {n: tuple(c) for n, c in lists.items()}
        return Blueprint(next(iter(clusters), ""), tuple(groups), cidr_lists)


_READ_PEERS: dict[Direction, tuple[str, ...]] = {
    direction: tuple(dict.fromkeys(p for (d, _), p in PEER_PROPERTY.items() if d == direction))
    for direction in DIRECTIONS
}


def _list_name(parameter: str) -> str:
    """`AdminCidrsIpv4` -> `admin_cidrs` (list_parameter, backwards)."""
    stem = parameter[: -len("Ipv4")]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", stem).lower()


def _parse(files: Mapping[str, str], options: Options) -> Blueprint:
    if len(files) != 1:
        raise TemplateReadError(f"one template at a time, not {len(files)} files")
    ((file, text),) = files.items()
    return read_cloudformation(text, file=file)


def _read_path(path: Path, options: Options) -> Blueprint:
    """`hasg audit --from cloudformation TEMPLATE [--parameter KEY=VALUE]...`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise TemplateReadError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise TemplateReadError(f"{path}: cannot be read: {error.strerror}") from None
    values = {}
    for given in options.get("parameters") or ():
        key, equals, value = str(given).partition("=")
        if not equals or not key:
            raise UsageError(f"--parameter {given!r}: write KEY=VALUE, as a stack's parameters")
        values[key] = value
    return read_cloudformation(text, file=str(path), parameters=values)


def _audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parameter",
        dest="parameters",
        action="append",
        metavar="KEY=VALUE",
        help="a stack parameter's value, as `aws cloudformation deploy --parameter-overrides` "
        "takes it; repeatable (default: the parameters' defaults)",
    )


def _the_template(files: Files) -> str:
    """Without --out, the one template is printed as it is."""
    ((text,),) = (files.values(),)
    return text


BACKEND = Backend(
    name="cloudformation",
    summary="a CloudFormation template: one group per role, one resource per rule",
    capabilities=Capabilities(
        frozenset({"group", "cidr_ipv4", "cidr_ipv6", "prefix_list", "vpc", "cidr_list"}),
        # AWS::EC2::SecurityGroup always creates a new group: no resource type
        # manages a VPC's default group, so restrict_default_group is refused.
        default_group="none",
        instead="apply that policy with hasg apply, or Terraform (aws_default_security_group)",
    ),
    write=_write,
    parse=_parse,
    add_arguments=_add_arguments,
    as_one_text=_the_template,
    audit=AuditSource("a CloudFormation template (YAML or JSON)", _read_path, _audit_arguments),
)
