"""What Linux connection tracking says of the packets a probe sends: the one
model the host firewalls' evaluators (nftables, firewalld) share, since
both judge packets by their conntrack state (net/netfilter/nf_conntrack_*).

- TCP, UDP, other protocols (the generic tracker), and ICMP requests
  (nf_conntrack_proto_icmp.c and _icmpv6.c, `valid_new`) open a connection:
  `new`, and the answer is `established`;
- ICMPv6 neighbour discovery and MLD are left untracked
  (nf_conntrack_proto_icmpv6.c, `noct_valid_new`);
- an ICMP error is about a connection: `related` (`hasg.hosts.icmp`);
- any other ICMP type is `invalid`.
"""

from __future__ import annotations

from hasg.hosts.icmp import ERROR_TYPES

ICMP, ICMPV6 = 1, 58
# Request types that open a connection, and the type of their reply.
ICMP_REQUESTS: dict[int, dict[int, int]] = {
    ICMP: {8: 0, 13: 14, 15: 16, 17: 18},
    ICMPV6: {128: 129, 139: 140},
}
ICMPV6_UNTRACKED = frozenset({130, 131, 132, 133, 134, 135, 136, 143})
# The protocols whose header starts with ports, by IP protocol number.
PORT_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}


def first_state(protocol: int, icmp_type: int | None) -> str:
    """The conntrack state of a connection's first packet (`ct state`)."""
    if protocol not in (ICMP, ICMPV6) or icmp_type is None:
        return "new"
    if icmp_type in ICMP_REQUESTS[protocol]:
        return "new"
    if protocol == ICMPV6 and icmp_type in ICMPV6_UNTRACKED:
        return "untracked"
    if icmp_type in ERROR_TYPES["ipv4" if protocol == ICMP else "ipv6"]:
        return "related"
    return "invalid"


def reply_icmp_type(protocol: int, icmp_type: int) -> int:
    """The ICMP type that answers a request (echo-request -> echo-reply)."""
    return ICMP_REQUESTS[protocol][icmp_type]
