"""The ICMP every host firewall accepts besides its rules: one definition per
address family, by type number, which each host target spells in its own
names (nftables' `icmp type`, firewalld's icmptypes).

Error messages (destination unreachable with path MTU's fragmentation
needed, RFC 1191; ICMPv6 packet too big, RFC 8201; time exceeded; parameter
problem) matter only about a connection of the host: conntrack calls them
related and both targets accept them as such (`ct state related`), while an
error about no connection is invalid and dropped, as firewalld drops it.
What a host accepts on its own is echo (operators ping) and, for IPv6,
neighbour discovery (RFC 4861: IPv6 has no ARP), which conntrack leaves
untracked. RFC 4890, section 4.4, lists the ICMPv6 a host must not drop.

Not accepted: redirects, router advertisements for IPv4 (RFC 1256), the
obsolete timestamp and information types, and MLD (firewalld names no MLD
icmptype, and the two targets must accept exactly the same ICMP).
"""

from __future__ import annotations

from hasg.core.networks import Family
from hasg.core.protocols import Protocol

# The ICMP protocol of each address family, as hasg names it.
ICMP_OF: dict[Family, Protocol] = {"ipv4": "icmp", "ipv6": "icmpv6"}

# ICMP types (RFC 792) and ICMPv6 types (RFC 4443, RFC 4861) accepted from
# anyone, by number.
ESSENTIAL_ICMP: dict[Family, tuple[int, ...]] = {
    "ipv4": (8,),  # echo-request
    "ipv6": (
        128,  # echo-request
        133,  # router solicitation
        134,  # router advertisement
        135,  # neighbour solicitation
        136,  # neighbour advertisement
    ),
}


# ICMP error messages (RFC 792, RFC 4443): each is about a packet of some
# connection, and a stateful firewall accepts it as part of that connection
# (conntrack calls it related). Redirect (5) is one to conntrack too
# (net/netfilter/nf_conntrack_proto_icmp.c, icmp_is_err). Alone, about no
# connection, conntrack calls it invalid.
ERROR_TYPES: dict[Family, frozenset[int]] = {
    "ipv4": frozenset({3, 4, 5, 11, 12}),
    "ipv6": frozenset({1, 2, 3, 4}),
}


def is_error(protocol: Protocol, icmp_type: int) -> bool:
    return any(
        ICMP_OF[family] == protocol and icmp_type in types for family, types in ERROR_TYPES.items()
    )


def is_essential(protocol: Protocol, icmp_type: int) -> bool:
    """Whether every host accepts this ICMP type from anyone."""
    return any(
        ICMP_OF[family] == protocol and icmp_type in types
        for family, types in ESSENTIAL_ICMP.items()
    )
