"""Audit: how what is deployed differs from the policy (`hasg audit`).

`audit_blueprint(expected, actual)` compares any two Blueprints with the
core's pure diff (`hasg.core.diff`, the one `hasg plan` uses), so a
Blueprint read from a VPC, from Terraform or from anywhere else is audited
the same way: groups missing or extra, rules missing, extra or changed, and
group names, descriptions and tags that differ.

A Terraform module (`hasg.workflows.audit_hcl`) and a live VPC
(`hasg.workflows.audit_vpc`, which adds the findings only a VPC can tell:
`hasg.backends.aws.audit`) are read by their backends and audited here.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hasg.checks.reachability import holds_whole_vpc, peer_holds
from hasg.core.blueprint import (
    DEFAULT_GROUP,
    DEFAULT_GROUP_NAME,
    TOWARD,
    Blueprint,
    Direction,
    Peer,
    Rule,
)
from hasg.core.diff import Changes, RuleChange, diff
from hasg.core.findings import (
    KIND_LABELS,
    KIND_ORDER,
    Finding,
    FindingKind,
    Location,
    Places,
    located,
)
from hasg.core.mapping import JOIN, MappedGroup, mapped_blueprint, peers_meant
from hasg.core.networks import Network, Openness, family_of, wide_open, within
from hasg.core.ports import NOTHING, PortSet, union
from hasg.core.protocols import ALL_TRAFFIC
from hasg.core.tags import POLICY_DIGEST_TAG
from hasg.errors import ExitCode
from hasg.hosts.inventory import Inventory
from hasg.hosts.probes import Expect, HostView, Place, Remote, Service, allows, remotes_of
from hasg.hosts.resolve import HostRuleset


@dataclass(frozen=True)
class AuditReport:
    cluster: str
    source: str  # where `actual` came from: a VPC id, a file
    groups_checked: int
    rules_checked: int
    findings: tuple[Finding, ...]
    # What "clean" means for this audit, said when it is.
    claim: str = "the groups and rules read hold exactly the policy's"
    # Groups mapped to roles: (role, its groups as text), which lists the
    # findings by role.
    role_groups: tuple[tuple[str, str], ...] = ()
    # What was checked, in words, where it is not groups and rules (a host).
    scope: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.CHANGES

    def to_text(self) -> str:
        return audit_text(self)

    def to_json(self) -> str:
        return audit_json(self)

    def of_kind(self, kind: FindingKind) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)


# --------------------------------------------------------------------------- any Blueprint


def audit_blueprint(
    expected: Blueprint,
    actual: Blueprint,
    *,
    source: str = "",
    group_ids: Mapping[str, str] | None = None,
    places: Places | None = None,
) -> AuditReport:
    """What differs between the policy's Blueprint and a deployed one.

    Both must speak of the VPC the same way: where `actual` holds the VPC's
    CIDR, resolve `expected`'s "vpc" peers first (`hasg.core.transforms.resolve_vpc_peers`).
    `group_ids` (role -> group id) label the findings; `places` (where the
    reader found `actual`'s groups and rules, by role) locate them: a finding
    about a rule that is there is where the rule is, one about a rule that is
    not, where its group is.
    """
    ids = group_ids or {}
    where = places or Places()
    changes = diff(expected, actual)
    names = {g.role: g.name for g in (*actual, *expected)}

    def finding(
        kind: FindingKind, role: str, detail: str, location: Location, subject: str = ""
    ) -> Finding:
        name = names.get(role, role)
        return Finding(
            kind, role, name, detail, ids.get(role, ""), located(location), subject or name
        )

    findings = [
        finding(
            "missing_group" if c.action == "create" else "extra_group",
            c.role,
            "the policy's group is not there"
            if c.action == "create"
            else f"a group of cluster {actual.cluster} for role {c.role}, which the policy "
            "does not have",
            where.source if c.action == "create" else where.group(c.role),
        )
        for c in changes.groups
    ]
    findings += [
        finding("changed_group", b.role, b.message, where.group(b.role), b.message)
        for b in changes.blockers
    ]
    # The policy digest is a hash of what the audit compares: a difference in
    # any of it is reported as what it is, never once more as the digest's.
    differing = [
        (t.role, {k: v for k, v in t.tags.items() if k != POLICY_DIGEST_TAG}) for t in changes.tags
    ]
    findings += [
        finding(
            "changed_group",
            role,
            "tags differ from the policy's: "
            + ", ".join(f"{k}={v!r}" for k, v in sorted(tags.items())),
            where.group(role),
            "tags",
        )
        for role, tags in differing
        if tags
    ]
    whole = {c.role for c in changes.groups}
    findings += [
        finding(kind, role, detail, where.rule(role, rule) if rule else where.group(role), subject)
        for kind, role, detail, rule, subject in _rule_findings(
            r for r in changes.rules if r.role not in whole
        )
    ]
    findings += _default_group_findings(changes, ids.get(DEFAULT_GROUP, ""), where)
    return AuditReport(
        cluster=expected.cluster,
        source=source,
        groups_checked=len(actual.groups),
        rules_checked=actual.rule_count(),
        findings=ordered_findings(findings),
    )


def _default_group_findings(changes: Changes, group_id: str, where: Places) -> list[Finding]:
    """The VPC's default group against `restrict_default_group`: every rule it
    holds is one too many (CIS AWS Foundations 5.4), and a side that does not
    say the same of it as the policy differs."""

    def finding(kind: FindingKind, detail: str, location: Location, subject: str) -> Finding:
        return Finding(kind, "", DEFAULT_GROUP_NAME, detail, group_id, located(location), subject)

    findings = [
        finding(
            "extra_rule" if c.action == "remove" else "missing_rule",
            f"{c.rule.described()}: the VPC's default group, which restrict_default_group "
            "wants without any rule",
            where.rule(DEFAULT_GROUP, c.rule)
            if c.action == "remove"
            else where.group(DEFAULT_GROUP),
            c.rule.text(),
        )
        for c in changes.default_group
    ]
    if changes.default_group_difference == "missing":
        findings.append(
            finding(
                "missing_group",
                "the policy has restrict_default_group: true, and this does not restrict "
                "the VPC's default group (Terraform: an aws_default_security_group without "
                "rules)",
                where.source,
                DEFAULT_GROUP_NAME,
            )
        )
    elif changes.default_group_difference == "unwanted":
        findings.append(
            finding(
                "extra_group",
                "this manages the VPC's default group, which the policy leaves alone: set "
                "restrict_default_group: true in the policy, or remove it",
                where.group(DEFAULT_GROUP),
                DEFAULT_GROUP_NAME,
            )
        )
    return findings


def _rule_findings(
    changes: Iterable[RuleChange],
) -> Iterable[tuple[FindingKind, str, str, Rule | None, str]]:
    """Missing and extra rules; a lone pair of them on the same direction,
    protocol and peer is one rule whose ports changed. Each with the rule that
    is there (None for a missing one), and what it is about (the rule without
    its description; a changed rule without its ports)."""
    buckets: dict[tuple[object, ...], list[RuleChange]] = {}
    for change in changes:
        if change.action == "update":
            yield (
                "changed_rule",
                change.role,
                f"{change.rule}: description is {change.old_description!r}, the policy "
                f"says {change.rule.description!r}",
                change.rule,
                f"description of {change.rule}",
            )
            continue
        rule = change.rule
        buckets.setdefault((change.role, rule.direction, rule.protocol, rule.peer), []).append(
            change
        )
    for (role, *_), same in buckets.items():
        added = [c.rule for c in same if c.action == "add"]
        removed = [c.rule for c in same if c.action == "remove"]
        if len(added) == len(removed) == 1:
            live = removed[0]
            yield (
                "changed_rule",
                str(role),
                f"{live}: ports are {live.ports_text()}, the policy says {added[0].ports_text()}",
                live,
                f"ports of {live.direction} {live.protocol} {TOWARD[live.direction]} {live.peer}",
            )
            continue
        yield from (("missing_rule", str(role), r.described(), None, r.text()) for r in added)
        yield from (("extra_rule", str(role), r.described(), r, r.text()) for r in removed)


def ordered_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(
        sorted(findings, key=lambda f: (KIND_ORDER.index(f.kind), f.role, f.group, f.detail))
    )


# --------------------------------------------------------------------------- groups mapped to roles

MAPPED_CLAIM = (
    "the mapped groups allow every flow of the policy, grant nothing beyond it, "
    "and describe every rule"
)


def audit_mapped(
    expected: Blueprint,
    groups: Sequence[MappedGroup],
    *,
    vpc_cidrs: Sequence[str] = (),
    source: str = "",
    places: Places | None = None,
) -> AuditReport:
    """How far groups hasg did not build (`hasg.core.mapping`) are from the policy.

    Judged by what they let through, not by how their rules are written: a
    grant beyond the policy is a port a role's groups open to a peer that no
    rule of the policy's group for that role opens to a peer holding it
    (`hasg.checks.reachability.peer_holds`); a missing flow is a port of the
    policy's rule that no rule of the role's groups opens to a peer holding
    the policy's. `expected` holds the VPC's CIDR for "vpc" (resolve it
    first, as for `audit_blueprint`). `places` (keyed by group id) locate
    the findings: a grant where the rules that open it are, a missing flow
    where the role's groups are."""
    actual = mapped_blueprint(expected.cluster, groups)
    where = places or Places()
    findings = [
        *_missing_flows(expected, actual, groups, vpc_cidrs, where),
        *_grants_beyond(expected, actual, groups, vpc_cidrs, where),
        *(
            Finding(
                "undescribed_rule",
                JOIN.join(g.roles),
                g.name,
                _live_text(r, groups),
                g.group_id,
                located(where.rule(g.group_id, r)),
                r.text(),
            )
            for g in groups
            for r in g.rules
            if not r.description.strip()
        ),
    ]
    return AuditReport(
        cluster=expected.cluster,
        source=source,
        groups_checked=len(groups),
        rules_checked=sum(len(g.rules) for g in groups),
        findings=ordered_findings(findings),
        claim=MAPPED_CLAIM,
        role_groups=tuple(
            (role, ", ".join(g.label for g in groups if role in g.roles)) for role in expected.roles
        ),
    )


def _missing_flows(
    expected: Blueprint,
    actual: Blueprint,
    groups: Sequence[MappedGroup],
    vpc_cidrs: Sequence[str],
    where: Places,
) -> Iterable[Finding]:
    """Each side of each flow: the destination's ingress and the source's egress."""
    roles = expected.roles
    for wanted in expected:
        served = [g for g in groups if wanted.role in g.roles]
        name = JOIN.join(g.name for g in served) or "(no group)"
        group_id = JOIN.join(g.group_id for g in served)
        locations = tuple(
            dict.fromkeys(loc for g in served for loc in located(where.group(g.group_id)))
        )
        if not served:
            yield Finding(
                "missing_group",
                wanted.role,
                name,
                f"no group is mapped to role {wanted.role}: every flow of it is missing",
                locations=located(where.source),
                subject=wanted.role,
            )
        have = actual[wanted.role].rules if served else ()
        lacking: dict[tuple[Direction, Peer], tuple[PortSet, frozenset[str]]] = {}
        for rule in wanted.rules:
            cover = union(
                PortSet.of_rule(r)
                for r in have
                if r.direction == rule.direction and peer_holds(r.peer, rule.peer, vpc_cidrs, roles)
            )
            gap = PortSet.of_rule(rule) - cover
            if gap:
                ports, flows = lacking.get((rule.direction, rule.peer), (NOTHING, frozenset()))
                lacking[(rule.direction, rule.peer)] = (ports | gap, flows | set(rule.origins))
        for (direction, peer), (ports, flows) in lacking.items():
            yield Finding(
                "missing_flow",
                wanted.role,
                name,
                f"{direction} lacks {ports} {TOWARD[direction]} {peer} "
                f"(flows {', '.join(sorted(flows))})",
                group_id,
                locations,
                f"{direction} {TOWARD[direction]} {peer}",
            )


def _grants_beyond(
    expected: Blueprint,
    actual: Blueprint,
    groups: Sequence[MappedGroup],
    vpc_cidrs: Sequence[str],
    where: Places,
) -> Iterable[Finding]:
    """Per role and live rule, the ports it opens that the policy does not
    grant that role, named by how bad they are (`_grant_kind`), where the
    rules that open them are."""
    roles = expected.roles
    every_node = frozenset(actual.roles)
    found: dict[tuple[FindingKind, str, MappedGroup, Direction, Peer, str], PortSet] = {}
    opened_by: dict[tuple[FindingKind, str, MappedGroup, Direction, Peer, str], list[Rule]] = {}
    for group in groups:
        for role in group.roles:
            granted = expected[role].rules if role in roles else ()
            live = [r for g in groups if role in g.roles for r in g.rules]
            for rule in group.rules:
                extra = union(
                    PortSet.of_rule(rule)
                    - union(
                        PortSet.of_rule(allowed)
                        for allowed in granted
                        if allowed.direction == rule.direction
                        and peer_holds(allowed.peer, meant, vpc_cidrs, roles)
                    )
                    for meant in peers_meant(rule.peer, groups)
                )
                if not extra:
                    continue
                kind, why = _grant_kind(
                    rule, extra, role, group, live, groups, every_node, vpc_cidrs
                )
                key = (kind, role, group, rule.direction, rule.peer, why)
                found[key] = found.get(key, NOTHING) | extra
                opened_by.setdefault(key, []).append(rule)
    for key, ports in found.items():
        kind, role, group, direction, peer, why = key
        shown = peer.text(live_group_names(groups))
        yield Finding(
            kind,
            role,
            group.name,
            f"{direction} {ports} {TOWARD[direction]} {shown}: {why}",
            group.group_id,
            where.of_rules(group.group_id, opened_by[key]),
            f"{direction} {TOWARD[direction]} {peer}",
        )


def _grant_kind(
    rule: Rule,
    extra: PortSet,
    role: str,
    group: MappedGroup,
    live: Sequence[Rule],
    groups: Sequence[MappedGroup],
    every_node: frozenset[str],
    vpc_cidrs: Sequence[str],
) -> tuple[FindingKind, str]:
    """How bad a grant beyond the policy is, and why, in words.

    - world open: ingress from CIDRs whose union (with the role's other
      ingress rules on the same port) is wide open (`hasg.core.networks`);
    - any node to any node: ingress from a peer that holds every mapped node
      (a CIDR holding the whole VPC, or a group every mapped role has) on a
      group every mapped role has, or of every port from such a peer;
    - allow-all egress: all traffic to CIDRs whose union is the whole of a
      family (0.0.0.0/0, ::/0, or pieces that add up to it);
    - beyond the policy: any other port the policy does not grant.
    """
    if rule.peer.is_network:
        if rule.direction == "ingress":
            openness = _widest(extra, rule, live)
            if openness is not None:
                return "world_open", f"open to {openness}"
        elif rule.protocol == ALL_TRAFFIC:
            family = family_of(rule.peer.value)
            everything = [
                r.peer.value
                for r in live
                if r.direction == "egress" and r.protocol == ALL_TRAFFIC and r.peer.is_network
            ]
            for openness in wide_open(everything):
                if openness.world and openness.family == family:
                    return "open_egress", f"all traffic to {openness}"
    if rule.direction == "ingress" and _holds_every_node(rule.peer, groups, every_node, vpc_cidrs):
        if every_node <= set(group.roles):
            return "node_to_node", "every node may open it on every node"
        if _every_port(rule):
            return "node_to_node", f"every node may open every port on {role}"
    return "beyond_policy", f"the policy does not grant {role} this"


def _widest(extra: PortSet, rule: Rule, live: Sequence[Rule]) -> Openness | None:
    """How wide `rule` opens a port of `extra`, if wide open: judged on the
    union of the CIDRs of every ingress rule of the role that lets the port in,
    so that pieces adding up to the internet are the internet.

    A rule whose CIDR lies strictly inside another's on that port adds nothing
    to the opening and is not blamed for it (the broader rule is); the
    broadest rules hold the whole union, so a wide union always blames one."""
    own = ipaddress.ip_network(rule.peer.value)
    pieces: list[tuple[PortSet, tuple[str, ...]]] = [(extra, (rule.peer.value,))]
    for other in live:
        if other.direction != "ingress" or not other.peer.is_network:
            continue
        ports = PortSet.of_rule(other)
        split: list[tuple[PortSet, tuple[str, ...]]] = []
        for piece, cidrs in pieces:
            if piece & ports:
                split.append((piece & ports, (*cidrs, other.peer.value)))
            if piece - ports:
                split.append((piece - ports, cidrs))
        pieces = split
    opened = [
        openness
        for _, cidrs in pieces
        if not any(_strictly_inside(own, ipaddress.ip_network(c)) for c in cidrs)
        for openness in wide_open(cidrs)
    ]
    return max(opened, key=lambda o: (o.world, o.family == "ipv4", o.public), default=None)


def _strictly_inside(inner: Network, outer: Network) -> bool:
    return inner != outer and within(inner, outer)


def _holds_every_node(
    peer: Peer, groups: Sequence[MappedGroup], every_node: frozenset[str], vpc_cidrs: Sequence[str]
) -> bool:
    if peer.is_group:
        meant = {p.value for p in peers_meant(peer, groups) if p != peer}
        return bool(every_node) and every_node <= meant
    return holds_whole_vpc(peer, vpc_cidrs)


def _every_port(rule: Rule) -> bool:
    return rule.protocol == ALL_TRAFFIC or (
        rule.protocol in ("tcp", "udp") and (rule.from_port, rule.to_port) == (0, 65535)
    )


def live_group_names(groups: Sequence[MappedGroup]) -> Callable[[str], str]:
    """How a live rule's group peer is shown: a mapped group by name and id."""
    labels = {g.group_id: g.label for g in groups}
    return lambda value: labels.get(value, value)


def _live_text(rule: Rule, groups: Sequence[MappedGroup]) -> str:
    return rule.text(live_group_names(groups))


# --------------------------------------------------------------------------- output


def audit_text(report: AuditReport) -> str:
    where = f" in {report.source}" if report.source else ""
    scope = report.scope or f"{report.groups_checked} groups, {report.rules_checked} rules"
    lines = [f"Audit of cluster {report.cluster}{where}: {scope}."]
    if report.ok:
        lines.append(f"clean: {report.claim}")
        return "\n".join(lines) + "\n"
    if report.role_groups:
        lines += _by_role(report)
    else:
        lines += ["", *_finding_lines(report.findings, _group_label)]
    lines += ["", f"drift: {len(report.findings)} finding(s)"]
    return "\n".join(lines) + "\n"


def _finding_lines(findings: Sequence[Finding], group: Callable[[Finding], str]) -> list[str]:
    """One line per finding: what kind, where, what (columns aligned)."""
    width = max(len(KIND_LABELS[f.kind]) for f in findings)
    group_width = max(len(group(f)) for f in findings)
    return [
        f"  {KIND_LABELS[f.kind]:<{width}}  {group(f):<{group_width}}  {f.detail}".rstrip()
        for f in findings
    ]


def _by_role(report: AuditReport) -> list[str]:
    """Mapped groups: the findings under each role, its groups named once in
    its heading; rules without descriptions (a group's, not a role's) last."""
    lines: list[str] = []
    for role, groups in report.role_groups:
        mine = [f for f in report.findings if f.role == role]
        if mine:
            lines += ["", f"{role}: {groups or 'no group'}"]
            lines += _finding_lines(mine, _own_group)
    undescribed = report.of_kind("undescribed_rule")
    if undescribed:
        lines += ["", "rules without a description:"]
        lines += _finding_lines(undescribed, _group_label)
    return lines


def _own_group(finding: Finding) -> str:
    """The group a finding of a role is about; none for what the role lacks
    (all its groups together lack it, and its heading names them)."""
    return "" if finding.kind in ("missing_group", "missing_flow") else finding.group


def _group_label(finding: Finding) -> str:
    return f"{finding.group} ({finding.group_id})" if finding.group_id else finding.group


def audit_json(report: AuditReport) -> str:
    document = {
        "cluster": report.cluster,
        "source": report.source,
        "ok": report.ok,
        "groups_checked": report.groups_checked,
        "rules_checked": report.rules_checked,
        "findings": [f.to_json() for f in report.findings],
    }
    if report.role_groups:
        document["roles"] = dict(report.role_groups)
    if report.scope:
        document["scope"] = report.scope
    return json.dumps(document, indent=2) + "\n"


# --------------------------------------------------------------------------- one host's firewall

HOST_CLAIM = (
    "on every connection tried, the host's whole firewall opens exactly what the policy "
    "gives it, and every rule of it could be evaluated"
)


def audit_host(
    expected: HostRuleset,
    inventory: Inventory,
    view: HostView,
    services: Sequence[Service],
    *,
    enforce_egress: bool,
    source: str = "",
) -> AuditReport:
    """Judge one host's firewall, as its reader answers the probe space
    (`hasg.hosts.probes`), against what the policy gives the host.

    `expected` holds the host's ingress and egress rules (`host_rulesets(...,
    egress=True)`): inbound, from every peer (the other hosts, the edges of
    every network its rules name, the world), every service must be open
    exactly when the policy allows it. Outbound, to every peer, a connection the policy
    requires must not be blocked and, with egress enforced, nothing else may
    open. What the reader could not evaluate, anywhere, is a finding too."""
    host = expected.host

    def finding(kind: FindingKind, detail: str, where: Place, subject: str) -> Finding:
        # Located on the host, then where in its firewall (table, chain, rule;
        # zone, rule), for SARIF; the subject is what stays the same run to run.
        location = Location(logical=(("host", host.name), *where))
        return Finding(kind, host.role, host.name, detail, locations=(location,), subject=subject)

    findings = [
        finding("cannot_evaluate", _placed(u.what, u.where), u.where, u.what)
        for u in view.unreadable
    ]
    hints = view.hints()
    services = sorted({*services, *hints.services})
    peers = remotes_of(inventory, expected, named=hints.addresses)
    # Wrong answers, grouped: the same services, the same cause, several peers.
    by_peer: dict[tuple[FindingKind, bool, str, str, Place], list[str]] = {}
    undecided: dict[tuple[str, Place], int] = {}
    checked = 0
    for peer in peers:
        address = (
            peer.address
            if peer.address.is_loopback
            else host.address(family_of(f"{peer.address}/{peer.address.max_prefixlen}"))
        )
        if address is None:
            continue  # the host has no address in this family: nothing to reach
        for service in services:
            if not service.fits(family_of(f"{address}/{address.max_prefixlen}")):
                continue
            for inbound in (True, False):
                wanted = _expected(expected, peer, service, inbound, enforce_egress)
                if wanted is None:
                    continue
                checked += 1
                got = view.answer(address, peer.address, service, inbound=inbound)
                if got.outcome == "undecided":
                    key = (got.why, got.where)
                    undecided[key] = undecided.get(key, 0) + 1
                elif (got.outcome == "open") != (wanted == "open") and wanted != "either":
                    kind: FindingKind = "missing_flow" if wanted == "open" else "beyond_policy"
                    wrong = (kind, inbound, peer.label, got.why, got.where)
                    by_peer.setdefault(wrong, []).append(service.text())
    grouped: dict[tuple[FindingKind, bool, tuple[str, ...], str, Place], list[str]] = {}
    for (kind, inbound, label, why, where), texts in by_peer.items():
        grouped.setdefault((kind, inbound, tuple(texts), why, where), []).append(label)
    findings += [
        finding(
            kind,
            _wrong_text(kind, inbound, texts, labels, _placed(why, where)),
            where,
            f"{'in' if inbound else 'out'} {' '.join(texts)} {' '.join(labels)}",
        )
        for (kind, inbound, texts, why, where), labels in grouped.items()
    ]
    findings += [
        finding("cannot_evaluate", f"{count} connection(s) {_placed(why, where)}", where, why)
        for (why, where), count in undecided.items()
    ]
    return AuditReport(
        cluster=expected.cluster,
        source=source,
        groups_checked=1,
        rules_checked=checked,
        findings=ordered_findings(findings),
        claim=HOST_CLAIM,
        scope=f"host {host.name} ({host.role}), {checked:,} connections evaluated"
        + (f"; {view.assumed}" if view.assumed else ""),
    )


def _wrong_text(
    kind: FindingKind, inbound: bool, services: Sequence[str], peers: Sequence[str], why: str
) -> str:
    """`tcp/22 from bastion 198.18.0.5 and 2 more blocked: dropped by ...`."""
    shown = ", ".join(peers[:3]) + (f" and {len(peers) - 3} more" if len(peers) > 3 else "")
    side = "from" if inbound else "to"
    verdict = "blocked" if kind == "missing_flow" else "open, which the policy does not allow"
    return f"{' '.join(services)} {side} {shown} {verdict}: {why}"


def _expected(
    ruleset: HostRuleset,
    peer: Remote,
    service: Service,
    inbound: bool,
    enforce_egress: bool,
) -> Expect | None:
    """What the policy says of one connection of this host; None: nothing."""
    if inbound:
        return "open" if allows(ruleset, "ingress", peer.address, service) else "closed"
    if enforce_egress:
        return "open" if allows(ruleset, "egress", peer.address, service) else "closed"
    # Egress open: only what the policy requires of it (the peer's ingress
    # allows this host) must not be blocked; the rest is not this host's to judge.
    return "open" if _required(ruleset, peer, service) else "either"


def _required(ruleset: HostRuleset, peer: Remote, service: Service) -> bool:
    return peer.host is not None and allows(ruleset, "egress", peer.address, service)


def _placed(what: str, where: Place) -> str:
    """`dropped by a rule (table inet hasg, chain input, handle 7)`."""
    if not where:
        return what
    return f"{what} ({', '.join(f'{kind} {name}' for kind, name in where)})"
