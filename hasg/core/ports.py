"""Ports: the one text form of a port range, the one grammar a policy writes
them in, and `PortSet`, the sets of (protocol, port) that checks and the
flow graph reason with.

One formatter (`port_text`) serves `Port`, `Rule` and `PortSet`, and one
grammar (`PORT_GRAMMAR`) serves the policy model's parser and the JSON Schema
pattern, so what hasg prints is what a user may write back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from hasg.core.protocols import (
    ALL_PORTS,
    ALL_TRAFFIC,
    ICMP_PROTOCOLS,
    NAMED_PROTOCOLS,
    OTHER_PROTOCOL_PREFIX,
    canonical_protocol,
    has_ports,
    protocol_number,
)

# The policy's port words, as a regular expression both Python's `re` and
# JSON Schema's ECMA-262 dialect read the same way: no named groups, ASCII
# digits only (Python's `\d` also takes other scripts' digits, which `int`
# would then accept). Groups: (1) tcp|udp, (2) first port, (3) last port,
# (4) ICMP type, (5) ICMP code; `all` matches none of them. Case is the
# caller's: the model lower-cases, the schema pattern wraps it in `(?i:...)`.
PORT_GRAMMAR = (
    r"(tcp|udp)/([0-9]{1,5})(?:-([0-9]{1,5}))?"
    r"|icmp(?:/([0-9]{1,3})(?::([0-9]{1,3}))?)?"
    r"|all"
)


def port_text(protocol: str, from_port: int, to_port: int) -> str:
    """The one text form of a port range, in the policy's own words:
    `tcp/22`, `tcp/9200-9300`, `udp/9638`, `icmp` (any type), `icmp/8`,
    `icmp/3:4` (type 3, code 4), `all`, and `proto/50` for a protocol without
    ports (ESP). `protocol` may be any spelling `canonical_protocol` reads
    ("all" too); for ICMP `from_port` is the type and `to_port` the code,
    -1 meaning any."""
    protocol = canonical_protocol(protocol)
    if protocol == ALL_TRAFFIC:
        return "all"
    if not has_ports(protocol):
        return f"{OTHER_PROTOCOL_PREFIX}/{protocol}"
    if protocol in ICMP_PROTOCOLS:
        if from_port == ALL_PORTS:
            return protocol
        code = "" if to_port == ALL_PORTS else f":{to_port}"
        return f"{protocol}/{from_port}{code}"
    if from_port == to_port:
        return f"{protocol}/{from_port}"
    return f"{protocol}/{from_port}-{to_port}"


def aws_ports(protocol: str, from_port: int, to_port: int) -> tuple[int, int] | None:
    """The FromPort and ToPort AWS's forms are written with (an IpPermission,
    Terraform's from_port and to_port, a template's FromPort and ToPort), the
    one rule every target writes by: none for all traffic (AWS takes no ports
    there), -1 and -1 for a protocol without ports (EC2 ignores them and
    answers -1; look-alikes such as moto need them), else the rule's own."""
    if protocol == ALL_TRAFFIC:
        return None
    if not has_ports(protocol):
        return (ALL_PORTS, ALL_PORTS)
    return (from_port, to_port)


def held_ports(protocol: str, from_port: int, to_port: int) -> tuple[int, int]:
    """The ports a Rule holds for what a reader found: -1 and -1 for a
    protocol without ports, whatever a target wrote there."""
    return (from_port, to_port) if has_ports(protocol) else (ALL_PORTS, ALL_PORTS)


class PortRange(TypingProtocol):
    """A policy `Port` or anything else with its three fields."""

    @property
    def protocol(self) -> str: ...
    @property
    def from_port(self) -> int: ...
    @property
    def to_port(self) -> int: ...


# Ports the whole internet may reach without `public: true`: HTTPS and its redirect.
WORLD_SAFE_TCP_PORTS = frozenset({80, 443})


def world_safe(ports: PortRange) -> bool:
    """Whether the whole internet may reach `ports` unasked: exactly tcp/80 or
    tcp/443, whatever the spelling of tcp (the one world guard's exemption)."""
    return (
        canonical_protocol(ports.protocol) == "tcp"
        and ports.from_port == ports.to_port
        and ports.from_port in WORLD_SAFE_TCP_PORTS
    )


# --------------------------------------------------------------------------- port sets

# Each protocol's range of ports. ICMP's "ports" are (type, code) pairs, each
# one number, type * 256 + code: a rule of one type and any code holds that
# type's 256 codes, a rule of one code one of them (EC2 reads ICMP's FromPort
# as the type and ToPort as the code, -1 for any: IpPermission.ToPort), so
# `icmp/3:4` holds less than `icmp/3`. Every other IP protocol has no ports
# (EC2 ignores them: IpPermission.FromPort), so all of them share one space,
# "proto", whose "ports" are the protocol numbers: ESP is ("proto", 50, 50).
_OTHER = OTHER_PROTOCOL_PREFIX
_CODES = 256  # an ICMP code is one octet (RFC 792, RFC 4443)
_SPACE: dict[str, tuple[int, int]] = {
    "tcp": (0, 65535),
    "udp": (0, 65535),
    "icmp": (0, 256 * _CODES - 1),
    "icmpv6": (0, 256 * _CODES - 1),
    _OTHER: (0, 255),
}
_ORDER = {p: i for i, p in enumerate(_SPACE)}
# The numbers of the named protocols, which have a space of their own.
_NAMED_NUMBERS = sorted(NAMED_PROTOCOLS.values())

