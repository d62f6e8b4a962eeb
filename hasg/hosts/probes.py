"""The probe space: which (source, destination, service) a site's host
firewalls are judged on, and what the policy expects of each.

Two checkers answer the same questions: the host audit (`hasg audit --from
nftables|firewalld`) asks an evaluator of the host's configuration, and
`hasg probe` asks the network with real packets. Both ask them here, so
"expected" means one thing:

- a connection from a source to a host is allowed inbound when one of the
  host's ingress rules covers the service and its peer holds the source's
  address (a role's hosts, the `vpc` networks, a CIDR), or when the service
  is ICMP every host accepts (`hasg.hosts.icmp`);
- with egress enforced (security groups always enforce it; on-premises
  `--egress enforce`), the source's egress rules must allow it too.

The services are every protocol and port the policy names anywhere (both
ends of a range, and the ports just outside it), and a few it never names,
chosen the same way on every run, to show that nothing else is open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from typing import Protocol as Interface

from hasg.core.blueprint import Blueprint, Direction
from hasg.core.networks import FAMILIES, Address, Family, family_of, parse_network
from hasg.core.ports import port_text
from hasg.core.protocols import ALL_PORTS, ALL_TRAFFIC, ICMP_PROTOCOLS, Protocol, has_ports
from hasg.hosts.icmp import ERROR_TYPES, ESSENTIAL_ICMP, ICMP_OF, is_error, is_essential
from hasg.hosts.inventory import Host, Inventory
from hasg.hosts.resolve import HostRule, HostRuleset

# What a probe must find: open, closed, or either (a connection the policy
# neither requires nor forbids: outgoing, where egress is not enforced).
Expect = Literal["open", "closed", "either"]

# Services no policy is likely to name, tried in this order; the first ones
# the policy does name are passed over, so the count stays what was asked.
UNNAMED_CANDIDATES: tuple[tuple[Protocol, int], ...] = (
    ("tcp", 3306),  # MySQL
    ("tcp", 8080),  # HTTP alternate
    ("tcp", 9639),  # beside Habitat's 9638
    ("udp", 53),  # DNS
    ("udp", 9631),  # Habitat's API port, in the protocol it does not use
    ("tcp", 2379),  # etcd
    ("tcp", 6379),  # Redis
    ("udp", 161),  # SNMP
    ("tcp", 8443),
    ("tcp", 1),
)
DEFAULT_UNNAMED = 5
# ICMP requests no host needs answered, which must stay closed: timestamp
# (RFC 792) and node information (RFC 4620) queries.
UNNAMED_ICMP: dict[Family, int] = {"ipv4": 13, "ipv6": 139}
# The ICMP type that stands for "any type" (echo request, RFC 792 and RFC 4443).
ECHO_REQUEST: dict[Protocol, int] = {"icmp": 8, "icmpv6": 128}
# A protocol without ports that a policy rarely names (GRE).
UNNAMED_OTHER_PROTOCOL = "47"
# Addresses for "the world": documentation ranges (RFC 5737, RFC 3849), which
# stand for any address a site does not know.
WORLD_SAMPLES: tuple[str, ...] = ("203.0.113.10", "198.51.100.10", "2001:db8::10")
LOOPBACK: tuple[str, ...] = ("127.0.0.1", "::1")


@dataclass(frozen=True, order=True)
class Service:
    """What a probe tries: a protocol and a port (ICMP: a type and a code;
    -1: any code, sent as 0; a protocol without ports: -1)."""

    protocol: Protocol
    port: int = ALL_PORTS
    code: int = ALL_PORTS

    def text(self) -> str:
        """`tcp/22`, `udp/9638`, `icmp/8`, `icmpv6/135`, `proto/47`."""
        if self.protocol in ICMP_PROTOCOLS:
            return port_text(self.protocol, self.port, self.code)
        return port_text(self.protocol, self.port, self.port)

    def fits(self, family: Family) -> bool:
        """ICMP belongs to IPv4, ICMPv6 to IPv6; everything else to both."""
        if self.protocol in ICMP_PROTOCOLS:
            return ICMP_OF[family] == self.protocol
        return True

    @property
    def sent_code(self) -> int:
        return 0 if self.code == ALL_PORTS else self.code


def covers(protocol: Protocol, from_port: int, to_port: int, service: Service) -> bool:
    """Whether a rule's traffic (protocol and ports, as a Rule holds them)
    lets `service` through."""
    if protocol == ALL_TRAFFIC:
        return True
    if protocol != service.protocol:
        return False
    if not has_ports(protocol):
        return True
    if protocol in ICMP_PROTOCOLS:
        return from_port in (ALL_PORTS, service.port) and to_port in (
            ALL_PORTS,
            service.sent_code,
        )
    return from_port <= service.port <= to_port


def named_services(blueprint: Blueprint) -> tuple[Service, ...]:
    """Every service the policy names anywhere (any role, either direction):
    each port, both ends of each range and the ports just outside it."""
    found: set[Service] = set()
    for group in blueprint:
        for rule in (*group.rules, *group.list_rules):
            found.update(_services_of(rule.protocol, rule.from_port, rule.to_port))
    return tuple(sorted(found))


def _services_of(protocol: Protocol, low: int, high: int) -> Iterator[Service]:
    if protocol == ALL_TRAFFIC:
        return
    if not has_ports(protocol):
        yield Service(protocol)
    elif protocol in ICMP_PROTOCOLS:
        # A rule of any ICMP type is tried with an echo request.
        yield Service(protocol, low if low != ALL_PORTS else ECHO_REQUEST[protocol], high)
    else:
        yield from (Service(protocol, p) for p in {low, high})
        if low != high:
            yield from (Service(protocol, p) for p in (low - 1, high + 1) if 0 <= p <= 65535)


def unnamed_services(blueprint: Blueprint, count: int = DEFAULT_UNNAMED) -> tuple[Service, ...]:
    """`count` TCP/UDP services no rule of the policy covers, the same on every run."""
    rules = [r for g in blueprint for r in (*g.rules, *g.list_rules)]
    chosen: list[Service] = []
    for protocol, port in UNNAMED_CANDIDATES:
        if len(chosen) == count:
            break
        service = Service(protocol, port)
        if not any(covers(r.protocol, r.from_port, r.to_port, service) for r in rules):
            chosen.append(service)
    return tuple(chosen)


def audit_services(blueprint: Blueprint, count: int = DEFAULT_UNNAMED) -> tuple[Service, ...]:
    """What a host audit evaluates: the named and unnamed services, the ICMP
    every host accepts and one it must not, and a protocol without ports."""
    icmp = [
        Service(ICMP_OF[family], icmp_type)
        for family in FAMILIES
        for icmp_type in (*ESSENTIAL_ICMP[family], *ERROR_TYPES[family], UNNAMED_ICMP[family])
    ]
    extra = [*icmp, Service(UNNAMED_OTHER_PROTOCOL)]
    return tuple(sorted({*named_services(blueprint), *unnamed_services(blueprint, count), *extra}))


# --------------------------------------------------------------------------- expectations


def allows(ruleset: HostRuleset, direction: Direction, peer: Address, service: Service) -> bool:
    """Whether the host's rules of one direction let `service` through with
    `peer` on the other side: one of them covers it and holds the peer's
    address, or it is ICMP every host accepts (an error about one of its
    connections, or an essential type)."""
    if service.code == ALL_PORTS and is_essential(service.protocol, service.port):
        return True
    if service.protocol in ICMP_PROTOCOLS and is_error(service.protocol, service.port):
        return True
    if peer.is_loopback:
        return True
    family = family_of(peer)
    return any(
        rule.family == family
        and covers(rule.protocol, rule.from_port, rule.to_port, service)
        and _holds(ruleset, rule, peer)
        for rule in ruleset.rules_for(direction)
    )


def _holds(ruleset: HostRuleset, rule: HostRule, address: Address) -> bool:
    return any(address in parse_network(c) for c in ruleset.peer_cidrs(rule))


def expect_between(
    source: HostRuleset,
    destination: HostRuleset,
    source_address: Address,
    destination_address: Address,
    service: Service,
    *,
    enforce_egress: bool,
) -> Expect:
    """A connection between two hosts of the site: open exactly when the
    destination's ingress allows it and, where egress is enforced, the
    source's egress too."""
    inbound = allows(destination, "ingress", source_address, service)
    outbound = not enforce_egress or allows(source, "egress", destination_address, service)
    return "open" if inbound and outbound else "closed"


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, order=True)
class Remote:
    """An address a probe comes from (inbound) or goes to (outbound), and
    what it stands for: an inventory host, or a sample of a network."""

    address: Address
    label: str
    host: Host | None = None


