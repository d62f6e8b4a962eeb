"""The normalized form every backend and checker speaks: groups and their rules.

A `Rule` is exactly one AWS security group rule: one direction, one protocol,
one port range, one peer. The compiler, the live AWS reader and the HCL reader
all produce a `Blueprint`, so "the policy, the VPC and the Terraform agree" is
a plain set comparison.

These are frozen dataclasses rather than pydantic models: they are built only
by our own code (the policy was validated before), and the scale benchmark
compiles 10,000 rules in well under a second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from hasg.core.networks import is_ipv6
from hasg.core.ports import aws_ports, port_text
from hasg.core.protocols import ALL_PORTS, Protocol, canonical_protocol, has_ports
from hasg.errors import RuleConflictError

Direction = Literal["ingress", "egress"]
PeerKind = Literal["group", "cidr_ipv4", "cidr_ipv6", "prefix_list", "vpc", "cidr_list"]

DIRECTIONS: tuple[Direction, ...] = ("ingress", "egress")
# The one word for the other side of a rule: "ingress tcp/22 from ...", "egress tcp/443 to ...".
TOWARD: dict[Direction, str] = {"ingress": "from", "egress": "to"}


@dataclass(frozen=True, order=True, slots=True)
class Peer:
    """The other side of a rule.

    `value` is a role id (kind "group"), a CIDR, a prefix list id, empty for
    "vpc" (the VPC's primary IPv4 CIDR, known only where the VPC is: at apply
    time, or to Terraform through `data.aws_vpc`), or the name of a policy CIDR
    list (kind "cidr_list", only in `SecurityGroup.list_rules`).

    `variable`, `max_entries` and `prefix_list_family` are carried along but
    are not part of a rule's identity: `variable` names the policy CIDR list
    the peer came from (the HCL emitter turns it into a Terraform variable);
    the other two say what a prefix list costs against the rule quota.
    """

    kind: PeerKind
    value: str = ""
    variable: str | None = field(default=None, compare=False)
    max_entries: int = field(default=1, compare=False)
    prefix_list_family: Literal["ipv4", "ipv6"] = field(default="ipv4", compare=False)

    @property
    def family(self) -> Literal["ipv4", "ipv6", "both"]:
        """The address family whose rule quota this peer counts against.

        AWS counts a rule that references a group against both families.
        """
        if self.kind == "group":
            return "both"
        if self.kind == "cidr_ipv6":
            return "ipv6"
        if self.kind == "prefix_list":
            return self.prefix_list_family
        return "ipv4"

    # What kind of peer it is, asked of the value: the one place the kinds are
    # compared (targets spell each kind in a table of their own).
    @property
    def is_group(self) -> bool:
        """A role's group (or, read from AWS, another group by id)."""
        return self.kind == "group"

    @property
    def is_vpc(self) -> bool:
        """The VPC's CIDR, known where the VPC is."""
        return self.kind == "vpc"

    @property
    def is_network(self) -> bool:
        """A literal network: an IPv4 or IPv6 CIDR."""
        return self.kind in ("cidr_ipv4", "cidr_ipv6")

    @property
    def is_list(self) -> bool:
        """A policy CIDR list by name (only in `SecurityGroup.list_rules`)."""
        return self.kind == "cidr_list"

    @property
    def is_prefix_list(self) -> bool:
        return self.kind == "prefix_list"

    @property
    def quota_cost(self) -> int:
        """A customer-managed prefix list costs its max entries (VPC quotas page)."""
        return self.max_entries if self.kind == "prefix_list" else 1

    def text(self, group_name: Callable[[str], str] = str) -> str:
        """The one text form of a peer: `group web` (or, through `group_name`, the
        group's AWS name), `vpc` (the policy's word), a CIDR, a prefix list id, a
        CIDR list's name."""
        if self.kind == "group":
            return f"group {group_name(self.value)}"
        if self.kind == "vpc":
            return "vpc"
        return self.value

    def __str__(self) -> str:
        return self.text()


# What AWS identifies a rule by: direction, protocol, ports and peer.
RuleKey = tuple[Direction, Protocol, int, int, Peer]


@dataclass(frozen=True, order=True, slots=True)
class Rule:
    """One AWS security group rule, equal to another by value (its description too).

    `key` is what AWS identifies it by: a description can change in place.

    For icmp/icmpv6, `from_port` is the ICMP type and `to_port` the code
    (-1 = any); for protocol "-1" both are -1.
    """

    direction: Direction
    protocol: Protocol
    from_port: int
    to_port: int
    peer: Peer
    description: str = ""
    # Which policy flows produced this rule: provenance for reports and tests.
    # Not part of equality: AWS, Terraform and a host firewall hold no
    # provenance, so a rule read back from them must equal the compiled one.
    origins: tuple[str, ...] = field(default=(), compare=False)
    # Whether a flow that produced it says `public: true`: where its peer is
    # resolved to networks later (`vpc` to a site's --network, a stack's
    # parameter), the one world guard (hasg.core.networks.exposure) lets it
    # open that wide. Provenance too: not part of equality, no reader sets it.
    public: bool = field(default=False, compare=False)

    @property
    def key(self) -> RuleKey:
        """What identifies the rule in AWS; the description can change in place."""
        return (self.direction, self.protocol, self.from_port, self.to_port, self.peer)

    def covers(self, protocol: str | int, port: int) -> bool:
        """Whether this rule lets `protocol`/`port` traffic through (any spelling of
        the protocol; `port` means nothing for a protocol without ports)."""
        if self.protocol == "-1":
            return True
        if self.protocol != canonical_protocol(protocol):
            return False
        if not has_ports(self.protocol):
            return True
        if self.protocol in ("icmp", "icmpv6"):
            return self.from_port in (ALL_PORTS, port)
        return self.from_port <= port <= self.to_port

    @property
    def aws_ports(self) -> tuple[int, int] | None:
        """FromPort and ToPort as AWS's forms hold them (`hasg.core.ports.aws_ports`)."""
        return aws_ports(self.protocol, self.from_port, self.to_port)

    def ports_text(self) -> str:
        """`tcp/22`, `icmp/8`, `all`, `proto/50`: `hasg.core.ports.port_text`."""
        return port_text(self.protocol, self.from_port, self.to_port)

    def text(self, group_name: Callable[[str], str] = str) -> str:
        """`ingress tcp/22 from group bastion`: the one text form of a rule
        (`group_name` as for `Peer.text`)."""
        peer = self.peer.text(group_name)
        return f"{self.direction} {self.ports_text()} {TOWARD[self.direction]} {peer}"

    def described(self) -> str:
        """`ingress tcp/22 from group bastion (SSH from the bastion)`: the rule and why."""
        return f"{self.text()} ({self.description})" if self.description else self.text()

    def __str__(self) -> str:
        return self.text()


