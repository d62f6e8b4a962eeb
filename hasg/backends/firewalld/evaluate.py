"""What a host's firewalld configuration does with a connection, as
firewalld's nftables backend lays it out (firewall/core/nftables.py; the
tests hold this to firewalld itself, run in a network namespace):

    filter_INPUT:  ct state established,related accept; iifname lo accept;
                   ct state invalid drop; then the zone of the packet
    the zone:      the stock policy allow-host-ipv6 (IPv6 neighbour and
                   router advertisements, redirects) first; then the zone's
                   rich rules that drop or reject; then what it accepts
                   (rich rules, <port>, <protocol>); then its target
    filter_OUTPUT: accepts (firewalld filters no egress without policies)

The zone of a packet is the zone binding its source, else the zone binding
the host's interface (the one zone that binds any), else the default zone
(firewalld.conf's DefaultZone, or `public`). Conntrack states come from
`hasg.hosts.conntrack`, as for nftables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from hasg.backends.firewalld.files import RichRule, Source, Traffic, Zone
from hasg.backends.firewalld.read import Config
from hasg.backends.firewalld.spelling import (
    ACCEPT_TARGET,
    DROP_TARGET,
    ICMP_PROTOCOL_OF,
    REJECT_TARGETS,
    icmp_type_of,
)
from hasg.core.networks import Address
from hasg.core.protocols import ALL_PORTS, canonical_protocol, protocol_number
from hasg.hosts.conntrack import ICMP, ICMPV6, first_state
from hasg.hosts.probes import Answer, Hints, Place, Service, Unreadable, beside

# firewalld's stock policy allow-host-ipv6 (/usr/lib/firewalld/policies):
# neighbour advertisement and solicitation, router advertisement, redirect.
_ALLOW_HOST_IPV6 = frozenset({136, 135, 134, 137})


@dataclass(frozen=True)
class FirewalldView:
    """A host's firewalld configuration, answering the probe space."""

    config: Config

    @property
    def unreadable(self) -> Sequence[Unreadable]:
        return self.config.problems

    @property
    def assumed(self) -> str:
        return self.config.assumed

    def hints(self) -> Hints:
        services: set[Service] = set()
        addresses: set[Address] = set()
        for zone in self.config.zones.values():
            for traffic in (*zone.allowed, *(r.traffic for r in zone.rules if r.traffic)):
                if traffic.low >= 0:
                    ends = (traffic.low - 1, traffic.low, traffic.high, traffic.high + 1)
                    services |= {
                        Service(p, port)
                        for p in ("tcp", "udp")
                        for port in ends
                        if 0 <= port <= 65535
                    }
            for source in (
                *zone.sources,
                *(s for r in zone.rules for s in (r.source, r.destination) if s),
            ):
                if source.address:
                    network = ipaddress.ip_network(source.address, strict=False)
                    addresses.update(beside(network.network_address, network.broadcast_address))
        for ipset in self.config.ipsets.values():
            for entry in ipset.entries:
                network = ipaddress.ip_network(entry)
                addresses.update(beside(network.network_address, network.broadcast_address))
        return Hints(frozenset(services), frozenset(addresses))

    def answer(self, host: Address, peer: Address, service: Service, *, inbound: bool) -> Answer:
        if not inbound:
            # filter_OUTPUT accepts, and the reply is established.
            return Answer("open", "firewalld filters no egress without policies")
        protocol = protocol_number(service.protocol)
        icmp_type = service.port if protocol in (ICMP, ICMPV6) else None
        state = first_state(protocol, icmp_type)
        if state in ("established", "related"):
            return Answer("open", f"accepted as {state} (filter_INPUT)")
        if peer.is_loopback:
            return Answer("open", "accepted from loopback (filter_INPUT)")
        if state == "invalid":
            return Answer("closed", "dropped as invalid (filter_INPUT)")
        if protocol == ICMPV6 and icmp_type in _ALLOW_HOST_IPV6:
            return Answer("open", "accepted by firewalld's stock policy allow-host-ipv6")
        zone = self._zone_of(peer)
        if isinstance(zone, Answer):
            return zone
        return _in_zone(self.config, zone, host, peer, service)

    def _zone_of(self, peer: Address) -> Zone | Answer:
        zones = self.config.zones
        for zone in zones.values():
            if any(_holds(self.config, s, peer) for s in zone.sources):
                return zone
        bound = [z for z in zones.values() if z.interfaces]
        if len(bound) > 1:
            names = ", ".join(z.name for z in bound)
            return Answer(
                "undecided", f"zones {names} bind interfaces: which one is the probe's is unknown"
            )
        if bound:
            return bound[0]
        default = zones.get(self.config.default_zone)
        if default is None:
            return Answer(
                "undecided",
                f"the default zone, {self.config.default_zone}, is not in the directory",
            )
        return default