def remotes_of(
    inventory: Inventory,
    ruleset: HostRuleset,
    *,
    world: Sequence[str] = WORLD_SAMPLES,
    named: Iterable[Address] = (),
) -> tuple[Remote, ...]:
    """Who a host audit tries, in both families: every other host of the
    inventory, the edges of every network its rules name (`--network`, CIDR
    peers: the first and last address inside, and the ones just outside),
    addresses of the world that no rule's network holds, and the addresses
    the host's own configuration names (`Hints`)."""
    found: dict[Address, Remote] = {}

    def add(peer: Remote) -> None:
        found.setdefault(peer.address, peer)

    for host in inventory.hosts:
        if host != ruleset.host:
            for address in host.addresses:
                add(Remote(address, f"{host.role} {address}", host))
    networks = [*inventory.networks, *_rule_networks(ruleset)]
    for cidr in networks:
        for address, where in _edges(ipaddress.ip_network(cidr)):
            add(Remote(address, f"{where} {cidr}"))
    held = [ipaddress.ip_network(c) for c in networks]
    for text in world:
        address = ipaddress.ip_address(text)
        if not any(address in network for network in held):
            add(Remote(address, f"world {address}"))
    for address in named:
        add(Remote(address, f"named by the firewall {address}"))
    mine = set(ruleset.host.addresses)
    for text in LOOPBACK:
        # The host's own services talk over loopback; every host accepts it.
        add(Remote(ipaddress.ip_address(text), f"loopback {text}"))
    return tuple(sorted((p for p in found.values() if p.address not in mine), key=_peer_order))


