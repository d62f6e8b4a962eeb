"""Proof with real packets: every host of the Chef Automate HA matrix in its own
network namespace, its generated ruleset loaded with the real `nft`, a
listener on every port the policy names, and probes from every host to every
other host, over IPv4 and IPv6.

What each probe should do is worked out here from the Blueprint's own rules
(`Rule.covers` and the peers' meaning), not from the host transform or the
nftables emitter that are under test; and every role-to-role flow that
`hasg.checks.reachability` finds in the Blueprint must connect.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hasg
from hasg.backends import nftables
from hasg.backends.nftables import write
from hasg.checks.audit import AuditReport, audit_host
from hasg.checks.reachability import reachability
from hasg.core.blueprint import Blueprint, Direction, Peer
from hasg.core.networks import Address
from hasg.hosts.inventory import Host, Inventory
from hasg.hosts.probes import audit_services
from hasg.hosts.resolve import HostRuleset, host_rulesets
from tests.hosts.lab import NEVER_NAMED, Lab, all_probes, policy_ports, require_lab

FAMILIES = {"ipv4": 4, "ipv6": 6}
# A probe dropped on the wire times out; one refused by the prober's own output chain: EPERM.
BLOCKED = ("timeout", "dropped")


def holds(peer: Peer, host: Host, address: Address, inventory: Inventory) -> bool:
    """Whether a Blueprint peer stands for this host's address, by meaning."""
    if peer.kind == "group":
        return peer.value == host.role
    networks = inventory.networks if peer.kind == "vpc" else (peer.value,)
    return any(address in ipaddress.ip_network(n) for n in networks)


def side_allows(
    blueprint: Blueprint,
    inventory: Inventory,
    owner: Host,
    direction: Direction,
    other: Host,
    other_address: Address,
    protocol: str,
    port: int,
) -> bool:
    return any(
        rule.covers(protocol, port) and holds(rule.peer, other, other_address, inventory)
        for rule in blueprint[owner.role].rules_for(direction)
    )


def expected_open(
    blueprint: Blueprint,
    inventory: Inventory,
    source: Host,
    destination: Host,
    family: str,
    protocol: str,
    port: int,
    *,
    enforce_egress: bool,
) -> bool:
    """The destination's ingress admits the source; enforced, the source's egress too."""
    version = FAMILIES[family]
    source_address = next(a for a in source.addresses if a.version == version)
    destination_address = next(a for a in destination.addresses if a.version == version)
    inbound = side_allows(
        blueprint, inventory, destination, "ingress", source, source_address, protocol, port
    )
    outbound = not enforce_egress or side_allows(
        blueprint, inventory, source, "egress", destination, destination_address, protocol, port
    )
    return inbound and outbound


@pytest.fixture(scope="module")
def lab(lab_inventory: Inventory, chef_blueprint: Blueprint) -> Iterator[Lab]:
    require_lab()
    ports = policy_ports(chef_blueprint) | set(NEVER_NAMED)
    with Lab(lab_inventory.hosts) as built:
        built.serve(
            (p for proto, p in ports if proto == "tcp"), (p for proto, p in ports if proto == "udp")
        )
        yield built


def load_all(
    lab: Lab, rulesets: tuple[HostRuleset, ...], directory: Path, *, enforce_egress: bool
) -> None:
    for name, text in nftables.emit(rulesets, enforce_egress=enforce_egress).items():
        (directory / name).write_text(text, encoding="utf-8")
    for ruleset in rulesets:
        lab.load(ruleset.host, directory / write.file_name(ruleset))


