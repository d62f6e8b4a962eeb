"""The one world guard as a regular expression over one CIDR's text.

Some targets only learn a network at deploy time, and can check it only by a
pattern: a CloudFormation parameter's `AllowedPattern` (Java's regular
expressions, which these also are, read the same way by Python's `re`).
`narrow_cidr_pattern` matches a CIDR only when, alone, it is not wide open
by `hasg.core.networks`' own measure (a public IPv4 /24, IPv6 /48, private
space, IPv4 meant through a translation prefix): it is built from that
module's data, and tests/test_cidr_patterns.py checks it against
`wide_open` on every spelling it can draw. What no pattern can judge (the
union of several values, a value that is not the VPC's real CIDR) is left to
the caller to say (docs/cloudformation.md).

A pattern judges spelling, so for IPv6 it is stricter than the guard where
the spelling alone cannot tell: any network written under the first
hextets of an IPv4-translating prefix (`64:ff9b:`, Teredo's `2001:0:`, a
zero first hextet) must be at least a /120 (at most 256 IPv4 addresses).
"""

from __future__ import annotations

import ipaddress
import re

from hasg.core.networks import NOT_PUBLIC, TRANSLATIONS, WIDE_OPEN_PREFIX, Family

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV6_TEXT = r"[0-9A-Fa-f:.]+"
# How a network under one of the IPv4-translating prefixes (TRANSLATIONS)
# whose IPv4 address is its last 32 bits starts, in any spelling: 64:ff9b
# (NAT64, both prefixes), 2001 then a zero hextet (Teredo), a zero first
# hextet (IPv4-mapped, -translated, -compatible). 6to4 (2002::/16) needs no
# line of its own: any network of it narrower than a /48 stands for one IPv4
# address at most.
_TRANSLATED_START = r"(?:0{0,2}64:[Ff]{2}9[Bb]:|2001:(?::|0{1,4}:)|::|0{1,4}:)"
_LAST_32_BITS = 96
_PRIVATE_IPV6_START: dict[str, str] = {
    # fc00::/7: a 4-digit first hextet fc00 to fdff
    "fc00::/7": r"[Ff][CcDd][0-9A-Fa-f]{2}:",
    # fe80::/10: fe80 to febf
    "fe80::/10": r"[Ff][Ee][89ABab][0-9A-Fa-f]:",
}
_BITS: dict[Family, int] = {"ipv4": 32, "ipv6": 128}


def number_range(low: int, high: int) -> str:
    """A regular expression for the decimal numbers `low` to `high`, written
    without leading zeros (as a prefix length or an octet is)."""
    parts: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        last = min(high, 10**digits - 1)
        if first <= last:
            parts += _same_length(str(first), str(last))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _same_length(low: str, high: str) -> list[str]:
    if low == high:
        return [low]
    if len(low) == 1:
        return [f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_length(low[1:], high[1:])]
    rest = len(low) - 1
    parts: list[str] = []
    start, end = low[0], high[0]
    if low[1:] != "0" * rest:
        parts += [low[0] + tail for tail in _same_length(low[1:], "9" * rest)]
        start = chr(ord(start) + 1)
    tail_high = []
    if high[1:] != "9" * rest:
        tail_high = [high[0] + tail for tail in _same_length("0" * rest, high[1:])]
        end = chr(ord(end) - 1)
    if start <= end:
        head = start if start == end else f"[{start}-{end}]"
        parts.append(head + "[0-9]" * rest)
    return parts + tail_high


def _ipv4_within(network: ipaddress.IPv4Network, shortest: int, longest: int) -> str:
    """IPv4 CIDRs inside `network` with a prefix length from `shortest` to `longest`."""
    octets = str(network.network_address).split(".")
    fixed, partial = divmod(network.prefixlen, 8)
    parts = [octets[i] for i in range(fixed)]
    if partial:
        low = int(octets[fixed])
        parts.append(number_range(low, low + 2 ** (8 - partial) - 1))
    free = 4 - len(parts)
    lengths = number_range(max(shortest, network.prefixlen), longest)
    more = f"\\.{_OCTET}" if free == 2 else f"(?:\\.{_OCTET}){{{free - 1}}}"
    tail = (r"\." if parts else "") + _OCTET + (more if free > 1 else "")
    return r"\.".join(parts) + (tail if free else "") + "/" + lengths


def narrow_cidr_pattern(
    family: Family, *, shortest: int = 0, longest: int | None = None, also: tuple[str, ...] = ()
) -> str:
    """An anchored pattern of the CIDRs of `family`, with a prefix length from
    `shortest` to `longest`, that alone are not wide open; `also` are CIDRs
    it accepts as written (values the guard itself judged, such as a
    template's defaults)."""
    longest = _BITS[family] if longest is None else longest
    limit = WIDE_OPEN_PREFIX[family]
    alternatives: list[str] = []
    if family == "ipv4":
        if max(shortest, limit) <= longest:
            alternatives.append(
                f"{_OCTET}(?:\\.{_OCTET}){{3}}/{number_range(max(shortest, limit), longest)}"
            )
        for private in NOT_PUBLIC["ipv4"]:
            assert isinstance(private, ipaddress.IPv4Network)
            if max(shortest, private.prefixlen) <= longest:
                alternatives.append(_ipv4_within(private, shortest, longest))
    else:
        assert all(t.offset in (_LAST_32_BITS, 16) for t in TRANSLATIONS)
        if max(shortest, limit) <= longest:
            lengths = number_range(max(shortest, limit), longest)
            alternatives.append(f"(?!{_TRANSLATED_START}){_IPV6_TEXT}/{lengths}")
        translated = max(shortest, _LAST_32_BITS + WIDE_OPEN_PREFIX["ipv4"])
        if translated <= longest:
            lengths = number_range(translated, longest)
            alternatives.append(f"{_TRANSLATED_START}[0-9A-Fa-f:.]*/{lengths}")
        for cidr, start in _PRIVATE_IPV6_START.items():
            network = ipaddress.IPv6Network(cidr)
            assert network in NOT_PUBLIC["ipv6"]
            if max(shortest, network.prefixlen) <= longest:
                lengths = number_range(max(shortest, network.prefixlen), longest)
                alternatives.append(f"{start}{_IPV6_TEXT}/{lengths}")
    pattern = "^(?:" + "|".join(alternatives) + ")$"
    missed = [_literal(c) for c in also if re.fullmatch(pattern, c) is None]
    return "^(?:" + "|".join([*alternatives, *missed]) + ")$" if missed else pattern


def cidr_shape_pattern(family: Family, *, shortest: int = 0, longest: int | None = None) -> str:
    """An anchored pattern of any CIDR of `family` with a prefix length from
    `shortest` to `longest` (EC2 itself judges the address)."""
    longest = _BITS[family] if longest is None else longest
    address = f"{_OCTET}(?:\\.{_OCTET}){{3}}" if family == "ipv4" else _IPV6_TEXT
    return f"^{address}/{number_range(shortest, longest)}$"


def _literal(cidr: str) -> str:
    """A CIDR as a pattern matching exactly its text (`.` is the only special character)."""
    return cidr.replace(".", r"\.")