def _distinct_rules(group: str, rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """`rules` sorted, each once (equal rules pool their origins); two rules AWS
    would hold as one (same `key`) that differ otherwise are a RuleConflictError:
    EC2 keeps one rule per key, so keeping either would lose the other silently."""
    by_key: dict[RuleKey, Rule] = {}
    for rule in rules:
        kept = by_key.setdefault(rule.key, rule)
        if kept == rule:
            if (rule.origins and kept.origins != rule.origins) or rule.public > kept.public:
                origins = tuple(sorted({*kept.origins, *rule.origins}))
                public = kept.public or rule.public
                by_key[rule.key] = dataclasses.replace(kept, origins=origins, public=public)
            continue
        raise RuleConflictError(
            f"group {group}: the rule {rule} is there twice, described "
            f"{kept.description!r} and {rule.description!r}; AWS holds one rule per "
            "direction, protocol, ports and peer: keep one description"
        )
    return tuple(sorted(by_key.values()))


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    """One security group: a role of the policy. Rules are kept sorted.

    `rules` are what AWS holds. `list_rules` say where some of them came from:
    a rule against a policy CIDR list (peer kind "cidr_list"), which `rules`
    holds once per CIDR. Terraform keeps the list as a variable, so the HCL
    emitter writes `list_rules` (and skips the rules they expand to); a list
    left empty still has its rule there, ready for the variable to be set.
    """

    role: str
    name: str
    description: str
    tags: Mapping[str, str]
    rules: tuple[Rule, ...] = ()
    list_rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        # Sorted and de-duplicated so that equal groups compare and print equal.
        object.__setattr__(self, "rules", _distinct_rules(self.name, self.rules))
        object.__setattr__(self, "list_rules", _distinct_rules(self.name, self.list_rules))
        object.__setattr__(self, "tags", dict(sorted(self.tags.items())))

    def __hash__(self) -> int:
        return hash((self.role, self.name, self.description, self.rules))

    def rules_for(self, direction: Direction) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.direction == direction)

    def replace(self, **changes: object) -> SecurityGroup:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Blueprint:
    """All groups of one cluster, sorted by role id, and the values of the
    policy CIDR lists their `list_rules` refer to.

    `default_group` is the VPC's default group, which hasg does not own:
    None where the Blueprint says nothing of it (a policy without
    `restrict_default_group`, a Terraform module without an
    `aws_default_security_group`); else the rules it holds, `()` being what
    `restrict_default_group: true` asks for (CIS AWS Foundations 5.4: the
    default group restricts all traffic)."""

    cluster: str
    groups: tuple[SecurityGroup, ...]
    cidr_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_group: tuple[Rule, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(sorted(self.groups, key=lambda g: g.role)))
        if self.default_group is not None:
            object.__setattr__(
                self, "default_group", _distinct_rules("default", self.default_group)
            )
        # IPv4 before IPv6, each in order: how Terraform keeps them (one variable per family).
        lists = {
            name: tuple(sorted(cidrs, key=is_ipv6))
            for name, cidrs in sorted(self.cidr_lists.items())
        }
        object.__setattr__(self, "cidr_lists", lists)

    def __iter__(self) -> Iterator[SecurityGroup]:
        return iter(self.groups)

    def __getitem__(self, role: str) -> SecurityGroup:
        for group in self.groups:
            if group.role == role:
                return group
        raise KeyError(role)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(g.role for g in self.groups)

    def rule_count(self) -> int:
        return sum(len(g.rules) for g in self.groups)

    def rule_set(self) -> frozenset[tuple[str, Rule]]:
        """(role, rule) pairs: what two Blueprints are compared by."""
        return frozenset((g.role, r) for g in self.groups for r in g.rules)

    def replace(self, **changes: object) -> Blueprint:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# The key that stands for the VPC's default group where groups are keyed by
# role (a peer, a group id map): no role id can be it (`[a-z][a-z0-9_]*`).
DEFAULT_GROUP = "(default)"
# AWS names every VPC's default group so, and no other group can take the name.
DEFAULT_GROUP_NAME = "default"


def group_name(cluster: str, role: str) -> str:
    """Role ids are snake_case; AWS group names read better with hyphens."""
    return f"{cluster}-{role.replace('_', '-')}"


def by_role(groups: Iterable[SecurityGroup]) -> dict[str, SecurityGroup]:
    return {g.role: g for g in groups}
