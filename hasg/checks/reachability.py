"""Reachability: which connections a Blueprint lets one role open to another,
and whether that is exactly what the policy asks for (`hasg verify`).

Security groups are stateful and sit on both ends: a connection from role A
to role B on a port is allowed only where A's egress allows it to B AND B's
ingress allows it from A. A rule allows it when it references the other
role's group, or when its CIDR holds every address of the VPC (the VPC's own
CIDR, 0.0.0.0/0, ::/0), wherever the instances happen to be. Prefix lists and
narrower CIDRs may or may not hold an instance, so they open nothing here;
the CIDR check judges them instead.

Works on any Blueprint: compiled from a policy, read from a live VPC or from
Terraform. ICMP is judged by type and code (`hasg.core.ports.PortSet`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from hasg.core.blueprint import (
    DEFAULT_GROUP,
    TOWARD,
    Blueprint,
    Direction,
    Peer,
    Rule,
    SecurityGroup,
)
from hasg.core.compile import compile_policy, flow_rules
from hasg.core.findings import Finding, Location
from hasg.core.networks import is_ipv6, within
from hasg.core.ports import NOTHING, PortSet, union
from hasg.errors import ExitCode
from hasg.policy.model import Policy, RolePeer

# --------------------------------------------------------------------------- reachability

Pair = tuple[str, str]


@dataclass(frozen=True)
class Reachability:
    """What each (source role, destination role) pair may open.

    `direct`: allowed where at least one side's rule names the other role's
    group. `incidental`: allowed only by CIDR rules on both sides (say egress
    to 0.0.0.0/0 and ingress from the VPC's CIDR). `egress` and `ingress`
    are each side's half, which tell why a flow is blocked.
    """

    roles: tuple[str, ...]
    direct: Mapping[Pair, PortSet]
    incidental: Mapping[Pair, PortSet]
    egress: Mapping[Pair, PortSet]
    ingress: Mapping[Pair, PortSet]

    def allowed(self, source: str, destination: str) -> PortSet:
        pair = (source, destination)
        return self.direct.get(pair, NOTHING) | self.incidental.get(pair, NOTHING)


def reachability(blueprint: Blueprint, *, vpc_cidrs: Sequence[str] = ()) -> Reachability:
    """Intersect every role's egress with every role's ingress."""
    roles = blueprint.roles
    halves: dict[tuple[Direction, str, str, bool], PortSet] = {}
    for group in blueprint:
        for rule in group.rules:
            for other, by_group in _roles_reached(rule.peer, roles, vpc_cidrs):
                key = (rule.direction, group.role, other, by_group)
                halves[key] = halves.get(key, NOTHING) | PortSet.of_rule(rule)

    def half(direction: Direction, owner: str, other: str, by_group: bool) -> PortSet:
        return halves.get((direction, owner, other, by_group), NOTHING)

    direct: dict[Pair, PortSet] = {}
    incidental: dict[Pair, PortSet] = {}
    egress: dict[Pair, PortSet] = {}
    ingress: dict[Pair, PortSet] = {}
    for source in roles:
        for destination in roles:
            out_group = half("egress", source, destination, True)
            out_cidr = half("egress", source, destination, False)
            in_group = half("ingress", destination, source, True)
            in_cidr = half("ingress", destination, source, False)
            pair = (source, destination)
            found = (out_group & (in_group | in_cidr)) | (out_cidr & in_group)
            by_cidrs = (out_cidr & in_cidr) - found
            for table, value in (
                (direct, found),
                (incidental, by_cidrs),
                (egress, out_group | out_cidr),
                (ingress, in_group | in_cidr),
            ):
                if value:
                    table[pair] = value
    return Reachability(roles, direct, incidental, egress, ingress)


def _roles_reached(
    peer: Peer, roles: Sequence[str], vpc_cidrs: Sequence[str]
) -> Iterable[tuple[str, bool]]:
    """The roles a rule's peer certainly holds, and whether it names them by group."""
    if peer.is_group:
        if peer.value in roles:
            yield peer.value, True
    elif holds_whole_vpc(peer, vpc_cidrs):
        for role in roles:
            yield role, False


def holds_whole_vpc(peer: Peer, vpc_cidrs: Sequence[str] = ()) -> bool:
    """Whether the peer holds every instance address of the VPC, wherever it is.

    Every instance has a private IPv4 address in one of the VPC's IPv4 CIDRs.
    """
    if peer.is_vpc:
        return True
    if not peer.is_network:
        return False
    network = ipaddress.ip_network(peer.value)
    if network.prefixlen == 0:
        return True
    ipv4 = [c for c in vpc_cidrs if not is_ipv6(c)]
    return bool(ipv4) and all(within(c, network) for c in ipv4)


# --------------------------------------------------------------------------- verify

BreachKind = Literal[
    "missing_group",
    "missing_flow",
    "unexpected_flow",
    "unnamed_cidr",
    "foreign_group",
    "default_group",
]


@dataclass(frozen=True)
class Breach:
    """One way the Blueprint differs from what the policy means."""

    kind: BreachKind
    message: str
    role: str
    ports: PortSet = field(default=NOTHING)
    # What it is about without its ports (a flow, a pair of roles, a peer):
    # the same from run to run while the ports it names change.
    subject: str = ""

    def finding(self, locations: tuple[Location, ...]) -> Finding:
        """The breach in the one vocabulary of findings (`hasg.core.findings`)."""
        return Finding(
            self.kind, self.role, "", self.message, locations=locations, subject=self.subject
        )

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "role": self.role,
            "ports": self.ports.as_list(),
            "message": self.message,
        }


