"""The one grammar of nftables in hasg: libnftables JSON expressions and
statements (libnftables-json(5)), the form `nft -j` prints and reads, and
the form firewalld's own nftables backend writes.

Each node knows its two forms: `to_json()` (what `nft -j` prints) and
`text()` (what `nft -f` reads). The writer builds hasg's table from these
nodes and renders its text from them; the reader parses `nft -j list
ruleset` into the same nodes; the evaluator (`evaluate.py`) works on them.
Nothing recognises the writer's idioms: a rule is whatever its statements
say, and a statement this grammar does not know is parsed into `Opaque`,
which the evaluator cannot decide and the audit reports, naming it.

Values are normalized by what they are compared with (`Domain`): `ct state`
is a set of state names whether the dump says `"established"` or `2`
(`nft -n`), an ICMP type is a number whether the dump says
`"echo-request"` or `8`, a protocol is a number whether it says `"tcp"`,
`"ipv6-icmp"` or `6`. So `nft -j`, `nft -n -j` and `nft -a -j` parse to the
same tree.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hasg.core.protocols import canonical_protocol, protocol_number

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class GrammarError(ValueError):
    """JSON that is not an expression or statement of this grammar's shape
    (a malformed dump, not merely an unknown expression)."""


# --------------------------------------------------------------------------- spellings
#
# nft's own names, from `nft describe` (nftables 1.0.6): it prints a known
# number by its name unless `-n` is given, so the reader takes both.

ICMP_TYPE_NAMES: dict[str, dict[str, int]] = {
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
        "mld-listener-reduction": 132,
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
ICMP_CODE_NAMES: dict[str, dict[str, int]] = {
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
# ct state bits (nf_conntrack_common.h: NF_CT_STATE_BIT, NF_CT_STATE_UNTRACKED_BIT).
CT_STATES: dict[str, int] = {
    "invalid": 1,
    "established": 2,
    "related": 4,
    "new": 8,
    "untracked": 64,
}
# ct status bits (nf_conntrack_common.h: IPS_*_BIT), as nft names them.
CT_STATUS: dict[str, int] = {
    "expected": 0x1,
    "seen-reply": 0x2,
    "assured": 0x4,
    "confirmed": 0x8,
    "snat": 0x10,
    "dnat": 0x20,
    "dying": 0x200,
}
# TCP header flags (RFC 9293, RFC 3168), as nft names them.
TCP_FLAGS: dict[str, int] = {
    "fin": 0x01,
    "syn": 0x02,
    "rst": 0x04,
    "psh": 0x08,
    "ack": 0x10,
    "urg": 0x20,
    "ecn": 0x40,
    "cwr": 0x80,
}
# Protocol names nft takes from the host's /etc/protocols that are not IANA
# keywords (canonical_protocol knows those): Debian names 0 `ip` and 143 `ethernet`.
PROTOCOL_NAMES: dict[str, int] = {"ip": 0, "ethernet": 143}
# Debian's /etc/protocols names for the protocols nft prints by name.
_PROTOCOL_TEXT: dict[int, str] = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}
NFPROTO: dict[str, str] = {"ipv4": "ipv4", "ipv6": "ipv6", "2": "ipv4", "10": "ipv6"}
PKTTYPES: dict[str, int] = {"host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3}
FIB_TYPES: dict[str, int] = {
    "unspec": 0,
    "unicast": 1,
    "local": 2,
    "broadcast": 3,
    "anycast": 4,
    "multicast": 5,
    "blackhole": 6,
    "unreachable": 7,
    "prohibit": 8,
}

# --------------------------------------------------------------------------- domains

Domain = Literal[
    "address",
    "port",
    "icmp_type",
    "icmpv6_type",
    "icmp_code",
    "icmpv6_code",
    "protocol",
    "nfproto",
    "ct_state",
    "ct_status",
    "tcp_flags",
    "iface",
    "integer",
    "pkttype",
    "fib_type",
    "raw",
]

_PAYLOAD_DOMAINS: dict[tuple[str, str], Domain] = {
    ("ip", "saddr"): "address",
    ("ip", "daddr"): "address",
    ("ip6", "saddr"): "address",
    ("ip6", "daddr"): "address",
    ("ip", "protocol"): "protocol",
    ("ip6", "nexthdr"): "protocol",
    ("icmp", "type"): "icmp_type",
    ("icmp", "code"): "icmp_code",
    ("icmpv6", "type"): "icmpv6_type",
    ("icmpv6", "code"): "icmpv6_code",
    ("tcp", "flags"): "tcp_flags",
}
TRANSPORTS_WITH_PORTS = ("tcp", "udp", "udplite", "sctp", "dccp", "th")
_META_DOMAINS: dict[str, Domain] = {
    "l4proto": "protocol",
    "nfproto": "nfproto",
    "iif": "iface",
    "oif": "iface",
    "iifname": "iface",
    "oifname": "iface",
    "mark": "integer",
    "pkttype": "pkttype",
}
_CT_DOMAINS: dict[str, Domain] = {
    "state": "ct_state",
    "status": "ct_status",
    "mark": "integer",
    "protocol": "protocol",
    "l3proto": "nfproto",
}


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Payload:
    """A header field: `ip saddr`, `tcp dport`, `icmpv6 type`."""

    protocol: str
    field: str

    def to_json(self) -> dict[str, Any]:
        return {"payload": {"protocol": self.protocol, "field": self.field}}

    def text(self) -> str:
        return f"{self.protocol} {self.field}"

    @property
    def domain(self) -> Domain:
        if self.field in ("sport", "dport") and self.protocol in TRANSPORTS_WITH_PORTS:
            return "port"
        return _PAYLOAD_DOMAINS.get((self.protocol, self.field), "raw")


# nft prints these meta keys without the `meta` word.
_BARE_META = frozenset({"iif", "oif", "iifname", "oifname"})


@dataclass(frozen=True)
class Meta:
    """Packet metadata: `meta l4proto`, `iif`, `meta mark`."""

    key: str

    def to_json(self) -> dict[str, Any]:
        return {"meta": {"key": self.key}}

    def text(self) -> str:
        return self.key if self.key in _BARE_META else f"meta {self.key}"

    @property
    def domain(self) -> Domain:
        return _META_DOMAINS.get(self.key, "raw")


@dataclass(frozen=True)
class Ct:
    """Connection tracking: `ct state`, `ct mark`, `ct original saddr`."""

    key: str
    dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key}
        if self.dir is not None:
            body["dir"] = self.dir
        return {"ct": body}

    def text(self) -> str:
        return f"ct {self.dir} {self.key}" if self.dir else f"ct {self.key}"

    @property
    def domain(self) -> Domain:
        if self.key.endswith(("saddr", "daddr")):
            return "address"
        return _CT_DOMAINS.get(self.key, "raw")


@dataclass(frozen=True)
class Fib:
    """A routing lookup: `fib daddr type`, `fib saddr . iif oif`."""

    result: str
    flags: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"fib": {"result": self.result, "flags": list(self.flags)}}

    def text(self) -> str:
        return f"fib {' . '.join(self.flags)} {self.result}"

    @property
    def domain(self) -> Domain:
        return "fib_type" if self.result == "type" else "iface" if "if" in self.result else "raw"


@dataclass(frozen=True)
class Concat:
    """`ip saddr . tcp dport`: keys joined for one lookup."""

    items: tuple[Key, ...]

    def to_json(self) -> dict[str, Any]:
        return {"concat": [item.to_json() for item in self.items]}

    def text(self) -> str:
        return " . ".join(item.text() for item in self.items)

    @property
    def domain(self) -> Domain:
        return "raw"

    @property
    def domains(self) -> tuple[Domain, ...]:
        return tuple(item.domain for item in self.items)


@dataclass(frozen=True)
class Binop:
    """`tcp flags & (syn | ack)`: a key combined with a constant."""

    op: str
    left: Key
    right: Value

    def to_json(self) -> dict[str, Any]:
        return {self.op: [self.left.to_json(), value_json(self.right, self.left.domain)]}

    def text(self) -> str:
        return f"{self.left.text()} {self.op} {value_text(self.right, self.left.domain)}"

    @property
    def domain(self) -> Domain:
        return self.left.domain


@dataclass(frozen=True)
class UnknownKey:
    """An expression this grammar does not know (`osf`, `socket`, `rt`, ...)."""

    raw: Any

    def to_json(self) -> Any:
        return self.raw

    def text(self) -> str:
        return json.dumps(self.raw, sort_keys=True)

    @property
    def domain(self) -> Domain:
        return "raw"


Key = Payload | Meta | Ct | Fib | Concat | Binop | UnknownKey


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Range:
    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class AnonymousSet:
    """`{ 22, 80 }`: the values a key may have (kept in one order: a set's
    elements have none, and nft prints them as it likes)."""

    items: tuple[Value, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", in_order(self.items))


@dataclass(frozen=True)
class SetRef:
    """`@role_bastion_ipv4`: a named set (or map) of the table."""

    name: str


@dataclass(frozen=True)
class Flags:
    """Bits of a flag type (`ct state established,related`, `tcp flags syn|ack`)."""

    names: frozenset[str]


@dataclass(frozen=True)
class ConcatValue:
    """`198.18.0.5 . 22`: one value per key of a `Concat`."""

    items: tuple[Value, ...]


@dataclass(frozen=True)
class Opaque:
    """A value this grammar does not know the shape of, kept as the dump has it."""

    raw: Any


# `bool` is how nft says "exists" (`fib saddr . iif oif missing` is `== false`).
Scalar = bool | int | str | Address | Network
Value = Scalar | Range | AnonymousSet | SetRef | Flags | ConcatValue | Opaque
# What a value is read as: one domain, or one per part of a concatenation.
Domains = Domain | tuple[Domain, ...]


def in_order(values: Iterable[Value]) -> tuple[Value, ...]:
    """Values in one order, whatever order a dump lists them in."""
    return tuple(sorted(values, key=_order))


def _order(value: Value) -> tuple[int, int, int, str]:
    if isinstance(value, bool):
        return (0, int(value), 0, "")
    if isinstance(value, int):
        return (1, value, 0, "")
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return (2, value.version, int(value), "")
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return (3, value.version, int(value.network_address), str(value.prefixlen))
    return (4, 0, 0, repr(value))


def parse_value(raw: Any, domain: Domains) -> Value:
    """A right-hand side (or a set element) as this grammar holds it."""
    if isinstance(raw, str) and raw.startswith("@"):
        return SetRef(raw[1:])
    if isinstance(domain, tuple):
        return _concat_value(raw, domain)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, dict):
        if "set" in raw and isinstance(raw["set"], list):
            return AnonymousSet(tuple(parse_value(item, domain) for item in raw["set"]))
        if "range" in raw and isinstance(raw["range"], list) and len(raw["range"]) == 2:
            low, high = (parse_value(v, domain) for v in raw["range"])
            if _is_scalar(low) and _is_scalar(high):
                return Range(low, high)  # type: ignore[arg-type]
            return Opaque(raw)
        if "prefix" in raw and isinstance(raw["prefix"], dict) and domain == "address":
            prefix = raw["prefix"]
            try:
                return ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)
            except (KeyError, ValueError, TypeError):
                return Opaque(raw)
        if "elem" in raw and isinstance(raw["elem"], dict) and "val" in raw["elem"]:
            return parse_value(raw["elem"]["val"], domain)
        return Opaque(raw)
    if isinstance(raw, list):
        # A list is a flag combination (`ct state established,related`).
        if domain in _FLAG_TABLES:
            names = [_flag_names(item, domain) for item in raw]
            if all(n is not None for n in names):
                return Flags(frozenset().union(*(n for n in names if n is not None)))
        return Opaque(raw)
    if not isinstance(raw, (int, str)):
        return Opaque(raw)
    return _scalar(raw, domain)


_SCALARS: tuple[type, ...] = (bool, int, str, ipaddress.IPv4Address, ipaddress.IPv6Address)
_SCALARS += (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _is_scalar(value: Value) -> bool:
    return isinstance(value, _SCALARS)


def _concat_value(raw: Any, domains: tuple[Domain, ...]) -> Value:
    if isinstance(raw, dict) and "set" in raw and isinstance(raw["set"], list):
        return AnonymousSet(tuple(_concat_value(item, domains) for item in raw["set"]))
    if isinstance(raw, dict) and "elem" in raw and isinstance(raw["elem"], dict):
        return _concat_value(raw["elem"].get("val"), domains)
    if isinstance(raw, dict) and isinstance(raw.get("concat"), list):
        parts = raw["concat"]
        if len(parts) == len(domains):
            return ConcatValue(
                tuple(parse_value(v, d) for v, d in zip(parts, domains, strict=True))
            )
    return Opaque(raw)


def _scalar(raw: int | str, domain: Domain) -> Value:
    try:
        if domain == "address":
            if isinstance(raw, int):
                return Opaque(raw)
            return ipaddress.ip_address(raw)
        if domain in ("icmp_type", "icmpv6_type", "icmp_code", "icmpv6_code"):
            family = "icmp" if domain.startswith("icmp_") else "icmpv6"
            table = ICMP_TYPE_NAMES if domain.endswith("type") else ICMP_CODE_NAMES
            return raw if isinstance(raw, int) else table[family][raw]
        if domain == "protocol":
            return _protocol_value(raw)
        if domain == "nfproto":
            return NFPROTO[str(raw)]
        if domain in _FLAG_TABLES:
            names = _flag_names(raw, domain)
            return Flags(names) if names is not None else Opaque(raw)
        if domain == "pkttype":
            return raw if isinstance(raw, int) else PKTTYPES[raw]
        if domain == "fib_type":
            return raw if isinstance(raw, int) else FIB_TYPES[raw]
        if domain in ("port", "integer"):
            return raw if isinstance(raw, int) else Opaque(raw)
    except (KeyError, ValueError):
        return Opaque(raw)
    return raw


def _protocol_value(raw: int | str) -> int:
    if isinstance(raw, str) and raw in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[raw]
    protocol = canonical_protocol(raw)
    number = protocol_number(protocol)
    if number < 0:
        raise ValueError(raw)
    return number


_FLAG_TABLES: dict[str, dict[str, int]] = {
    "ct_state": CT_STATES,
    "ct_status": CT_STATUS,
    "tcp_flags": TCP_FLAGS,
}


def _flag_names(raw: Any, domain: Domain) -> frozenset[str] | None:
    table = _FLAG_TABLES[domain]
    if isinstance(raw, str):
        return frozenset({raw}) if raw in table else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        names = frozenset(n for n, bit in table.items() if raw & bit)
        return names if sum(table[n] for n in names) == raw else None
    return None


def flag_bits(flags: Flags, domain: Domain) -> int:
    table = _FLAG_TABLES[domain]
    return sum(table[n] for n in flags.names)


def value_json(value: Value, domain: Domains) -> Any:
    """A value as `nft -j` prints it (names where nft has them)."""
    if isinstance(domain, tuple):
        if isinstance(value, ConcatValue):
            parts = zip(value.items, domain, strict=True)
            return {"concat": [value_json(v, d) for v, d in parts]}
        if isinstance(value, AnonymousSet):
            return {"set": [value_json(v, domain) for v in value.items]}
        domain = "raw"
    if isinstance(value, bool):
        return value
    if isinstance(value, SetRef):
        return f"@{value.name}"
    if isinstance(value, AnonymousSet):
        return {"set": [value_json(v, domain) for v in value.items]}
    if isinstance(value, Range):
        return {"range": [value_json(value.low, domain), value_json(value.high, domain)]}
    if isinstance(value, Flags):
        table = _FLAG_TABLES[domain]
        names = sorted(value.names, key=table.__getitem__)
        return names[0] if len(names) == 1 else names
    if isinstance(value, Opaque):
        return value.raw
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return {"prefix": {"addr": str(value.network_address), "len": value.prefixlen}}
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, int) and domain in ("icmp_type", "icmpv6_type"):
        return _name_of(ICMP_TYPE_NAMES["icmp" if domain == "icmp_type" else "icmpv6"], value)
    if isinstance(value, int) and domain in ("icmp_code", "icmpv6_code"):
        return _name_of(ICMP_CODE_NAMES["icmp" if domain == "icmp_code" else "icmpv6"], value)
    if isinstance(value, int) and domain == "protocol":
        return _PROTOCOL_TEXT.get(value, value)
    return value


def _name_of(table: Mapping[str, int], number: int) -> str | int:
    return next((name for name, n in table.items() if n == number), number)


def value_text(value: Value, domain: Domains) -> str:
    """A value as `nft -f` reads it."""
    if isinstance(domain, tuple):
        if isinstance(value, ConcatValue):
            parts = zip(value.items, domain, strict=True)
            return " . ".join(value_text(v, d) for v, d in parts)
        if isinstance(value, AnonymousSet):
            return "{ " + ", ".join(value_text(v, domain) for v in value.items) + " }"
        domain = "raw"
    if isinstance(value, bool):
        return "exists" if value else "missing"
    if isinstance(value, SetRef):
        return f"@{value.name}"
    if isinstance(value, AnonymousSet):
        return "{ " + ", ".join(value_text(v, domain) for v in value.items) + " }"
    if isinstance(value, Range):
        return f"{value_text(value.low, domain)}-{value_text(value.high, domain)}"
    if isinstance(value, Flags):
        shown = value_json(value, domain)
        return ",".join(shown) if isinstance(shown, list) else str(shown)
    if isinstance(value, Opaque):
        return json.dumps(value.raw, sort_keys=True)  # shown in messages; hasg writes none
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value.network_address) if value.num_addresses == 1 else str(value)
    if domain == "iface" and isinstance(value, str):
        return json.dumps(value)
    return str(value_json(value, domain))


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Match:
    """`left op right`; nft prints `==` and the flag test `in` as nothing."""

    op: str
    left: Key
    right: Value

    def to_json(self) -> dict[str, Any]:
        right = value_json(self.right, domains_of(self.left))
        return {"match": {"op": self.op, "left": self.left.to_json(), "right": right}}

    def text(self) -> str:
        op = "" if self.op in ("==", "in") else f"{self.op} "
        return f"{self.left.text()} {op}{value_text(self.right, domains_of(self.left))}"


VerdictKind = Literal["accept", "drop", "continue", "return", "jump", "goto"]


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    target: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind in ("jump", "goto"):
            return {self.kind: {"target": self.target}}
        return {self.kind: None}

    def text(self) -> str:
        return f"{self.kind} {self.target}" if self.target else self.kind


@dataclass(frozen=True)
class Reject:
    """Refuse with an ICMP error or a TCP reset: as final as drop."""

    raw: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"reject": self.raw}

    def text(self) -> str:
        return "reject"


@dataclass(frozen=True)
class VerdictMap:
    """`ct state vmap { established : accept, invalid : drop }`."""

    key: Key
    entries: tuple[tuple[Value, Verdict], ...] | SetRef

    def to_json(self) -> dict[str, Any]:
        if isinstance(self.entries, SetRef):
            data: Any = f"@{self.entries.name}"
        else:
            data = {"set": [[value_json(k, self.key.domain), v.to_json()] for k, v in self.entries]}
        return {"vmap": {"key": self.key.to_json(), "data": data}}

    def text(self) -> str:
        if isinstance(self.entries, SetRef):
            return f"{self.key.text()} vmap @{self.entries.name}"
        pairs = ", ".join(f"{value_text(k, self.key.domain)} : {v.text()}" for k, v in self.entries)
        return f"{self.key.text()} vmap {{ {pairs} }}"


@dataclass(frozen=True)
class Mangle:
    """`meta mark set 1`, `ct mark set 2`: a field the packet carries on."""

    key: Key
    value: Value | Key

    def to_json(self) -> dict[str, Any]:
        value = self.value.to_json() if _is_key(self.value) else value_json(self.value, "raw")  # type: ignore[union-attr,arg-type]
        return {"mangle": {"key": self.key.to_json(), "value": value}}

    def text(self) -> str:
        value = self.value.text() if _is_key(self.value) else value_text(self.value, "raw")  # type: ignore[union-attr,arg-type]
        return f"{self.key.text()} set {value}"


@dataclass(frozen=True)
class NoEffect:
    """A statement that changes no verdict and no packet: counter, log, ..."""

    kind: str
    raw: Any = None

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.raw}

    def text(self) -> str:
        return self.kind


@dataclass(frozen=True)
class Chance:
    """A statement that lets a packet on or not by what no dump holds: a
    rate (`limit`), a quota, a connection count. Either may happen."""

    kind: str
    raw: Any = None

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.raw}

    def text(self) -> str:
        return self.kind


OpaqueWhy = Literal[
    "changes connection state",
    "translates addresses (NAT)",
    "queues packets to userspace",
    "forwards or duplicates packets",
    "updates a set from the packets it sees",
    "offloads connections",
    "is not something hasg can evaluate",
]


@dataclass(frozen=True)
class OpaqueStatement:
    """A statement the evaluator cannot decide, and why (issue 15: each is drift)."""

    kind: str
    raw: Any
    why: OpaqueWhy

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.raw}

    def text(self) -> str:
        return f"{self.kind} {json.dumps(self.raw, sort_keys=True)}"


Statement = Match | Verdict | Reject | VerdictMap | Mangle | NoEffect | Chance | OpaqueStatement

_NO_EFFECT = frozenset({"counter", "log", "comment", "xt_comment"})
_CHANCE = frozenset({"limit", "quota", "numgen"})
_OPAQUE: dict[str, OpaqueWhy] = {
    "ct helper": "changes connection state",
    "ct expectation": "changes connection state",
    "ct timeout": "changes connection state",
    "ct count": "changes connection state",
    "notrack": "changes connection state",
    "synproxy": "changes connection state",
    "snat": "translates addresses (NAT)",
    "dnat": "translates addresses (NAT)",
    "masquerade": "translates addresses (NAT)",
    "redirect": "translates addresses (NAT)",
    "tproxy": "translates addresses (NAT)",
    "queue": "queues packets to userspace",
    "fwd": "forwards or duplicates packets",
    "dup": "forwards or duplicates packets",
    "set": "updates a set from the packets it sees",
    "map": "updates a set from the packets it sees",
    "flow": "offloads connections",
}


def parse_statement(raw: Any) -> Statement:
    """One element of a rule's `expr` list."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise GrammarError(f"a statement is a one-key object, not {_shown(raw)}")
    ((kind, body),) = raw.items()
    if kind == "match":
        if not isinstance(body, dict) or not {"op", "left", "right"} <= set(body):
            raise GrammarError(f"a match has op, left and right, not {_shown(body)}")
        left = parse_key(body["left"])
        return Match(str(body["op"]), left, parse_value(body["right"], domains_of(left)))
    if kind in ("accept", "drop", "continue", "return"):
        return Verdict(kind)
    if kind in ("jump", "goto"):
        if not isinstance(body, dict) or not isinstance(body.get("target"), str):
            raise GrammarError(f"{kind} names a target chain, not {_shown(body)}")
        return Verdict(kind, body["target"])
    if kind == "reject":
        return Reject(body)
    if kind == "vmap" and isinstance(body, dict) and {"key", "data"} <= set(body):
        return _verdict_map(body)
    if kind == "mangle" and isinstance(body, dict) and {"key", "value"} <= set(body):
        key = parse_key(body["key"])
        value: Value | Key = (
            parse_key(body["value"])
            if isinstance(body["value"], dict) and _looks_like_key(body["value"])
            else parse_value(body["value"], key.domain)
        )
        return Mangle(key, value)
    if kind in _NO_EFFECT:
        return NoEffect(kind, body)
    if kind in _CHANCE:
        return Chance(kind, body)
    if kind == "ct helper" or kind in _OPAQUE:
        return OpaqueStatement(kind, body, _OPAQUE.get(kind, "changes connection state"))
    return OpaqueStatement(kind, body, "is not something hasg can evaluate")


