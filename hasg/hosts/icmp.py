"""The ICMP every host firewall accepts besides its rules: one definition per
address family, by type number, which each host target spells in its own
names (nftables' `icmp type`, firewalld's icmptypes).

Without these a network breaks in ways no port rule shows: IPv6 has no
ARP, so neighbour discovery (RFC 4861) must pass; path MTU discovery needs
ICMPv6 packet-too-big (RFC 8201) and, for IPv4, destination-unreachable
(fragmentation needed, RFC 1191); errors (time exceeded, parameter problem)
tell a sender why its packets die; echo lets operators ping. RFC 4890,
section 4.4, lists the ICMPv6 types a host's firewall must not drop.

Redirects, router advertisements for IPv4 (RFC 1256) and the obsolete
timestamp and information types are not accepted: a host on a managed
network needs none of them, and an accepted redirect lets anyone on the link
reroute it.
"""

from __future__ import annotations

from hasg.core.networks import Family
from hasg.core.protocols import Protocol

# The ICMP protocol of each address family, as hasg names it.
ICMP_OF: dict[Family, Protocol] = {"ipv4": "icmp", "ipv6": "icmpv6"}

# ICMP types (RFC 792) and ICMPv6 types (RFC 4443, RFC 4861), by number.
ESSENTIAL_ICMP: dict[Family, tuple[int, ...]] = {
    "ipv4": (
        3,  # destination-unreachable (with fragmentation-needed: path MTU)
        8,  # echo-request
        11,  # time-exceeded
        12,  # parameter-problem
    ),
    "ipv6": (
        1,  # destination-unreachable
        2,  # packet-too-big (path MTU discovery)
        3,  # time-exceeded
        4,  # parameter-problem
        128,  # echo-request
        133,  # router solicitation
        134,  # router advertisement
        135,  # neighbour solicitation
        136,  # neighbour advertisement
    ),
}


def is_essential(protocol: Protocol, icmp_type: int) -> bool:
    """Whether every host accepts this ICMP type from anyone."""
    return any(
        ICMP_OF[family] == protocol and icmp_type in types
        for family, types in ESSENTIAL_ICMP.items()
    )
