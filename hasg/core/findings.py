"""What a checker found: one finding, of one kind, about one role and group.

Checks and backends both produce findings (the AWS backend knows what only a
live VPC can tell: rules of strangers that name hasg's groups, groups of other
clusters), so the type lives in the core, where both may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

FindingKind = Literal[
    "missing_group",
    "extra_group",
    "changed_group",
    "duplicate_group",
    "misnamed_group",
    "missing_rule",
    "extra_rule",
    "changed_rule",
    # Groups hasg did not build, mapped to roles (`--map`): grants beyond the
    # policy, worst first, then flows the groups do not allow, then rules
    # nobody described.
    "world_open",
    "node_to_node",
    "open_egress",
    "beyond_policy",
    "missing_flow",
    "undescribed_rule",
    "foreign_reference",
    "other_cluster",
    "stray_group",
    # What a reader of a host's firewall could not evaluate: never clean.
    "cannot_evaluate",
    # What real packets showed (`hasg probe`): a connection the policy does
    # not allow got through, or one it allows did not; and what could not
    # be told: a probe whose answer proves nothing, a host hasg could not
    # reach, a role with no host to probe from or to.
    "probe_open",
    "probe_closed",
    "probe_unproven",
    "probe_failed",
    "not_probed",
]
# The order findings are listed in: whole groups first, then rules, then strangers.
KIND_ORDER: tuple[FindingKind, ...] = get_args(FindingKind)
KIND_LABELS: dict[FindingKind, str] = {k: k.replace("_", " ") for k in KIND_ORDER} | {
    "node_to_node": "any node to any node",
    "open_egress": "allow-all egress",
    "beyond_policy": "beyond the policy",
    "cannot_evaluate": "cannot evaluate",
    "probe_open": "open, not allowed",
    "probe_closed": "closed, but allowed",
    "probe_unproven": "unproven",
    "probe_failed": "could not probe",
}


@dataclass(frozen=True)
class Finding:
    """One difference between the policy and what is deployed."""

    kind: FindingKind
    role: str  # the policy role it concerns; "" when none
    group: str  # the group's name
    detail: str
    group_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "role": self.role,
            "group": self.group,
            "group_id": self.group_id,
            "detail": self.detail,
        }