@pytest.mark.parametrize("enforce_egress", [False, True], ids=["egress-open", "egress-enforced"])
def test_every_required_flow_connects_and_nothing_else_does(
    lab: Lab,
    lab_inventory: Inventory,
    chef_blueprint: Blueprint,
    tmp_path: Path,
    enforce_egress: bool,
) -> None:
    rulesets = host_rulesets(chef_blueprint, lab_inventory, egress=enforce_egress)
    load_all(lab, rulesets, tmp_path, enforce_egress=enforce_egress)
    ports = policy_ports(chef_blueprint) | set(NEVER_NAMED)
    probes = all_probes(lab_inventory, ports)

    started = time.monotonic()
    outcomes = lab.probe(probes)
    elapsed = time.monotonic() - started

    by_name = {h.name: h for h in lab_inventory.hosts}
    by_address = {str(a): h for h in lab_inventory.hosts for a in h.addresses}
    wrong = []
    for probe in probes:
        source_name, protocol, address, port = probe
        family = "ipv6" if ":" in address else "ipv4"
        wanted = expected_open(
            chef_blueprint,
            lab_inventory,
            by_name[source_name],
            by_address[address],
            family,
            protocol,
            port,
            enforce_egress=enforce_egress,
        )
        got = outcomes[probe]
        assert got in ("open", "refused", *BLOCKED), f"{probe}: {got}"
        if wanted != (got not in BLOCKED):
            wrong.append(f"{source_name} -> {address} {protocol}/{port}: {got}, wanted "
                         f"{'open' if wanted else 'blocked'}")  # fmt: skip
    assert not wrong, "\n".join(wrong)

    # Every role-to-role flow of the matrix, for every host pair and both families.
    reach = reachability(chef_blueprint)
    required = [
        (s, d, proto, port)
        for (s, d), allowed in reach.direct.items()
        for proto, port in ports
        if any(p == proto and low <= port <= high for p, low, high in allowed.intervals)
    ]
    assert len({(s, d) for s, d, _, _ in required}) >= 10  # the Chef matrix, not a sliver of it
    for source_role, destination_role, protocol, port in required:
        for source in lab_inventory.hosts_of(source_role):
            for destination in lab_inventory.hosts_of(destination_role):
                if source == destination:
                    continue
                for address in destination.addresses:
                    assert outcomes[(source.name, protocol, str(address), port)] == "open"

    blocked = sum(o in BLOCKED for o in outcomes.values())
    assert blocked and len(probes) - blocked, "both outcomes must occur"
    assert all(outcomes[p] in BLOCKED for p in probes if (p[1], p[3]) in NEVER_NAMED)
    assert elapsed < 60


def audit_of(
    lab: Lab, ruleset: HostRuleset, inventory: Inventory, blueprint: Blueprint
) -> AuditReport:
    """The host audit of what the kernel holds (`nft -j list ruleset`)."""
    (expected,) = [
        r for r in host_rulesets(blueprint, inventory, egress=True) if r.host == ruleset.host
    ]
    view = nftables.read_host(lab.nft_json(ruleset.host))
    services = audit_services(blueprint)
    return audit_host(expected, inventory, view, services, enforce_egress=False)


def test_audit_reads_the_kernels_ruleset_clean_then_catches_hand_edits(
    lab: Lab, lab_inventory: Inventory, chef_blueprint: Blueprint, tmp_path: Path
) -> None:
    rulesets = host_rulesets(chef_blueprint, lab_inventory)
    load_all(lab, rulesets, tmp_path, enforce_egress=False)
    for ruleset in rulesets:
        audit = audit_of(lab, ruleset, lab_inventory, chef_blueprint)
        assert audit.ok, audit.to_text()
        assert audit.exit_code == hasg.ExitCode.OK

    postgresql = next(r for r in rulesets if r.host.role == "postgresql")
    host = postgresql.host
    lab.exec(host, "nft", "add rule inet hasg input ip saddr 198.18.0.5 tcp dport 3306 accept")
    lab.exec(host, "nft", "add element inet hasg role_automate_ipv4 { 198.18.0.99 }")
    text = audit_of(lab, postgresql, lab_inventory, chef_blueprint).to_text()
    assert "tcp/3306 from bastion 198.18.0.5 open, which the policy does not allow" in text
    assert re.search(r"tcp/5432 .*from named by the firewall 198\.18\.0\.99 open", text), text

    lab.load(host, tmp_path / write.file_name(postgresql))  # back to generated
    lab.exec(host, "nft", "flush chain inet hasg input")
    lab.exec(host, "nft", "add rule inet hasg input ct state established,related accept")
    audit = audit_of(lab, postgresql, lab_inventory, chef_blueprint)
    text = audit.to_text()
    assert "from loopback 127.0.0.1 blocked" in text
    assert "tcp/5432 tcp/6432 tcp/7432 tcp/9631" in text and "from automate 198.18.0.10" in text

    lab.load(host, tmp_path / write.file_name(postgresql))
    # An accept hidden in a chain of its own, reached by a jump, and the
    # chain's policy opened: both open what the policy closes.
    lab.exec(host, "nft", "add chain inet hasg sneaky")
    lab.exec(host, "nft", "add rule inet hasg sneaky accept")
    lab.exec(host, "nft", "add rule inet hasg input tcp dport 3306 jump sneaky")
    audit = audit_of(lab, postgresql, lab_inventory, chef_blueprint)
    assert "tcp/3306 from " in audit.to_text() and not audit.ok
    lab.exec(host, "nft", "chain inet hasg input { policy accept ; }")
    audit = audit_of(lab, postgresql, lab_inventory, chef_blueprint)
    assert "accepted by the chain's policy (table inet hasg, chain input)" in audit.to_text()
    lab.load(host, tmp_path / write.file_name(postgresql))
