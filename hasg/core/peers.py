"""The peers a policy's words stand for, as the compiler and every reader expand them.

The compiler writes rules with these and the Terraform reader expands its
variables with the same functions, so both agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable

from hasg.core.blueprint import Peer, PeerKind
from hasg.core.networks import is_ipv6
from hasg.core.protocols import Protocol

# An empty user CIDR list keeps the entry points reachable from inside the VPC
# only; an empty admin list lets nobody in (the bastion has no documented port).
VPC_FALLBACK_LISTS = frozenset({"user_cidrs"})


def expand_cidr_list(name: str, cidrs: Iterable[str]) -> tuple[Peer, ...]:
    """The peers a policy CIDR list stands for; the HCL reader expands
    Terraform variables with this too, so both agree by construction."""
    peers = tuple(cidr_peer(c, variable=name) for c in cidrs)
    if not peers and name in VPC_FALLBACK_LISTS:
        return (Peer("vpc", variable=name),)
    return peers


def cidr_peer(cidr: str, *, variable: str | None = None) -> Peer:
    kind: PeerKind = "cidr_ipv6" if is_ipv6(cidr) else "cidr_ipv4"
    return Peer(kind, cidr, variable=variable)


def icmp_for(ipv6: bool) -> Protocol:
    """ICMP towards an IPv6 peer is ICMPv6 (protocol 58) to AWS."""
    return "icmpv6" if ipv6 else "icmp"
