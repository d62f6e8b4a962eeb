"""The probe set: which connections `hasg probe` tries, and what the policy
expects of each.

Between every ordered pair of distinct hosts of the inventory (the bastion
included), in every address family both have, every TCP and UDP service
the policy names anywhere and a few it never names (`hasg.hosts.probes`):
expected open exactly when the destination's ingress, and where egress is
enforced the source's egress too, let it through (`expect_between`, the
one definition the host audit shares).

A probe sends TCP and UDP; what the policy names in other protocols (ICMP,
a protocol without ports) is listed as not probed. A role with no host is
listed as not probed too: nothing is tried from or to it, and nothing about
it passes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hasg.core.blueprint import Blueprint
from hasg.core.networks import FAMILIES, Address
from hasg.errors import UsageError
from hasg.hosts.inventory import Host, Inventory
from hasg.hosts.probes import (
    DEFAULT_UNNAMED,
    UNNAMED_CANDIDATES,
    Expect,
    Service,
    expect_between,
    named_services,
    unnamed_services,
)
from hasg.hosts.resolve import host_rulesets

# What a probe can send: a TCP connection, or a UDP datagram and its echo.
PROBED_PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class PlannedProbe:
    """One connection to try, and what the policy expects of it."""

    ident: int
    source: Host
    source_address: Address
    destination: Host
    destination_address: Address
    service: Service
    expected: Expect


@dataclass(frozen=True)
class ProbePlan:
    cluster: str
    hosts: tuple[Host, ...]
    named: tuple[Service, ...]  # the TCP and UDP services the policy names
    unnamed: tuple[Service, ...]  # and those it never names
    not_probed: tuple[Service, ...]  # what the policy names that a probe cannot send
    probes: tuple[PlannedProbe, ...]
    absent_roles: tuple[str, ...]  # roles of the policy without a host
    managed_roles: frozenset[str]  # of which these run as managed services
    enforce_egress: bool

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(sorted({*self.named, *self.unnamed}))

    def listeners(self, host: Host) -> Iterator[tuple[Service, Address]]:
        """What the agent on `host` listens on: every service, on each of its addresses."""
        for service in self.services:
            for address in host.addresses:
                yield service, address


def plan_probes(
    blueprint: Blueprint,
    inventory: Inventory,
    *,
    enforce_egress: bool,
    ssh_port: int | None = None,
    unnamed: int = DEFAULT_UNNAMED,
    managed_roles: frozenset[str] = frozenset(),
) -> ProbePlan:
    """The probes of a site. `ssh_port`: the policy's (a site that listens
    for SSH elsewhere is refused, as by every host target)."""
    if not 0 <= unnamed <= len(UNNAMED_CANDIDATES):
        raise UsageError(
            f"the unnamed ports are 0 to {len(UNNAMED_CANDIDATES)} ports, not {unnamed}"
        )
    rulesets = {
        r.host: r
        for r in host_rulesets(
            blueprint, inventory, egress=enforce_egress, ssh_port=ssh_port, absent_roles=True
        )
    }
    named = named_services(blueprint)
    sendable = tuple(s for s in named if s.protocol in PROBED_PROTOCOLS and s.port > 0)
    extra = unnamed_services(blueprint, unnamed)
    services = sorted({*sendable, *extra})
    hosts = inventory.hosts
    probes: list[PlannedProbe] = []
    for source, destination in _pairs(hosts):
        for family in FAMILIES:
            source_address = source.address(family)
            destination_address = destination.address(family)
            if source_address is None or destination_address is None:
                continue
            for service in services:
                expected = expect_between(
                    rulesets[source],
                    rulesets[destination],
                    source_address,
                    destination_address,
                    service,
                    enforce_egress=enforce_egress,
                )
                probes.append(
                    PlannedProbe(
                        len(probes),
                        source,
                        source_address,
                        destination,
                        destination_address,
                        service,
                        expected,
                    )
                )
    return ProbePlan(
        blueprint.cluster,
        hosts,
        sendable,
        extra,
        tuple(s for s in named if s not in sendable),
        tuple(probes),
        tuple(r for r in blueprint.roles if not inventory.hosts_of(r)),
        managed_roles,
        enforce_egress,
    )


def _pairs(hosts: Sequence[Host]) -> Iterator[tuple[Host, Host]]:
    for source in hosts:
        for destination in hosts:
            if source != destination:
                yield source, destination
