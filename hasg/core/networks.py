"""What a set of CIDRs means: its family, the addresses it holds, how open it is.

Every guard that asks "is this open to the world?" asks it here, on the
union of the networks, never on their spelling: `0.0.0.0/1` and
`128.0.0.0/1` together are the whole IPv4 internet, `0::/0` is `::/0`.

"Wide open" is decided by how many *public* addresses the union holds.
Cloud security scanners flag an IPv4 range broader than a /24 that is not
private as wide open; hasg draws the same line, and for IPv6 draws it at a
/48 (a whole site's allocation, RFC 6177). Private space (RFC 1918, RFC 6598
shared space, loopback, link-local, IPv6 unique-local and link-local) is
never counted: opening a port to 10.0.0.0/8 is a choice about your own
network, not about the internet's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal, NamedTuple

Family = Literal["ipv4", "ipv6"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FAMILIES: tuple[Family, ...] = ("ipv4", "ipv6")

# Broader than this many public addresses is "wide open" (see the module's docstring).
WIDE_OPEN_PREFIX: dict[Family, int] = {"ipv4": 24, "ipv6": 48}
_BITS: dict[Family, int] = {"ipv4": 32, "ipv6": 128}
WORLD: dict[Family, str] = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}

_PRIVATE_IPV4: tuple[str, ...] = ("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8")
_PRIVATE_IPV4 += ("169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
_NOT_PUBLIC: dict[Family, tuple[Network, ...]] = {
    "ipv4": tuple(ipaddress.IPv4Network(n) for n in _PRIVATE_IPV4),
    "ipv6": tuple(ipaddress.IPv6Network(n) for n in ("::1/128", "fc00::/7", "fe80::/10")),
}


def parse_network(text: str) -> Network:
    """A CIDR, strictly: no host bits, no IPv6 zone id, ASCII only.

    A zone id (`fe80::%eth0/64`) names an interface of one host; it means
    nothing in a firewall rule and could carry any text into a terminal or a
    Terraform file. Raises ValueError with a one-line reason.
    """
    if not isinstance(text, str) or not text.isascii() or not text.isprintable():
        raise ValueError(f"{text!r} is not a valid IPv4 or IPv6 CIDR")
    if "%" in text:
        raise ValueError(
            f"{text!r} has an IPv6 zone id (%...); a firewall rule takes a network, "
            "not an interface: leave the zone out"
        )
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            network = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"{text} has host bits set; did you mean {network}?") from None
        raise ValueError(f"{text!r} is not a valid IPv4 or IPv6 CIDR") from None


def canonical_cidr(text: str) -> str:
    """The one spelling AWS and hasg use for a network (`0::/0` -> `::/0`)."""
    return str(parse_network(text))


def family_of(cidr: str | Network) -> Family:
    return "ipv6" if _network(cidr).version == 6 else "ipv4"


def is_ipv6(cidr: str | Network) -> bool:
    return family_of(cidr) == "ipv6"


def _network(cidr: str | Network) -> Network:
    return cidr if not isinstance(cidr, str) else ipaddress.ip_network(cidr, strict=False)


def within(inner: str | Network, outer: str | Network) -> bool:
    """Whether every address of `inner` is in `outer` (never across families)."""
    a, b = _network(inner), _network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def union(cidrs: Iterable[str | Network], family: Family) -> tuple[Network, ...]:
    """The networks of one family, merged: the union as the fewest CIDRs."""
    networks = [_network(n) for n in cidrs]
    if family == "ipv6":
        return tuple(
            ipaddress.collapse_addresses(
                n for n in networks if isinstance(n, ipaddress.IPv6Network)
            )
        )
    return tuple(
        ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    )


def covers_world(cidrs: Iterable[str | Network], family: Family) -> bool:
    """Whether the union holds every address of the family."""
    return union(cidrs, family) == (ipaddress.ip_network(WORLD[family]),)


def public_addresses(cidrs: Iterable[str | Network], family: Family) -> int:
    """How many public addresses the union of `cidrs` holds."""
    merged = union(cidrs, family)
    total = sum(n.num_addresses for n in merged)
    for private in _NOT_PUBLIC[family]:
        total -= sum(_overlap(n, private) for n in merged)
    return total


def _overlap(a: Network, b: Network) -> int:
    if a.version != b.version or not a.overlaps(b):
        return 0
    return min(a.num_addresses, b.num_addresses)  # CIDRs overlap only by containment


class Openness(NamedTuple):
    """How far a set of CIDRs opens a port, per family."""

    family: Family
    world: bool  # every address of the family
    public: int  # public addresses held

    @property
    def wide(self) -> bool:
        limit: int = 2 ** (_BITS[self.family] - WIDE_OPEN_PREFIX[self.family])
        return self.public > limit

    def __str__(self) -> str:
        if self.world:
            return f"every {self.family.replace('ip', 'IP')} address"
        name = self.family.replace("ip", "IP")
        limit = f"more than a /{WIDE_OPEN_PREFIX[self.family]}"
        if self.family == "ipv6":  # a 39-digit count says less than a prefix length
            as_prefix = _BITS[self.family] - (self.public.bit_length() - 1)
            return f"as many public {name} addresses as a /{as_prefix} ({limit})"
        return f"{self.public:,} public {name} addresses ({limit})"


def wide_open(cidrs: Iterable[str | Network]) -> tuple[Openness, ...]:
    """The families in which the union of `cidrs` is wide open (or the world)."""
    cidrs = tuple(cidrs)
    found = []
    for family in FAMILIES:
        openness = Openness(family, covers_world(cidrs, family), public_addresses(cidrs, family))
        if openness.world or openness.wide:
            found.append(openness)
    return tuple(found)
