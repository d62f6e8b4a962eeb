"""What a checker found: one finding, of one kind, about one role and group,
and where it is.

Checks and backends both produce findings (the AWS backend knows what only a
live VPC can tell: rules of strangers that name hasg's groups, groups of other
clusters), so the type lives in the core, where both may import it. Every
report (audit, verify, coverage, the host audit) speaks it, so that one
writer (`hasg.core.sarif`) turns any of them into SARIF.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

from hasg.core.blueprint import Blueprint, Rule, RuleKey

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
    # `hasg verify`: what the reachability check finds beside missing groups
    # and flows.
    "unexpected_flow",
    "unnamed_cidr",
    "foreign_group",
    "default_group",
    # `hasg coverage`: a cell of Chef's documented port table no rule covers.
    "uncovered_cell",
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

# SARIF's levels (SARIF 2.1.0, 3.27.10): "error" a serious problem, "warning"
# a problem, "note" a minor one.
Level = Literal["error", "warning", "note"]


class KindText(NamedTuple):
    """How one kind of finding presents itself: in the text report (`label`),
    and as a SARIF rule (description, help, level, and for what opens traffic
    the policy does not grant, the security severity GitHub code scanning
    ranks alerts by: 0.0 to 10.0, 9.0 and up critical, 7.0 high, 4.0 medium)."""

    label: str
    level: Level
    description: str
    help: str
    security_severity: str = ""


_CHANGE_IT = "Make the deployed firewall match the policy (hasg apply, terraform apply)"
_OR_POLICY = "or change the policy if it is the policy that is wrong"

KINDS: dict[FindingKind, KindText] = {
    "missing_group": KindText(
        "missing group",
        "error",
        "A role of the policy has no security group.",
        "Every flow to and from the role is blocked. " + _CHANGE_IT + ", or map the role's "
        "groups (--map, --map-tag).",
    ),
    "extra_group": KindText(
        "extra group",
        "warning",
        "A group belongs to the cluster for a role the policy does not have.",
        "hasg does not audit the rules of a role it does not know. Remove the group, "
        "or add the role to the policy.",
    ),
    "changed_group": KindText(
        "changed group",
        "warning",
        "A group's name, description or tags differ from the policy's.",
        _CHANGE_IT + "; a group's name and description cannot change in place: "
        "AWS replaces the group.",
    ),
    "duplicate_group": KindText(
        "duplicate group",
        "warning",
        "Several groups claim one role of the cluster.",
        "hasg will not guess which one is the role's: remove the hasg:role tag from all but one.",
    ),
    "misnamed_group": KindText(
        "misnamed group",
        "warning",
        "A group carries hasg's tags but not the name hasg gives that role.",
        "hasg neither changes nor deletes it: remove its hasg:role tag, or delete it.",
    ),
    "missing_rule": KindText(
        "missing rule",
        "error",
        "A rule of the policy is not there.",
        "The traffic the rule allows is blocked. " + _CHANGE_IT + ".",
    ),
    "extra_rule": KindText(
        "extra rule",
        "error",
        "A rule is there that the policy does not have.",
        "It allows traffic the policy does not grant. " + _CHANGE_IT + ", " + _OR_POLICY + ".",
        "6.5",
    ),
    "changed_rule": KindText(
        "changed rule",
        "error",
        "A rule's ports or description differ from the policy's.",
        "Other ports than the policy's are open, or the rule does not say why it is there. "
        + _CHANGE_IT
        + ".",
        "5.0",
    ),
    "world_open": KindText(
        "world open",
        "error",
        "Ingress the policy does not grant is open to the internet.",
        "CIDRs whose union is wide open (0.0.0.0/0, ::/0, or pieces adding up to more than "
        "a public /24 or /48) may open a port the policy does not grant. Narrow the rule "
        "to the peers of the policy's flows.",
        "9.0",
    ),
    "node_to_node": KindText(
        "any node to any node",
        "error",
        "Every node may open a port the policy does not grant on every node.",
        "A rule from a peer holding every node (a group every role has, or a CIDR holding "
        "the VPC) opens more than the policy's flows. Give each role its own group and "
        "allow only the policy's flows between them.",
        "7.5",
    ),
    "open_egress": KindText(
        "allow-all egress",
        "error",
        "All traffic may leave for the whole internet.",
        "An allow-all egress rule (AWS's default for a new group) lets a compromised node "
        "send anything anywhere. Replace it with the policy's egress rules.",
        "6.0",
    ),
    "beyond_policy": KindText(
        "beyond the policy",
        "error",
        "A role's groups open a port the policy does not grant that role.",
        "Remove the rule, or narrow it to the policy's ports and peers, " + _OR_POLICY + ".",
        "5.5",
    ),
    "missing_flow": KindText(
        "missing flow",
        "error",
        "A flow of the policy is not allowed.",
        "The destination's ingress or the source's egress (security groups sit on both "
        "ends) does not allow the flow's ports. Add the rules it needs.",
    ),
    "undescribed_rule": KindText(
        "undescribed rule",
        "note",
        "A rule has no description.",
        "Every rule should say why it is there: give it a description.",
    ),
    "foreign_reference": KindText(
        "foreign reference",
        "error",
        "A group hasg does not manage refers to one of the policy's groups.",
        "Its rule opens the policy's machines to more than the policy says, and keeps the "
        "group from being deleted. Remove the rule, or bring its flow into the policy.",
        "6.0",
    ),
    "other_cluster": KindText(
        "other cluster",
        "warning",
        "A group is tagged for a hasg cluster the policy does not name.",
        "If that cluster shares the VPC on purpose, name it with --known-cluster; else "
        "destroy what is left of it.",
    ),
    "stray_group": KindText(
        "stray group",
        "warning",
        "A group is tagged for this cluster but lacks hasg's other tags.",
        "hasg neither manages nor audits its rules: tag it fully, or remove its hasg:cluster tag.",
    ),
    "cannot_evaluate": KindText(
        "cannot evaluate",
        "error",
        "Part of a firewall could not be evaluated.",
        "hasg never calls clean what it cannot read: what the rule or table does is unknown. "
        "Replace it with rules hasg can evaluate, or check it by hand.",
    ),
    "probe_open": KindText(
        "open, not allowed",
        "error",
        "Real packets got through where the policy allows no connection.",
        "Something between the hosts opens more than the policy: a host firewall, a security "
        "group or a network ACL. hasg audit --from names the rule where hasg can read it.",
        "8.0",
    ),
    "probe_closed": KindText(
        "closed, but allowed",
        "error",
        "Real packets did not get through where the policy allows a connection.",
        "Something between the hosts blocks a flow the cluster needs: a host firewall, a "
        "security group, a network ACL or a router. The reason (refused, timeout, "
        "unreachable) says where to look.",
    ),
    "probe_unproven": KindText(
        "unproven",
        "warning",
        "A probe's answer proves nothing about the firewall.",
        "The port is held by a program that does not answer, or the agent could not listen "
        "on it (ports below 1024 need root): probe again as root, or after the service "
        "is stopped.",
    ),
    "probe_failed": KindText(
        "could not probe",
        "error",
        "A host could not be probed.",
        "SSH refused, an unknown host key, or no Python 3 on the host: the message names it.",
    ),
    "not_probed": KindText(
        "not probed",
        "note",
        "A role has no host to probe from or to, or a service cannot be probed.",
        "A flow is only tested from the hosts that exist: add the role's hosts to the "
        "inventory to probe it.",
    ),
    "unexpected_flow": KindText(
        "unexpected flow",
        "error",
        "One role may open a connection to another that no flow of the policy asks for.",
        "Both sides' rules allow it. Remove the rule on either side that opens it, "
        + _OR_POLICY
        + ".",
        "7.0",
    ),
    "unnamed_cidr": KindText(
        "unnamed CIDR",
        "error",
        "A port is open to a CIDR or prefix list the policy does not name for that role.",
        "Narrow the rule to the networks the policy names (0.0.0.0/0 on SSH and AWS's "
        "allow-all egress are the usual ones).",
        "7.0",
    ),
    "foreign_group": KindText(
        "foreign group",
        "error",
        "A port is open to a group that is not a role of the policy.",
        "Remove the rule, or map that group to a role.",
        "6.0",
    ),
    "default_group": KindText(
        "default group rule",
        "error",
        "The VPC's default group holds a rule, and restrict_default_group wants none.",
        "CIS AWS Foundations 5.4: the default group should restrict all traffic. hasg "
        "apply revokes its rules.",
        "5.0",
    ),
    "uncovered_cell": KindText(
        "uncovered cell",
        "error",
        "A port of Chef's documented port table is not open.",
        "Chef Automate HA needs it (docs/ports.md): add the flow to the policy.",
    ),
}
KIND_LABELS: dict[FindingKind, str] = {kind: text.label for kind, text in KINDS.items()}


# The parts of a logical location, outermost first: (kind, name).
LogicalPart = tuple[str, str]


@dataclass(frozen=True, order=True)
class Location:
    """Where a finding is, as far as its source can tell.

    Physical, in a file: `file` as the user named it, `line` and `column`
    (1-based) of the construct the finding is about (the `resource` keyword
    of a Terraform block); 0 where the source does not know them.

    Logical, in something that is no file: `logical` names the path to it from
    the outermost part in, each part a (kind, name) pair. The kinds hasg uses:

    - a live VPC: ("vpc", "vpc-0abc..."), ("group", "sg-0123..."),
      ("rule", "sgr-0456...");
    - Terraform: ("module", the path read), ("resource", "aws_security_group.web");
    - a host's nftables: ("host", "198.18.0.10"), ("table", "inet hasg"),
      ("chain", "input"), ("rule", the rule's handle);
    - the policy itself: ("role", "automate"), ("cell", "incoming TCP 443").

    A location may be both (a Terraform resource: its file and line, and its
    address).
    """

    file: str = ""
    line: int = 0
    column: int = 0
    logical: tuple[LogicalPart, ...] = ()

    def inside(self, kind: str, name: str) -> Location:
        """This location, one logical part deeper: the VPC's group, the group's rule."""
        return Location(self.file, self.line, self.column, (*self.logical, (kind, name)))

    @property
    def physical(self) -> bool:
        return bool(self.file)


NOWHERE = Location()


@dataclass(frozen=True)
class Finding:
    """One difference between the policy and what is deployed."""

    kind: FindingKind
    role: str  # the policy role it concerns; "" when none
    group: str  # the group's name
    detail: str
    group_id: str = ""
    # Where it is: one location, or one per part that makes it (a grant several
    # rules of one group open together); empty where the source cannot say.
    locations: tuple[Location, ...] = ()
    # What it is about, in words that stay the same from run to run (a rule
    # without its description, a flow's name): the fingerprint's input.
    # Empty: the detail.
    subject: str = ""

    @property
    def fingerprint(self) -> str:
        """The finding's identity from run to run: its kind, role, group and
        subject, never where it is (lines move, group ids change when a group
        is made again) nor what it says in passing (ports added to a grant)."""
        import hashlib  # here: `hasg emit-hcl` starts without it

        identity = "\x1f".join((self.kind, self.role, self.group, self.subject or self.detail))
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "role": self.role,
            "group": self.group,
            "group_id": self.group_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Places:
    """Where the groups and rules of what a checker read are: the source of
    findings' locations.

    Groups are keyed as the reader keys them: by role for a Blueprint (hasg's
    own groups, a Terraform module), by group id for groups mapped to roles;
    rules by their group's key and `Rule.key`. `source` is the whole (the
    VPC, the module): where a finding about something absent is."""

    source: Location = NOWHERE
    groups: Mapping[str, Location] = field(default_factory=dict)
    rules: Mapping[tuple[str, RuleKey], Location] = field(default_factory=dict)

    def group(self, key: str) -> Location:
        return self.groups.get(key, self.source)

    def rule(self, key: str, rule: Rule) -> Location:
        """The rule's own location, else its group's."""
        return self.rules.get((key, rule.key)) or self.group(key)

    def of_rules(self, key: str, rules: Iterable[Rule]) -> tuple[Location, ...]:
        """Where each of `rules` is, each place once."""
        return tuple(dict.fromkeys(loc for r in rules for loc in located(self.rule(key, r))))

    def with_rules(self, rules: Mapping[tuple[str, RuleKey], Location]) -> Places:
        return Places(self.source, self.groups, {**self.rules, **rules})


@dataclass(frozen=True)
class Located:
    """A Blueprint a reader read, and where its groups and rules are (a
    Terraform module: their files, lines and columns)."""

    blueprint: Blueprint
    places: Places


def located(location: Location) -> tuple[Location, ...]:
    """A finding's locations: the one given, none where nothing is known."""
    return () if location == NOWHERE else (location,)