def _verdict_map(body: Mapping[str, Any]) -> Statement:
    key = parse_key(body["key"])
    data = body["data"]
    if isinstance(data, str) and data.startswith("@"):
        return VerdictMap(key, SetRef(data[1:]))
    if not (isinstance(data, dict) and isinstance(data.get("set"), list)):
        return OpaqueStatement("vmap", dict(body), "is not something hasg can evaluate")
    entries = []
    for pair in data["set"]:
        if not (isinstance(pair, list) and len(pair) == 2):
            return OpaqueStatement("vmap", dict(body), "is not something hasg can evaluate")
        verdict = parse_statement(pair[1])
        if not isinstance(verdict, Verdict):
            return OpaqueStatement("vmap", dict(body), "is not something hasg can evaluate")
        entries.append((parse_value(pair[0], key.domain), verdict))
    return VerdictMap(key, tuple(entries))


_KEY_PARSERS: dict[str, Callable[[Any], Key]] = {}


def parse_key(raw: Any) -> Key:
    """A left-hand side: a header field, metadata, conntrack, a lookup."""
    if not isinstance(raw, dict) or len(raw) != 1:
        return UnknownKey(raw)
    ((kind, body),) = raw.items()
    if kind == "payload" and isinstance(body, dict):
        if isinstance(body.get("protocol"), str) and isinstance(body.get("field"), str):
            return Payload(body["protocol"], body["field"])
        return UnknownKey(raw)  # a raw payload: base, offset, len
    if kind == "meta" and isinstance(body, dict) and isinstance(body.get("key"), str):
        return Meta(body["key"])
    if kind == "ct" and isinstance(body, dict) and isinstance(body.get("key"), str):
        direction = body.get("dir")
        return Ct(body["key"], direction if isinstance(direction, str) else None)
    if kind == "fib" and isinstance(body, dict) and isinstance(body.get("result"), str):
        flags = body.get("flags", [])
        flags = [flags] if isinstance(flags, str) else flags
        if isinstance(flags, list) and all(isinstance(f, str) for f in flags):
            return Fib(body["result"], tuple(flags))
    if kind == "concat" and isinstance(body, list):
        return Concat(tuple(parse_key(item) for item in body))
    if kind in ("&", "|", "^", "<<", ">>") and isinstance(body, list) and len(body) == 2:
        left = parse_key(body[0])
        return Binop(kind, left, parse_value(body[1], left.domain))
    return UnknownKey(raw)


