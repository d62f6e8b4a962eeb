"""AWS's rule quota per security group, counted as AWS counts it.

One count for every writer: the compiler refuses a policy whose groups would
not fit, and a backend that adds rules of its own (CloudFormation's inline
no-traffic egress rule) checks the same count with them. Backends may not
import the compiler (docs/architecture.md), so the count lives here, in the core.
"""

from __future__ import annotations

from hasg.core.blueprint import DIRECTIONS, Blueprint, Direction, SecurityGroup
from hasg.errors import QuotaError

# AWS: 60 inbound and 60 outbound rules per group, per address family
# (Amazon VPC quotas, "Inbound or outbound rules per security group").
RULES_PER_GROUP = 60


def quota_usage(group: SecurityGroup) -> dict[tuple[Direction, str], int]:
    """Rules per (direction, address family), counted the way AWS counts them:
    a referenced group counts once in each family, a prefix list its max entries."""
    usage = {(d, f): 0 for d in DIRECTIONS for f in ("ipv4", "ipv6")}
    for rule in group.rules:
        family = rule.peer.family
        for counted in ("ipv4", "ipv6") if family == "both" else (family,):
            usage[(rule.direction, counted)] += rule.peer.quota_cost
    return usage


def check_rule_quotas(blueprint: Blueprint, limit: int = RULES_PER_GROUP) -> None:
    for group in blueprint:
        for (direction, family), count in sorted(quota_usage(group).items()):
            if count > limit:
                raise QuotaError(
                    f"group {group.name!r} (role {group.role}) would have {count} {direction} "
                    f"{family.upper().replace('V', 'v')} rules; AWS allows {limit} per group. "
                    "Put long CIDR lists in customer-managed prefix lists (a prefix list "
                    "counts its max entries once per port it opens), or split the role"
                )