def _peer_order(peer: Remote) -> tuple[int, Address | int, str]:
    return (peer.address.version, int(peer.address), peer.label)


def _rule_networks(ruleset: HostRuleset) -> Iterator[str]:
    """The networks (not single hosts) the host's rules name."""
    for rule in ruleset.rules:
        for cidr in ruleset.peer_cidrs(rule):
            if ipaddress.ip_network(cidr).num_addresses > 1:
                yield cidr


def beside(low: Address, high: Address) -> Iterator[Address]:
    """The edges of a run of addresses and the addresses just outside it."""
    yield low
    yield high
    if int(low) > 0:
        yield low - 1
    if int(high) < 2**low.max_prefixlen - 1:
        yield high + 1


def _edges(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> Iterable[tuple[Address, str]]:
    first, last = network.network_address, network.broadcast_address
    yield first, "first of"
    yield last, "last of"
    if int(first) > 0:
        yield first - 1, "just before"
    if int(last) < 2**network.max_prefixlen - 1:
        yield last + 1, "just after"


# --------------------------------------------------------------------------- answers


Observed = Literal["open", "closed", "undecided"]
# Where in a host's configuration something is, outermost first:
# (("table", "inet hasg"), ("chain", "input"), ("rule", "18")).
Place = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Answer:
    """What a host's firewall does with one connection, and what decided it."""

    outcome: Observed
    why: str
    where: Place = ()


@dataclass(frozen=True)
class Unreadable:
    """Something of a host's configuration its reader cannot evaluate: never
    "clean", whatever the connections say."""

    what: str
    where: Place = ()


@dataclass(frozen=True)
class Hints:
    """The values a host's configuration itself names: with the values just
    beside them, added to the probe space, so that a rule on a port or an
    address the policy never names is tried too."""

    services: frozenset[Service] = frozenset()
    addresses: frozenset[Address] = frozenset()


class HostView(Interface):
    """A reader's answer to the probe space: one host's firewall, read from
    its configuration (an `nft -j` dump, a firewalld directory)."""

    @property
    def unreadable(self) -> Sequence[Unreadable]: ...

    @property
    def assumed(self) -> str:
        """What the reader had to assume to answer ("" when nothing)."""
        ...

    def hints(self) -> Hints:
        """The ports, protocols, ICMP types and addresses the configuration names."""
        ...

    def answer(self, host: Address, peer: Address, service: Service, *, inbound: bool) -> Answer:
        """The connection peer -> host (inbound) or host -> peer (outbound)."""
        ...