@dataclass(frozen=True)
class VerifyReport:
    reachability: Reachability
    breaches: tuple[Breach, ...]
    flows_checked: int
    cidr_rules_checked: int
    # Whether the VPC's default group was judged (restrict_default_group).
    default_group_checked: bool = False
    # Where each role's groups are (a live VPC's); a role not here is located
    # by its name in the policy. The VPC's default group is DEFAULT_GROUP.
    locations: Mapping[str, tuple[Location, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaches

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(b.finding(self._located(b)) for b in self.breaches)

    def _located(self, breach: Breach) -> tuple[Location, ...]:
        role = DEFAULT_GROUP if breach.kind == "default_group" else breach.role
        if role in self.locations:
            return self.locations[role]
        return (Location(logical=(("role", role),)),) if breach.role else ()

    @property
    def exit_code(self) -> ExitCode:
        # A flow blocked or a port opened that the policy does not ask for: an error.
        return ExitCode.OK if self.ok else ExitCode.ERROR

    def to_text(self) -> str:
        return verify_text(self)

    def to_json(self) -> str:
        return verify_json(self)

    def of_kind(self, kind: BreachKind) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.kind == kind)


def verify(
    policy: Policy,
    blueprint: Blueprint,
    *,
    vpc_cidrs: Sequence[str] = (),
    locations: Mapping[str, tuple[Location, ...]] | None = None,
) -> VerifyReport:
    """Every flow of the policy is allowed, no other role-to-role flow is, and
    no rule opens a port to a CIDR, prefix list or group the policy does not
    name for that role, direction and port.

    `vpc_cidrs` (the VPC's CIDRs, primary first) lets a live Blueprint, whose
    rules hold the VPC's CIDR itself, match the policy's `vpc` peer.
    `locations` (role -> where its groups are) locate the findings.
    """
    reach = reachability(blueprint, vpc_cidrs=vpc_cidrs)
    present = set(blueprint.roles)
    policy_roles = {r.id for r in policy.roles}
    breaches = [
        Breach("missing_group", f"role {r.id} has no security group", r.id, subject=r.id)
        for r in policy.roles
        if r.id not in present
    ]
    granted: dict[Pair, PortSet] = {}
    flows_checked = 0
    for flow in policy.flows:
        if isinstance(flow.source, RolePeer) and isinstance(flow.destination, RolePeer):
            pair = (flow.source.role, flow.destination.role)
            ports = union(PortSet.of_port(p) for p in flow.ports)
            granted[pair] = granted.get(pair, NOTHING) | ports
            if present.issuperset(pair):
                flows_checked += 1
                breaches += _blocked(flow.label, pair, ports, reach)
            continue
        flows_checked += 1
        for role, rule in flow_rules(policy, flow):
            if role in present:
                lacking = PortSet.of_rule(rule) - _cidr_cover(blueprint[role], rule, vpc_cidrs)
                if lacking:
                    breaches.append(
                        Breach(
                            "missing_flow",
                            f"flow {flow.label}: {role} {rule.direction} lacks {lacking} "
                            f"{TOWARD[rule.direction]} {rule.peer}",
                            role,
                            lacking,
                            f"flow {flow.label}: {role} {rule.direction} "
                            f"{TOWARD[rule.direction]} {rule.peer}",
                        )
                    )
    for (source, destination), ports in sorted(reach.direct.items()):
        extra = ports - granted.get((source, destination), NOTHING)
        if extra:
            breaches.append(
                Breach(
                    "unexpected_flow",
                    f"{source} -> {destination} may open {extra}, which no flow of the "
                    "policy asks for",
                    source,
                    extra,
                    f"{source} -> {destination}",
                )
            )
    named = _named_peers(policy, vpc_cidrs)
    cidr_rules = 0
    for group in blueprint:
        for rule in group.rules:
            if rule.peer.is_group:
                if rule.peer.value not in present | policy_roles:
                    breaches.append(
                        Breach(
                            "foreign_group",
                            f"{group.role} {rule.direction} opens {PortSet.of_rule(rule)} "
                            f"{TOWARD[rule.direction]} {rule.peer}, which is not "
                            "a role of the policy",
                            group.role,
                            PortSet.of_rule(rule),
                            _toward(group.role, rule),
                        )
                    )
                continue
            cidr_rules += 1
            key = (group.role, rule.direction, peer_key(rule.peer, vpc_cidrs))
            extra = PortSet.of_rule(rule) - named.get(key, NOTHING)
            if extra:
                breaches.append(
                    Breach(
                        "unnamed_cidr",
                        f"{group.role} {rule.direction} opens {extra} "
                        f"{TOWARD[rule.direction]} {rule.peer}, which the "
                        f"policy does not name for {group.role}",
                        group.role,
                        extra,
                        _toward(group.role, rule),
                    )
                )
    checked = policy.restrict_default_group and blueprint.default_group is not None
    breaches += [
        Breach(
            "default_group",
            f"the VPC's default group: {rule.direction} {PortSet.of_rule(rule)} "
            f"{TOWARD[rule.direction]} {rule.peer}, and restrict_default_group wants no rule",
            "",
            PortSet.of_rule(rule),
            _toward(DEFAULT_GROUP, rule),
        )
        for rule in (blueprint.default_group or ())
        if policy.restrict_default_group
    ]
    return VerifyReport(
        reach, tuple(breaches), flows_checked, cidr_rules, checked, dict(locations or {})
    )


def _toward(owner: str, rule: Rule) -> str:
    """`web ingress from 0.0.0.0/0`: what a grant is about, without its ports."""
    return f"{owner} {rule.direction} {TOWARD[rule.direction]} {rule.peer}"


def verify_policy(policy: Policy) -> VerifyReport:
    """`hasg verify` without a VPC: the policy's own compiled Blueprint."""
    return verify(policy, compile_policy(policy))


def _blocked(label: str, pair: Pair, ports: PortSet, reach: Reachability) -> list[Breach]:
    lacking = ports - reach.allowed(*pair)
    if not lacking:
        return []
    source, destination = pair
    sides = []
    if lacking - reach.egress.get(pair, NOTHING):
        sides.append(f"{source}'s egress")
    if lacking - reach.ingress.get(pair, NOTHING):
        sides.append(f"{destination}'s ingress")
    return [
        Breach(
            "missing_flow",
            f"flow {label}: {source} -> {destination} {lacking} is blocked by "
            + " and ".join(sides or ["the two sides' rules together"]),
            source,
            lacking,
            f"flow {label}: {source} -> {destination}",
        )
    ]


def _cidr_cover(group: SecurityGroup, wanted: Rule, vpc_cidrs: Sequence[str]) -> PortSet:
    """What the group's rules allow toward a non-group peer of the policy."""
    return union(
        PortSet.of_rule(r)
        for r in group.rules_for(wanted.direction)
        if _peer_holds(r.peer, wanted.peer, vpc_cidrs)
    )


def _peer_holds(actual: Peer, wanted: Peer, vpc_cidrs: Sequence[str]) -> bool:
    return peer_holds(actual, wanted, vpc_cidrs)


def peer_holds(
    outer: Peer, inner: Peer, vpc_cidrs: Sequence[str] = (), roles: Iterable[str] = ()
) -> bool:
    """Whether every address `inner` may stand for is one `outer` holds.

    A role's group (one of `roles`) holds instances of the VPC, so a peer
    holding the whole VPC holds it; any other group (unmapped, in another
    VPC or account) is held only by itself. `vpc` is the VPC's primary CIDR
    where it is known."""
    if peer_key(outer, vpc_cidrs) == peer_key(inner, vpc_cidrs):
        return True
    if inner.is_group:
        return inner.value in set(roles) and holds_whole_vpc(outer, vpc_cidrs)
    if inner.is_vpc:
        return holds_whole_vpc(outer, vpc_cidrs)
    kind, value = peer_key(outer, vpc_cidrs)
    inner_kind, inner_value = peer_key(inner, vpc_cidrs)
    if kind == inner_kind == "cidr":
        return within(inner_value, value)
    return False


def peer_key(peer: Peer, vpc_cidrs: Sequence[str] = ()) -> tuple[str, str]:
    """What a non-group peer is, with `vpc` read as the VPC's primary CIDR where known."""
    if peer.is_vpc and vpc_cidrs:
        return ("cidr", vpc_cidrs[0])
    if peer.is_network:
        return ("cidr", peer.value)
    return (peer.kind, peer.value)


def _named_peers(
    policy: Policy, vpc_cidrs: Sequence[str]
) -> dict[tuple[str, Direction, tuple[str, str]], PortSet]:
    named: dict[tuple[str, Direction, tuple[str, str]], PortSet] = {}
    for group in compile_policy(policy, check_quotas=False):
        for rule in group.rules:
            if not rule.peer.is_group:
                key = (group.role, rule.direction, peer_key(rule.peer, vpc_cidrs))
                named[key] = named.get(key, NOTHING) | PortSet.of_rule(rule)
    return named


# --------------------------------------------------------------------------- output


def matrix_text(reach: Reachability) -> str:
    """Rows: who opens; columns: who accepts; cells: ports (`hasg.core.ports.port_text`)."""
    header = ["from \\ to", *reach.roles]
    rows = [header] + [
        [source, *(str(reach.direct.get((source, d), "")) or "." for d in reach.roles)]
        for source in reach.roles
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def verify_text(report: VerifyReport) -> str:
    reach = report.reachability
    lines = [
        "Allowed role-to-role connections (the source's egress AND the destination's ingress):",
        "",
        matrix_text(reach),
        "",
    ]
    checks: tuple[tuple[tuple[BreachKind, ...], str], ...] = (
        (
            ("missing_group", "missing_flow"),
            f"all {report.flows_checked} flows of the policy are allowed",
        ),
        (("unexpected_flow",), "no other role-to-role connection is allowed"),
        (
            ("unnamed_cidr", "foreign_group"),
            f"every rule toward a CIDR, prefix list or group is one the policy names "
            f"({report.cidr_rules_checked} CIDR and prefix list rules)",
        ),
    )
    if report.default_group_checked:
        checks += ((("default_group",), "the VPC's default group holds no rule"),)
    for kinds, claim in checks:
        found = [b for b in report.breaches if b.kind in kinds]
        lines.append(f"{'ok' if not found else 'FAIL':<6}{claim}")
        lines += [f"      - {b.message}" for b in found]
    incidental = sorted(reach.incidental.items())
    if incidental:
        lines += [
            "",
            "Also reachable through CIDR rules on both sides (a CIDR that holds the whole VPC):",
        ]
        lines += [f"      {s} -> {d}: {ports}" for (s, d), ports in incidental]
    lines += ["", "verify: ok" if report.ok else f"verify: {_breaches(len(report.breaches))}"]
    return "\n".join(lines) + "\n"


def verify_json(report: VerifyReport) -> str:
    reach = report.reachability

    def cells(table: Mapping[Pair, PortSet]) -> list[dict[str, object]]:
        return [
            {"source": s, "destination": d, "ports": ports.as_list()}
            for (s, d), ports in sorted(table.items())
        ]

    document = {
        "ok": report.ok,
        "roles": list(reach.roles),
        "allowed": cells(reach.direct),
        "incidental": cells(reach.incidental),
        "flows_checked": report.flows_checked,
        "breaches": [b.to_json() for b in report.breaches],
    }
    return json.dumps(document, indent=2) + "\n"


def _breaches(count: int) -> str:
    return f"{count} breach" if count == 1 else f"{count} breaches"