def _in_zone(config: Config, zone: Zone, host: Address, peer: Address, service: Service) -> Answer:
    where: Place = (("zone", zone.name),)
    if zone.other:
        return Answer("undecided", f"zone {zone.name} holds {', '.join(zone.other)}", where)
    meets = [
        (n, r) for n, r in enumerate(zone.rules, 1) if _may_match(config, r, host, peer, service)
    ]
    for number, rule in meets:
        if rule.other:
            return Answer(
                "undecided",
                f"rule {number} holds {', '.join(rule.other)}",
                (*where, ("rule", str(number))),
            )
    deny = [n for n, r in meets if r.action in ("drop", "reject")]
    if deny:
        return Answer("closed", "dropped by a rule", (*where, ("rule", str(deny[0]))))
    allow = [n for n, r in meets if r.action == "accept"]
    if allow:
        return Answer("open", "accepted by a rule", (*where, ("rule", str(allow[0]))))
    if any(_covers(t, service, None) for t in zone.allowed):
        return Answer("open", "accepted by a port or protocol of the zone", where)
    if zone.target == DROP_TARGET or zone.target in REJECT_TARGETS:
        return Answer("closed", f"dropped by the zone's target {zone.target}", where)
    if zone.target == ACCEPT_TARGET:
        return Answer("open", "accepted by the zone's target ACCEPT", where)
    return Answer(
        "undecided", f"the zone's target {zone.target!r} is not one hasg evaluates", where
    )


def _may_match(
    config: Config, rule: RichRule, host: Address, peer: Address, service: Service
) -> bool:
    family = "ipv4" if peer.version == 4 else "ipv6"
    if rule.family is not None and rule.family != family:
        return False
    if rule.source is not None and not _holds(config, rule.source, peer):
        return False
    if rule.destination is not None and not _holds(config, rule.destination, host):
        return False
    return rule.traffic is None or _covers(rule.traffic, service, family)


def _holds(config: Config, source: Source, address: Address) -> bool:
    """Whether a source (an address, an ipset; maybe inverted) holds the address."""
    if source.mac:
        return False  # a MAC address says nothing of an IP address: never matched here
    if source.ipset:
        ipset = config.ipsets.get(source.ipset)
        entries = ipset.entries if ipset is not None else ()
        held = any(address in ipaddress.ip_network(e) for e in entries)
    else:
        try:
            network = ipaddress.ip_network(source.address, strict=False)
        except ValueError:
            return False
        held = network.version == address.version and address in network
    return held != source.invert


def _covers(traffic: Traffic, service: Service, family: str | None) -> bool:
    if traffic.icmp_name:
        families = [family] if family else ["ipv4", "ipv6"]
        return any(
            service.protocol == ("icmp" if f == "ipv4" else "icmpv6")
            and icmp_type_of(f, traffic.icmp_name) == service.port  # type: ignore[arg-type]
            for f in families
        )
    value = traffic.protocol
    try:
        protocol = "icmpv6" if value == ICMP_PROTOCOL_OF["ipv6"] else canonical_protocol(value)
    except ValueError:
        return False
    if protocol != service.protocol:
        return False
    if traffic.low >= 0:
        return service.port != ALL_PORTS and traffic.low <= service.port <= traffic.high
    return True
