"""The policy digest: which policy a group holds, as a tag every target writes.

The compiler puts it on every group (`with_digest`), so `hasg apply`, the
Terraform module and the CloudFormation stack write the same tags and make
groups equal as sets. `hasg apply` compares it when EC2 says something was
already done, and reads it back with everything else (docs/aws.md,
"Concurrent applies").

It is made of what every target knows when its files are written, and of
the policy CIDR lists' values, which a Terraform variable may still change
at deploy time: the text hashed is the hash of everything else (the shape),
then one line per list and address family, `admin_cidrs_ipv4=CIDR,CIDR`.
The Terraform module builds that same text from its variables and hashes it
with Terraform's own sha256, so its groups carry the digest of the values
they are given. The VPC's CIDR is never in it: a rule to the VPC stays the
word `vpc`, which is all Terraform and CloudFormation know before deploying.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from hasg.core.blueprint import Blueprint, Rule, SecurityGroup
from hasg.core.networks import FAMILIES, Family, family_of
from hasg.core.tags import POLICY_DIGEST_TAG

# 16 hex digits (64 bits): two different policies colliding is not a concern,
# and the tag stays short in the console.
DIGEST_LENGTH = 16
# Between the shape and each list's line, and between a list's CIDRs.
LINE_SEPARATOR = "\n"
CIDR_SEPARATOR = ","
# What the shape is made of: texts, numbers and lists of them.
Canonical = str | int | Sequence["Canonical"]


def policy_digest(blueprint: Blueprint) -> str:
    """A short stable hash of what the Blueprint puts in AWS: every group's
    role, name, description, tags (not this one) and rules with their
    descriptions, and the values of its CIDR lists. Two applies of different
    policies write different digests on the groups, which is how each tells
    that the other is at work."""
    return digest_of(shape(blueprint), list_inputs(blueprint))


def digest_of(shape_hash: str, lists: Iterable[tuple[str, Family, Iterable[str]]]) -> str:
    """The digest of a shape (`shape`) and the lists' values (`list_inputs`)."""
    lines = [shape_hash, *(list_line(name, family, cidrs) for name, family, cidrs in lists)]
    return hashlib.sha256(LINE_SEPARATOR.join(lines).encode()).hexdigest()[:DIGEST_LENGTH]


def list_line(name: str, family: Family, cidrs: Iterable[str]) -> str:
    """One list's line of the hashed text: `admin_cidrs_ipv4=203.0.113.7/32`."""
    return f"{list_label(name, family)}={CIDR_SEPARATOR.join(cidrs)}"


def list_label(name: str, family: Family) -> str:
    return f"{name}_{family}"


def list_inputs(blueprint: Blueprint) -> tuple[tuple[str, Family, tuple[str, ...]], ...]:
    """(list, family, that family's CIDRs in order), for every CIDR list and
    family, in the order the digest reads them."""
    return tuple(
        (name, family, tuple(c for c in cidrs if family_of(c) == family))
        for name, cidrs in sorted(blueprint.cidr_lists.items())
        for family in FAMILIES
    )


def shape(blueprint: Blueprint) -> str:
    """The SHA-256 (hex) of everything the digest covers but the lists'
    values: a rule of a CIDR list is that list's rule, by the list's name."""
    document: list[Canonical] = [
        [
            group.role,
            group.name,
            group.description,
            sorted(
                ([k, v] for k, v in group.tags.items() if k != POLICY_DIGEST_TAG), key=_canonical
            ),
            sorted((_rule_fields(r) for r in _digested(group)), key=_canonical),
        ]
        for group in blueprint
    ]
    # Only when the policy speaks of the default group.
    restricts: list[Canonical] = (
        [] if blueprint.default_group is None else [len(blueprint.default_group)]
    )
    text = _canonical([blueprint.cluster, document, *restricts])
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Canonical) -> str:
    """One text per value, and another for any other: a string or a number
    with its length first, a list as its items in brackets. (Not json, which
    `hasg emit-hcl` would import only for this: start-up is benchmarked.)"""
    if isinstance(value, str):
        return f"{len(value)}:{value}"
    if isinstance(value, int):
        return f"{len(str(value))}#{value}"
    return "[" + "".join(_canonical(item) for item in value) + "]"


def _rule_fields(rule: Rule) -> list[Canonical]:
    ports: list[Canonical] = [rule.direction, rule.protocol, rule.from_port, rule.to_port]
    return [*ports, rule.peer.kind, rule.peer.value, rule.description]


def _digested(group: SecurityGroup) -> tuple[Rule, ...]:
    """The group's rules as the shape reads them: a rule its list rule stands
    for (a CIDR of the list, or the VPC an empty user list falls back to) is
    that list rule; every other rule as it is."""
    lists = {r.peer.value for r in group.list_rules}
    fixed = tuple(r for r in group.rules if r.peer.variable not in lists)
    return (*fixed, *group.list_rules)


def with_digest(blueprint: Blueprint) -> Blueprint:
    """The Blueprint with its digest as a tag on every group, so that a group
    made or converged from it says which policy it holds. Computed again from
    the Blueprint each time (a tag it already holds is replaced)."""
    digest = policy_digest(blueprint)
    groups = tuple(g.replace(tags={**g.tags, POLICY_DIGEST_TAG: digest}) for g in blueprint)
    return blueprint.replace(groups=groups)
