"""nftables: one ruleset file per host, and the audit of a host's live ruleset.

Each file holds one table, `table inet hasg`, and replaces only it:

    table inet hasg {}       # create it if absent (a no-op if present) ...
    delete table inet hasg   # ... so that this never fails, then drop it
    table inet hasg { ... }  # and write it whole, in the same transaction

`nft -f` applies a file as one transaction, so the host never runs without
the table, and no other table (firewalld's `inet firewalld`, Docker's `ip
nat`/`ip filter`) is flushed. nftables evaluates every base chain of a hook:
an `accept` ends only its own chain, a `drop` is final. So hasg's `policy
drop` input chain closes what hasg does not open, whatever other tables
accept, and another table can only drop more (docs/on-prem.md).

The input chain accepts established/related traffic, loopback, the ICMP a
network needs (RFC 4890 for ICMPv6: neighbour discovery, packet-too-big;
path MTU discovery for IPv4 rides on destination-unreachable; echo), then
exactly the host's rules. Egress stays open unless enforced, as firewalld
leaves it; enforced, an output chain does the same for the egress rules.

Rule descriptions become rule comments. nft refuses a comment over 128
bytes (NFT_USERDATA_MAXLEN) and has no escape for `"`, so a comment is the
description with `"` as `'` and control characters as spaces, cut to 128
bytes with "..." at the end. Comments are not part of a rule's identity:
the audit ignores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hasg.backends.base import host_backend
from hasg.core.blueprint import Direction, Rule, SecurityGroup
from hasg.core.findings import Finding, FindingKind
from hasg.core.networks import Family, canonical_cidr, family_of
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.errors import ExitCode, NftReadError
from hasg.hosts.resolve import (
    AddressSet,
    HostRule,
    HostRuleset,
    as_address,
    as_cidr,
    cidr_peer,
    cidr_rule,
    host_group,
)

TABLE = "hasg"
COMMENT_LIMIT = 128  # bytes; nft: "comment too long, 128 characters maximum allowed"
_CHAINS: dict[Direction, str] = {"ingress": "input", "egress": "output"}
_ADDRESS_FIELD: dict[Direction, str] = {"ingress": "saddr", "egress": "daddr"}
_INTERFACE: dict[Direction, str] = {"ingress": "iif", "egress": "oif"}
_PAYLOAD_FAMILY: dict[Family, str] = {"ipv4": "ip", "ipv6": "ip6"}
_ADDRESS_TYPE: dict[Family, str] = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}

# nft's names for ICMP types and codes (nft describe icmp_type / icmpv6_type /
# icmp_code): it lists known numbers by name, so the reader needs both ways.
ICMP_TYPES: dict[str, dict[str, int]] = {
    "icmp": {
        "echo-reply": 0,
        "destination-unreachable": 3,
        "source-quench": 4,
        "redirect": 5,
        "echo-request": 8,
        "router-advertisement": 9,
        "router-solicitation": 10,
        "time-exceeded": 11,
        "parameter-problem": 12,
        "timestamp-request": 13,
        "timestamp-reply": 14,
        "info-request": 15,
        "info-reply": 16,
        "address-mask-request": 17,
        "address-mask-reply": 18,
    },
    "icmpv6": {
        "destination-unreachable": 1,
        "packet-too-big": 2,
        "time-exceeded": 3,
        "parameter-problem": 4,
        "echo-request": 128,
        "echo-reply": 129,
        "mld-listener-query": 130,
        "mld-listener-report": 131,
        "mld-listener-done": 132,
        "nd-router-solicit": 133,
        "nd-router-advert": 134,
        "nd-neighbor-solicit": 135,
        "nd-neighbor-advert": 136,
        "nd-redirect": 137,
        "router-renumbering": 138,
        "ind-neighbor-solicit": 141,
        "ind-neighbor-advert": 142,
        "mld2-listener-report": 143,
    },
}
ICMP_CODES: dict[str, dict[str, int]] = {
    "icmp": {
        "net-unreachable": 0,
        "host-unreachable": 1,
        "prot-unreachable": 2,
        "port-unreachable": 3,
        "frag-needed": 4,
        "net-prohibited": 9,
        "host-prohibited": 10,
        "admin-prohibited": 13,
    },
    "icmpv6": {
        "no-route": 0,
        "admin-prohibited": 1,
        "addr-unreachable": 3,
        "port-unreachable": 4,
        "policy-fail": 5,
        "reject-route": 6,
    },
}
# nft names protocols from /etc/protocols; Debian's names 0 and 143 apart from
# the IANA keywords that canonical_protocol knows. Other names fail closed.
_NFT_PROTOCOL_NAMES: dict[object, int] = {"ip": 0, "ethernet": 143}
# What every host accepts besides its rules (see the module's docstring).
ESSENTIAL_ICMP: dict[str, tuple[str, ...]] = {
    "icmp": ("destination-unreachable", "echo-request", "time-exceeded", "parameter-problem"),
    "icmpv6": (
        "destination-unreachable",
        "packet-too-big",
        "time-exceeded",
        "parameter-problem",
        "echo-request",
        "nd-router-solicit",
        "nd-router-advert",
        "nd-neighbor-solicit",
        "nd-neighbor-advert",
    ),
}


def file_name(ruleset: HostRuleset) -> str:
    return f"{ruleset.host.name}.nft"


def emit(rulesets: Sequence[HostRuleset], *, enforce_egress: bool = False) -> dict[str, str]:
    """`{file name: text}`: one complete ruleset per host, byte-for-byte deterministic."""
    return {file_name(r): ruleset_text(r, enforce_egress=enforce_egress) for r in rulesets}


# No reader of the .nft text: nft itself parses it. What a host holds is read
# from `nft -j list ruleset` instead (`read_nft_json`, `hasg audit --nft`).
BACKEND = host_backend(
    "nftables", "one nftables ruleset per host (table inet hasg), from an inventory", emit
)


def ruleset_text(ruleset: HostRuleset, *, enforce_egress: bool = False) -> str:
    host = ruleset.host
    directions: tuple[Direction, ...] = ("ingress", "egress") if enforce_egress else ("ingress",)
    lines = [
        "#!/usr/sbin/nft -f",
        f"# hasg host firewall of {host.name} ({', '.join(map(str, host.addresses))}): role "
        f"{host.role}, cluster {ruleset.cluster}.",
        "# Generated from the policy: change the policy, not this file. Replaces only",
        f"# table inet {TABLE}; egress {'enforced' if enforce_egress else 'open'}.",
        "",
        f"table inet {TABLE} {{}}",
        f"delete table inet {TABLE}",
        "",
        f"table inet {TABLE} {{",
    ]
    used = {r.peer for r in ruleset.rules if r.names_set and r.direction in directions}
    for address_set in ruleset.sets:
        if address_set.name in used:
            lines += _set_lines(address_set)
    for direction in directions:
        lines += _chain_lines(direction, ruleset.rules_for(direction))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _set_lines(address_set: AddressSet) -> list[str]:
    elements = ", ".join(as_address(e) for e in address_set.elements)
    return [
        f"\tset {address_set.name} {{",
        f"\t\ttype {_ADDRESS_TYPE[address_set.family]}",
        *([] if address_set.hosts_only else ["\t\tflags interval"]),
        f"\t\telements = {{ {elements} }}",
        "\t}",
    ]


def _chain_lines(direction: Direction, rules: Iterable[HostRule]) -> list[str]:
    interface = _INTERFACE[direction]
    return [
        f"\tchain {_CHAINS[direction]} {{",
        f"\t\ttype filter hook {_CHAINS[direction]} priority filter; policy drop;",
        "\t\tct state established,related accept",
        f'\t\t{interface} "lo" accept',
        *(
            f"\t\t{protocol} type {{ {', '.join(names)} }} accept"
            for protocol, names in ESSENTIAL_ICMP.items()
        ),
        *(f"\t\t{rule_text(rule)}" for rule in rules),
        "\t}",
    ]


def rule_text(rule: HostRule) -> str:
    """One rule: the peer, then the protocol and ports, then the comment."""
    peer = f"@{rule.peer}" if rule.names_set else as_address(rule.peer)
    words = [f"{_PAYLOAD_FAMILY[rule.family]} {_ADDRESS_FIELD[rule.direction]} {peer}"]
    protocol = rule.protocol
    if protocol in ("tcp", "udp"):
        ports = str(rule.from_port)
        if rule.to_port != rule.from_port:
            ports += f"-{rule.to_port}"
        words.append(f"{protocol} dport {ports}")
    elif protocol in ("icmp", "icmpv6"):
        words.append(f"meta l4proto {'icmp' if protocol == 'icmp' else 'ipv6-icmp'}")
        if rule.from_port != -1:
            words.append(f"{protocol} type {rule.from_port}")
            if rule.to_port != -1:
                words.append(f"{protocol} code {rule.to_port}")
    elif protocol != "-1":
        words.append(f"meta l4proto {protocol}")
    words.append("accept")
    if rule.description:
        words.append(f'comment "{comment_text(rule.description)}"')
    return " ".join(words)


def comment_text(description: str) -> str:
    """A description as nft takes it in a comment (see the module's docstring)."""
    text = "".join("'" if c == '"' else " " if not c.isprintable() else c for c in description)
    if len(text.encode()) <= COMMENT_LIMIT:
        return text
    cut = text.encode()[: COMMENT_LIMIT - 3].decode(errors="ignore")
    return cut + "..."


# --------------------------------------------------------------------------- reading nft -j


@dataclass(frozen=True)
class NftRead:
    """What a host's `table inet hasg` holds, as hasg understands it.

    `rules` have every peer expanded to CIDRs (hosts.as_blueprint's form);
    `essentials` name the fixed accepts found per direction; `findings` are
    what the reader could not interpret or does not expect: each one makes
    the audit fail, never pass.
    """

    chains: Mapping[Direction, str]  # direction -> chain policy ("drop", "accept")
    rules: tuple[Rule, ...]
    essentials: frozenset[tuple[Direction, str]]
    findings: tuple[str, ...]


def check_nft_document(text: str, source: str) -> None:
    """Refuse, with file:line:column, a file that is not `nft -j` output at all:
    the audit cannot even begin, which is an error (exit 1), not drift."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise NftReadError(
            f"{source}:{error.lineno}:{error.colno}: not JSON: {error.msg}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        raise NftReadError(
            f'{source}:1:1: not the JSON of `nft -j list ruleset` (no "nftables" list)'
        )


def read_nft_json(text: str) -> NftRead:
    """Read `nft -j list ruleset` (or `nft -j list table inet hasg`)."""
    try:
        document = json.loads(text)
        items = document["nftables"]
        if not isinstance(items, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return NftRead({}, (), frozenset(), ("the input is not the JSON of `nft -j list ruleset`",))
    if not any(True for _ in _of_kind(items, "table")):
        return NftRead({}, (), frozenset(), (f"there is no table inet {TABLE}",))
    reader = _Reader({str(s["name"]): s for s in _of_kind(items, "set")})
    for chain in _of_kind(items, "chain"):
        reader.chain(chain)
    for rule in _of_kind(items, "rule"):
        reader.rule(rule)
    for kind in ("map", "flowtable", "element", "counter", "quota", "ct helper", "limit"):
        for item in _of_kind(items, kind):
            reader.findings.append(
                f"table inet {TABLE} holds a {kind} ({item.get('name', '?')}) hasg does not write"
            )
    return NftRead(
        reader.chains, tuple(reader.rules), frozenset(reader.essentials), tuple(reader.findings)
    )


def _of_kind(items: Iterable[Any], kind: str) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(kind), dict):
            value = item[kind]
            owner = value.get("table") if kind != "table" else value.get("name")
            if owner == TABLE and value.get("family") == "inet":
                yield value


class _Unreadable(Exception):
    """A rule part hasg does not write; the audit reports the rule."""


@dataclass
class _Reader:
    sets: Mapping[str, Mapping[str, Any]]
    chains: dict[Direction, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    essentials: set[tuple[Direction, str]] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    _directions: dict[str, Direction] = field(default_factory=dict)

    def chain(self, chain: Mapping[str, Any]) -> None:
        name = chain.get("name")
        direction = next((d for d, c in _CHAINS.items() if c == name), None)
        if direction is None or chain.get("hook") != name or chain.get("type") != "filter":
            self.findings.append(f"chain {name} is not one hasg writes")
            return
        self._directions[str(name)] = direction
        self.chains[direction] = str(chain.get("policy", "accept"))

    def rule(self, rule: Mapping[str, Any]) -> None:
        chain = str(rule.get("chain"))
        where = f"rule {rule.get('handle', '?')} of chain {chain}"
        direction = self._directions.get(chain)
        if direction is None:
            return  # the chain itself is already a finding
        try:
            self._read(direction, list(rule.get("expr", [])), str(rule.get("comment", "")))
        except (_Unreadable, KeyError, TypeError, ValueError) as error:
            self.findings.append(f"{where}: cannot interpret it ({error or 'unexpected form'})")

    def _read(self, direction: Direction, expressions: list[Any], comment: str) -> None:
        expressions = [e for e in expressions if not (isinstance(e, dict) and "counter" in e)]
        if not expressions or expressions[-1] != {"accept": None}:
            raise _Unreadable("hasg writes only rules that accept")
        matches = [e["match"] for e in expressions[:-1]]
        if any(m.get("op") not in ("==", "in") for m in matches):
            raise _Unreadable("a match other than == or in")
        essential = self._essential(direction, matches)
        if essential is not None:
            self.essentials.add((direction, essential))
            return
        family, cidrs = self._peer(direction, matches.pop(0) if matches else {})
        for protocol, low, high in self._traffic(family, matches):
            for cidr in cidrs:
                self.rules.append(Rule(direction, protocol, low, high, cidr_peer(cidr), comment))

    def _essential(self, direction: Direction, matches: list[Mapping[str, Any]]) -> str | None:
        if len(matches) != 1:
            return None
        left, right = matches[0]["left"], matches[0]["right"]
        if left == {"ct": {"key": "state"}} and sorted(_listed(right)) == [
            "established",
            "related",
        ]:
            return "ct state established,related"
        if left == {"meta": {"key": _INTERFACE[direction]}} and right == "lo":
            return "loopback"
        for protocol, names in ESSENTIAL_ICMP.items():
            if left == {"payload": {"protocol": protocol, "field": "type"}}:
                if sorted(map(str, _listed(right))) == sorted(names):
                    return f"{protocol} essentials"
                raise _Unreadable(f"{protocol} types {right} are not hasg's essential set")
        return None

    def _peer(self, direction: Direction, match: Mapping[str, Any]) -> tuple[Family, list[str]]:
        payload = match.get("left", {}).get("payload", {})
        families = {v: k for k, v in _PAYLOAD_FAMILY.items()}
        if (
            payload.get("field") != _ADDRESS_FIELD[direction]
            or payload.get("protocol") not in families
        ):
            raise _Unreadable(f"hasg's rules start with the {_ADDRESS_FIELD[direction]} they allow")
        family = families[payload["protocol"]]
        right = match["right"]
        if isinstance(right, str) and right.startswith("@"):
            found = self.sets.get(right[1:])
            if found is None:
                raise _Unreadable(f"set {right} is not in table inet {TABLE}")
            values = found.get("elem", [])
        else:
            values = _listed(right)
        cidrs = [_cidr(v) for v in values]
        if any(family_of(c) != family for c in cidrs):
            raise _Unreadable(f"addresses of another family than {family}")
        return family, cidrs

    def _traffic(
        self, family: Family, matches: list[Mapping[str, Any]]
    ) -> list[tuple[str, int, int]]:
        protocol = "-1"
        ports: list[tuple[int, int]] = [(-1, -1)]
        icmp_code = -1
        for match in matches:
            left, right = match["left"], match["right"]
            if left == {"meta": {"key": "l4proto"}}:
                protocol = _protocol(right, protocol)
            elif "payload" in left and left["payload"].get("field") == "dport":
                protocol = _protocol(left["payload"]["protocol"], protocol)
                ports = [_range(v) for v in _listed(right)]
            elif "payload" in left and left["payload"].get("field") in ("type", "code"):
                protocol = _protocol(left["payload"]["protocol"], protocol)
                if left["payload"]["field"] == "type":
                    ports = [(_icmp_name(ICMP_TYPES, protocol, v), -1) for v in _listed(right)]
                else:
                    (icmp_code,) = [_icmp_name(ICMP_CODES, protocol, v) for v in _listed(right)]
            else:
                raise _Unreadable(f"a match on {json.dumps(left)}")
        if protocol == "-1" or not has_ports(protocol):
            return [(protocol, -1, -1)]
        if protocol in ("icmp", "icmpv6"):
            return [(protocol, low, icmp_code if low != -1 else -1) for low, _ in ports]
        if ports == [(-1, -1)]:
            return [(protocol, 0, 65535)]
        return [(protocol, low, high) for low, high in ports]


def _listed(value: Any) -> list[Any]:
    if isinstance(value, dict) and "set" in value:
        return list(value["set"])
    return list(value) if isinstance(value, list) else [value]


def _cidr(value: Any) -> str:
    if isinstance(value, dict) and "elem" in value:
        value = value["elem"]["val"]
    if isinstance(value, dict) and "prefix" in value:
        return canonical_cidr(f"{value['prefix']['addr']}/{value['prefix']['len']}")
    if isinstance(value, str):
        return as_cidr(value)
    raise _Unreadable(f"an address element {json.dumps(value)}")


def _protocol(value: Any, before: str) -> str:
    try:
        protocol = canonical_protocol(_NFT_PROTOCOL_NAMES.get(value, value))
    except ValueError:
        raise _Unreadable(
            f"protocol {value!r} (a name from the host's /etc/protocols; "
            "`nft -n -j list ruleset` prints numbers)"
        ) from None
    if before not in ("-1", protocol):
        raise _Unreadable(f"two protocols ({before}, {protocol})")
    return protocol


def _range(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        return (int(low), int(high))
    raise _Unreadable(f"a port {json.dumps(value)}")


def _icmp_name(names: Mapping[str, Mapping[str, int]], protocol: str, value: Any) -> int:
    """An ICMP type or code as nft lists it: by name when it knows one."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value in names[protocol]:
        return names[protocol][value]
    raise _Unreadable(f"{protocol} value {value!r}")


# --------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class HostAudit:
    """Drift of one host's live ruleset from what the policy gives it, on the
    report contract every checker keeps (hasg.core.report)."""

    host: str
    role: str
    missing: tuple[Rule, ...]
    extra: tuple[Rule, ...]
    notes: tuple[str, ...]  # what is wrong with the table as a whole, or unreadable

    @property
    def findings(self) -> tuple[Finding, ...]:
        def finding(kind: FindingKind, detail: str) -> Finding:
            return Finding(kind, self.role, self.host, detail)

        return (
            *(finding("missing_rule", r.described()) for r in self.missing),
            *(finding("extra_rule", r.described()) for r in self.extra),
            *(finding("changed_group", note) for note in self.notes),
        )

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.CHANGES

    def to_text(self) -> str:
        lines = [f"- missing: {r}" for r in self.missing]
        lines += [f"+ extra:   {r}" for r in self.extra]
        lines += [f"! {note}" for note in self.notes]
        verdict = "clean" if self.ok else f"{len(lines)} differences"
        return "\n".join([*lines, f"audit of {self.host}: {verdict}"]) + "\n"

    def to_json(self) -> str:
        document = {
            "host": self.host,
            "role": self.role,
            "ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
        }
        return json.dumps(document, indent=2) + "\n"


def expected_group(ruleset: HostRuleset, *, enforce_egress: bool = False) -> SecurityGroup:
    rules = (
        cidr_rule(rule, cidr)
        for rule in ruleset.rules
        if enforce_egress or rule.direction == "ingress"
        for cidr in ruleset.peer_cidrs(rule)
    )
    return host_group(ruleset.host, rules)


def audit_host(text: str, ruleset: HostRuleset, *, enforce_egress: bool = False) -> HostAudit:
    """Compare a host's `nft -j list ruleset` with what the policy gives it.

    Clean only when the table holds exactly the expected rules (by meaning:
    CIDRs, protocols, ports; sets expanded), every chain drops by default,
    and every essential accept is the one hasg writes. Anything the reader
    cannot interpret is a finding, never silence.
    """
    found = read_nft_json(text)
    expected = expected_group(ruleset, enforce_egress=enforce_egress)
    # Compared by what the kernel enforces (`Rule.key`): an nft comment holds at
    # most 128 bytes (nft(8), COMMENT), so long descriptions come back cut.
    actual = {r.key: r for r in found.rules}
    wanted = {r.key: r for r in expected.rules}
    findings = list(found.findings)
    directions: tuple[Direction, ...] = ("ingress", "egress") if enforce_egress else ("ingress",)
    for direction in directions:
        policy = found.chains.get(direction)
        if policy is None and not found.findings:
            findings.append(f"chain {_CHAINS[direction]} is missing")
        elif policy is not None and policy != "drop":
            findings.append(f"chain {_CHAINS[direction]} has policy {policy}, not drop")
        for essential in _essential_names():
            if (direction, essential) not in found.essentials and policy is not None:
                findings.append(f"chain {_CHAINS[direction]} lacks the {essential} accept")
    if not enforce_egress and "egress" in found.chains and found.chains["egress"] != "accept":
        findings.append("chain output drops by default, but egress is not enforced for this host")
    return HostAudit(
        ruleset.host.name,
        ruleset.host.role,
        tuple(sorted(wanted[k] for k in wanted.keys() - actual.keys())),
        tuple(sorted(actual[k] for k in actual.keys() - wanted.keys())),
        tuple(findings),
    )


def _essential_names() -> tuple[str, ...]:
    return (
        "ct state established,related",
        "loopback",
        *(f"{p} essentials" for p in ESSENTIAL_ICMP),
    )