Interval = tuple[str, int, int]


@dataclass(frozen=True)
class PortSet:
    """A set of (protocol, port) pairs, kept as merged, sorted intervals."""

    intervals: tuple[Interval, ...] = ()

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> PortSet:
        merged: list[Interval] = []
        for proto, low, high in sorted(intervals, key=lambda i: (_ORDER[i[0]], i[1], i[2])):
            if merged and merged[-1][0] == proto and low <= merged[-1][2] + 1:
                last = merged.pop()
                merged.append((proto, last[1], max(last[2], high)))
            else:
                merged.append((proto, low, high))
        return cls(tuple(merged))

    @classmethod
    def everything(cls) -> PortSet:
        return cls.of((p, low, high) for p, (low, high) in _SPACE.items()) - _NAMED_AS_OTHER

    @classmethod
    def of_range(cls, ports: PortRange) -> PortSet:
        """The pairs a rule or a policy port lets through (any spelling of its protocol)."""
        protocol = canonical_protocol(ports.protocol)
        if protocol == ALL_TRAFFIC:
            return cls.everything()
        if not has_ports(protocol):
            number = protocol_number(protocol)
            return cls(((_OTHER, number, number),))
        if protocol in ICMP_PROTOCOLS:
            return cls(((protocol, *_icmp_pairs(ports.from_port, ports.to_port)),))
        return cls(((protocol, ports.from_port, ports.to_port),))

    # The names callers know them by: a Blueprint rule, a policy port.
    of_rule = of_range
    of_port = of_range

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet.of(self.intervals + other.intervals)

    def __and__(self, other: PortSet) -> PortSet:
        return PortSet.of(
            (p, max(a, c), min(b, d))
            for p, a, b in self.intervals
            for q, c, d in other.intervals
            if p == q and max(a, c) <= min(b, d)
        )

    def __sub__(self, other: PortSet) -> PortSet:
        left: list[Interval] = []
        for proto, low, high in self.intervals:
            pieces = [(low, high)]
            for q, c, d in other.intervals:
                if q != proto:
                    continue
                pieces = [
                    piece
                    for a, b in pieces
                    for piece in ((a, min(b, c - 1)), (max(a, d + 1), b))
                    if piece[0] <= piece[1]
                ]
            left += [(proto, a, b) for a, b in pieces]
        return PortSet.of(left)

    def __str__(self) -> str:
        """`tcp/22 tcp/9200-9300 udp/9638 icmp/8`: `port_text` per interval; `all`
        for everything, `other-protocols` for every protocol without ports."""
        if self == PortSet.everything():
            return "all"
        if _ALL_OTHER.intervals and (self & _ALL_OTHER) == _ALL_OTHER:
            shown = [t for i in (self - _ALL_OTHER).intervals for t in _interval_texts(i)]
            return " ".join([*shown, "other-protocols"])
        return " ".join(self.as_list())

    def as_list(self) -> list[str]:
        return [t for i in self.intervals for t in _interval_texts(i)]


def _icmp_pairs(icmp_type: int, code: int) -> tuple[int, int]:
    """The (type, code) numbers of an ICMP rule: every pair, one type's, or one."""
    if icmp_type == ALL_PORTS:
        return (0, 256 * _CODES - 1)
    first = icmp_type * _CODES
    return (first, first + _CODES - 1) if code == ALL_PORTS else (first + code, first + code)


def _interval_texts(interval: Interval) -> list[str]:
    """`port_text` of one interval, in as few pieces as it takes. A run of
    ICMP types or of protocol numbers, which no single rule holds, is the
    first one's text and `-last`; a run of one type's codes `icmp/3:4-7`."""
    proto, low, high = interval
    if proto in ("tcp", "udp"):
        return [port_text(proto, low, high)]
    if proto in ICMP_PROTOCOLS:
        return _icmp_texts(proto, low, high)
    text = f"{_OTHER}/{low}"  # `port_text` would read the number as its protocol
    return [text if low == high else f"{text}-{high}"]


def _icmp_texts(proto: str, low: int, high: int) -> list[str]:
    if (low, high) == _SPACE[proto]:
        return [port_text(proto, ALL_PORTS, ALL_PORTS)]
    texts = []
    while low <= high:
        icmp_type, code = divmod(low, _CODES)
        if code == 0 and low + _CODES - 1 <= high:  # whole types
            last = (high + 1) // _CODES - 1
            text = port_text(proto, icmp_type, ALL_PORTS)
            texts.append(text if last == icmp_type else f"{text}-{last}")
            low = (last + 1) * _CODES
        else:  # some codes of one type
            end = min(high, (icmp_type + 1) * _CODES - 1)
            text = port_text(proto, icmp_type, code)
            texts.append(text if end == low else f"{text}-{end % _CODES}")
            low = end + 1
    return texts


NOTHING = PortSet()
# tcp, udp, icmp and icmpv6 are in the "proto" space's range but have spaces of their own.
_NAMED_AS_OTHER = PortSet.of((_OTHER, n, n) for n in _NAMED_NUMBERS)
_ALL_OTHER = PortSet.of([(_OTHER, *_SPACE[_OTHER])]) - _NAMED_AS_OTHER


def union(sets: Iterable[PortSet]) -> PortSet:
    return PortSet.of(i for s in sets for i in s.intervals)
