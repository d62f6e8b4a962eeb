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

Openness is judged by what a network stands for, not by its family alone.
IPv6 prefixes that embed or translate IPv4 addresses (NAT64, 6to4, Teredo,
IPv4-mapped, -translated and -compatible: `TRANSLATIONS`) stand for the IPv4
space they embed: `64:ff9b::/96` lets the whole IPv4 internet in through a
NAT64 gateway, so it is wide open exactly as `0.0.0.0/0` is.

`exposure` is the one world guard: whatever a peer is called (a policy CIDR,
a CIDR list, `vpc` resolved to `--network`, a stack parameter), the networks
it stands for and the ports it opens are judged here, and only a flow that
says `public: true` may open more than tcp/80 and tcp/443 that wide.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from hasg.core.ports import PortRange, port_text, world_safe

Family = Literal["ipv4", "ipv6"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
FAMILIES: tuple[Family, ...] = ("ipv4", "ipv6")

# Broader than this many public addresses is "wide open" (see the module's docstring).
WIDE_OPEN_PREFIX: dict[Family, int] = {"ipv4": 24, "ipv6": 48}
_BITS: dict[Family, int] = {"ipv4": 32, "ipv6": 128}
WORLD: dict[Family, str] = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}

_PRIVATE_IPV4: tuple[str, ...] = ("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8")
_PRIVATE_IPV4 += ("169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
NOT_PUBLIC: dict[Family, tuple[Network, ...]] = {
    "ipv4": tuple(ipaddress.IPv4Network(n) for n in _PRIVATE_IPV4),
    "ipv6": tuple(ipaddress.IPv6Network(n) for n in ("::1/128", "fc00::/7", "fe80::/10")),
}


class Translation(NamedTuple):
    """An IPv6 prefix whose addresses carry an IPv4 address: bits `offset` to
    `offset + 32` of an address, inverted for Teredo's obfuscated client."""

    prefix: ipaddress.IPv6Network
    name: str
    offset: int
    inverted: bool = False


def _translation(prefix: str, name: str, offset: int, inverted: bool = False) -> Translation:
    return Translation(ipaddress.IPv6Network(prefix), name, offset, inverted)


# Every prefix whose addresses stand for IPv4 ones. A network-specific NAT64
# prefix inside 64:ff9b:1::/48 may be any of RFC 6052's lengths (32 to 96);
# reading the IPv4 address from the last 32 bits (the /96 format) gives every
# sub-network the most IPv4 space any format could give it. ISATAP and 6rd
# embed IPv4 under prefixes no list can name: docs/security.md says so.
TRANSLATIONS: tuple[Translation, ...] = (
    _translation("64:ff9b::/96", "NAT64, RFC 6052", 96),
    _translation("64:ff9b:1::/48", "local-use NAT64, RFC 8215", 96),
    _translation("2002::/16", "6to4, RFC 3056", 16),
    _translation("2001::/32", "Teredo, RFC 4380", 96, inverted=True),
    _translation("::ffff:0:0/96", "IPv4-mapped, RFC 4291", 96),
    _translation("::ffff:0:0:0/96", "IPv4-translated, RFC 2765", 96),
    _translation("::/96", "IPv4-compatible, RFC 4291", 96),
)
_IPV4_BITS = 32
_ALL_IPV4 = ipaddress.IPv4Network("0.0.0.0/0")


def embedded_ipv4(
    network: ipaddress.IPv6Network,
) -> tuple[tuple[ipaddress.IPv4Network, Translation], ...]:
    """The IPv4 networks an IPv6 network stands for through `TRANSLATIONS`,
    each with the translation it goes through."""
    found = []
    for translation in TRANSLATIONS:
        prefix = translation.prefix
        if not network.overlaps(prefix):
            continue
        if prefix.subnet_of(network):  # the whole prefix: every IPv4 address
            found.append((_ALL_IPV4, translation))
            continue
        length = min(max(network.prefixlen - translation.offset, 0), _IPV4_BITS)
        shift = 128 - translation.offset - _IPV4_BITS
        bits = (int(network.network_address) >> shift) & 0xFFFFFFFF
        if translation.inverted:
            bits ^= 0xFFFFFFFF
        mask = (0xFFFFFFFF << (_IPV4_BITS - length)) & 0xFFFFFFFF
        found.append((ipaddress.IPv4Network((bits & mask, length)), translation))
    return tuple(found)


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
    return _strict_network(text)


# A text is parsed once per process: an audit of a host asks whether each of
# thousands of probes' addresses lies in a rule's peer networks. Networks are
# immutable; a refused text raises each time (lru_cache keeps no exception).
@functools.lru_cache(maxsize=4096)
def _strict_network(text: str) -> Network:
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


def family_of(value: str | Network | Address) -> Family:
    """The family of a CIDR, a network or an address."""
    parsed = _network(value) if isinstance(value, str) else value
    return "ipv6" if parsed.version == 6 else "ipv4"


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


def meaning(cidrs: Iterable[str | Network], family: Family) -> tuple[Network, ...]:
    """The union of what `cidrs` stand for in `family`: its own networks and,
    for IPv4, the IPv4 space IPv6 networks embed or translate (`TRANSLATIONS`)."""
    networks = [_network(n) for n in cidrs]
    if family == "ipv4":
        networks += [
            embedded
            for n in networks
            if isinstance(n, ipaddress.IPv6Network)
            for embedded, _ in embedded_ipv4(n)
        ]
    return union(networks, family)


def translated_through(cidrs: Iterable[str | Network]) -> tuple[str, ...]:
    """The translations (`TRANSLATIONS`) through which `cidrs` stand for IPv4 space."""
    names = {
        f"{t.prefix}, {t.name}"
        for n in map(_network, cidrs)
        if isinstance(n, ipaddress.IPv6Network)
        for _, t in embedded_ipv4(n)
    }
    return tuple(sorted(names))


def covers_world(cidrs: Iterable[str | Network], family: Family) -> bool:
    """Whether the union holds every address of the family, by meaning: IPv6
    prefixes that translate IPv4 count in IPv4 (`meaning`)."""
    return meaning(cidrs, family) == (ipaddress.ip_network(WORLD[family]),)


def public_addresses(cidrs: Iterable[str | Network], family: Family) -> int:
    """How many public addresses the union of what `cidrs` stand for holds."""
    merged = meaning(cidrs, family)
    total = sum(n.num_addresses for n in merged)
    for private in NOT_PUBLIC[family]:
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
    # For IPv4: the IPv6 translation prefixes (`TRANSLATIONS`) it comes through.
    through: tuple[str, ...] = ()

    @property
    def wide(self) -> bool:
        limit: int = 2 ** (_BITS[self.family] - WIDE_OPEN_PREFIX[self.family])
        return self.public > limit

    def __str__(self) -> str:
        named = "; ".join(self.through[:2])
        if len(self.through) > 2:
            named += f" and {len(self.through) - 2} more"
        through = f" (through {named})" if self.through else ""
        if self.world:
            return f"every {self.family.replace('ip', 'IP')} address{through}"
        name = self.family.replace("ip", "IP")
        limit = f"more than a /{WIDE_OPEN_PREFIX[self.family]}"
        if self.family == "ipv6":  # a 39-digit count says less than a prefix length
            as_prefix = _BITS[self.family] - (self.public.bit_length() - 1)
            return f"as many public {name} addresses as a /{as_prefix} ({limit})"
        return f"{self.public:,} public {name} addresses ({limit}){through}"


def wide_open(cidrs: Iterable[str | Network]) -> tuple[Openness, ...]:
    """The families in which the union of what `cidrs` stand for is wide open
    (or the world). IPv4 space that only translation prefixes bring in is not
    named again when the IPv6 world, which holds every such prefix, already is."""
    cidrs = tuple(cidrs)
    ipv6 = Openness("ipv6", covers_world(cidrs, "ipv6"), public_addresses(cidrs, "ipv6"))
    ipv4 = Openness(
        "ipv4",
        covers_world(cidrs, "ipv4"),
        public_addresses(cidrs, "ipv4"),
        translated_through(cidrs),
    )
    if ipv4.through and _is_wide([c for c in cidrs if family_of(c) == "ipv4"], "ipv4"):
        ipv4 = ipv4._replace(through=())  # wide by its own IPv4 networks already
    elif ipv4.through and ipv6.world:
        ipv4 = ipv4._replace(world=False, public=0)
    return tuple(o for o in (ipv4, ipv6) if o.world or o.wide)


def _is_wide(cidrs: Sequence[str | Network], family: Family) -> bool:
    openness = Openness(family, covers_world(cidrs, family), public_addresses(cidrs, family))
    return openness.world or openness.wide


class Exposure(NamedTuple):
    """Ports a peer opens wider than the one world guard allows unasked."""

    ports: tuple[str, ...]  # the ports beyond tcp/80 and tcp/443, as the policy writes them
    openness: tuple[Openness, ...]

    def message(self, peer: str, cidrs: Sequence[str]) -> str:
        """`opens tcp/22 to vpc: 0.0.0.0/0 holds every IPv4 address; only ...`."""
        shown = ", ".join(cidrs[:4]) + (f" and {len(cidrs) - 4} more" if len(cidrs) > 4 else "")
        holds = "together hold" if len(cidrs) > 1 else "holds"
        return (
            f"opens {', '.join(self.ports)} to {peer}: {shown} {holds} "
            f"{' and '.join(map(str, self.openness))}; only tcp/80 and tcp/443 may be open "
            "that wide unless the flow says public: true"
        )


def exposure(
    cidrs: Iterable[str | Network], ports: Iterable[PortRange], *, public: bool
) -> Exposure | None:
    """The one world guard: what `ports`, opened to the union of `cidrs`, open
    wider than a flow may without `public: true`; None when nothing does.

    tcp/80 and tcp/443 may reach even the whole internet: that is what entry
    points are for. Any other port to a union that is the world or wide open
    (by meaning: `wide_open`) needs the flow to say `public: true`."""
    if public:
        return None
    risky = tuple(
        dict.fromkeys(
            port_text(p.protocol, p.from_port, p.to_port) for p in ports if not world_safe(p)
        )
    )
    if not risky:
        return None
    too_open = wide_open(cidrs)
    return Exposure(risky, too_open) if too_open else None


# --------------------------------------------------------------------------- host addresses

# Addresses no host of an inventory can have, and why (RFC 6890's special-
# purpose registries): a rule naming one would match no host's traffic, or
# every host's. The first that holds an address names it. Documentation
# ranges (192.0.2.0/24, 2001:db8::/32) and the benchmarking range
# (198.18.0.0/15) stay usable: labs and docs are made of them.
_NOT_A_HOST: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(network), why)
    for network, why in (
        ("0.0.0.0/32", "the unspecified address"),
        ("0.0.0.0/8", "in 0.0.0.0/8, 'this network' (RFC 1122), never a host's"),
        ("127.0.0.0/8", "a loopback address: every host has it"),
        ("169.254.0.0/16", "link-local: it means another host on every link"),
        ("224.0.0.0/4", "a multicast address: a group, not a host"),
        ("255.255.255.255/32", "the limited broadcast address: every host on the link"),
        ("240.0.0.0/4", "in 240.0.0.0/4, reserved (RFC 1112): no network routes it"),
        ("::/128", "the unspecified address"),
        ("::1/128", "the loopback address: every host has it"),
        ("::/96", "IPv4-compatible (deprecated, RFC 4291): write the IPv4 address"),
        ("fe80::/10", "link-local: it means another host on every link"),
        ("fec0::/10", "site-local (deprecated, RFC 3879)"),
        ("ff00::/8", "a multicast address: a group, not a host"),
    )
)


def why_not_a_host(address: Address) -> str | None:
    """Why `address` cannot be a host's address in an inventory, or None.

    A host is named by a unicast address another host can reach it by:
    not unspecified, loopback, link-local (which needs an interface to mean
    anything), multicast, broadcast, or in space nobody may assign. An
    IPv4-mapped address (`::ffff:198.18.0.5`) is the inventory's to refuse:
    it would let one host hide under two spellings."""
    for network, why in _NOT_A_HOST:
        if address in network:
            return why
    return None