_KEY_KINDS = frozenset({"payload", "meta", "ct", "fib", "concat", "&", "|", "^", "<<", ">>"})


def domains_of(key: Key) -> Domains:
    """How the values a key is compared with are read."""
    return key.domains if isinstance(key, Concat) else key.domain


def _looks_like_key(raw: Mapping[str, Any]) -> bool:
    return len(raw) == 1 and next(iter(raw)) in _KEY_KINDS


def _is_key(value: object) -> bool:
    return isinstance(value, (Payload, Meta, Ct, Fib, Concat, Binop, UnknownKey))


def _shown(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One rule: its statements in order, its comment, and where it is."""

    statements: tuple[Statement, ...]
    comment: str = ""
    handle: int | None = field(default=None, compare=False)

    def text(self) -> str:
        words = [s.text() for s in self.statements]
        if self.comment:
            # nft's comments have no escapes: a backslash is a backslash, and a
            # `"` cannot be written at all (the writer turns it into `'`).
            if '"' in self.comment:
                raise GrammarError(f"nft cannot write a comment holding '\"': {self.comment!r}")
            words.append(f'comment "{self.comment}"')
        return " ".join(words)

    def to_json(self, family: str, table: str, chain: str) -> dict[str, Any]:
        body: dict[str, Any] = {"family": family, "table": table, "chain": chain}
        if self.comment:
            body["comment"] = self.comment
        body["expr"] = [s.to_json() for s in self.statements]
        return {"rule": body}


def accept_rule(matches: Iterable[Match], comment: str = "") -> Rule:
    """The rule shape hasg writes: matches, then accept."""
    return Rule((*matches, Verdict("accept")), comment)
