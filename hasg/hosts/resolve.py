"""From a Blueprint and an inventory to the rules of each host's own firewall.

A security group names its peers by group; a host firewall can only name
addresses. This transform resolves every peer of a role's rules:

- a role (`group` peer) -> the addresses of that role's hosts, kept as a
  named set per role and family (`role_postgresql_ipv4`), so that a backend
  writes one set per role and the rules read like the policy;
- `vpc` -> the inventory's networks (`--network`), a set per family
  (`vpc_ipv4`); a policy that needs them without them is refused;
- a CIDR -> itself (policy CIDR lists were expanded by the compiler);
- a prefix list -> refused: it lives in AWS, a host cannot resolve it.

"Ingress of the host's role" is the role's group's ingress rules, each peer
resolved as above. On AWS a connection also needs the source's egress; a
host firewall whose egress stays open (the default, as firewalld leaves it)
leaves that half to the source's own rules. With egress enforced, the role's
egress rules are resolved the same way, so the two halves together mean what
the two security groups mean.

Only core modules are imported here: backends speak `HostRuleset`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hasg.core.blueprint import Blueprint, Direction, Rule, RuleKey, SecurityGroup
from hasg.core.networks import FAMILIES, Family, canonical_cidr, exposure, family_of, union

# The one way a CIDR becomes a peer; firewalld and nftables import it from here.
from hasg.core.peers import cidr_peer as cidr_peer
from hasg.core.protocols import Protocol
from hasg.core.tags import ROLE_TAG
from hasg.core.transforms import merge_rules
from hasg.errors import InventoryError, Problem, UsageError
from hasg.hosts.inventory import Host, Inventory

VPC_SET = "vpc"


@dataclass(frozen=True, order=True)
class AddressSet:
    """A named set of one family: a role's host addresses, or the `vpc` networks.

    `elements` are canonical CIDRs (`198.18.0.10/32` for a host), sorted.
    """

    name: str
    family: Family
    elements: tuple[str, ...]

    @property
    def hosts_only(self) -> bool:
        """Only single addresses: nft needs no `flags interval`, firewalld a hash:ip."""
        return all(as_address(e) != e for e in self.elements)


@dataclass(frozen=True, order=True)
class HostRule:
    """One rule of one host's firewall, for one address family.

    `peer` is the name of an `AddressSet` of the ruleset, or a CIDR.
    """

    direction: Direction
    family: Family
    protocol: Protocol
    from_port: int
    to_port: int
    peer: str
    description: str = field(default="", compare=False)

    @property
    def names_set(self) -> bool:
        return "/" not in self.peer


@dataclass(frozen=True)
class HostRuleset:
    """Everything one host's firewall holds: its rules and the sets they name."""

    cluster: str
    host: Host
    rules: tuple[HostRule, ...]
    sets: tuple[AddressSet, ...]

    def set_named(self, name: str) -> AddressSet:
        return next(s for s in self.sets if s.name == name)

    def rules_for(self, direction: Direction) -> tuple[HostRule, ...]:
        return tuple(r for r in self.rules if r.direction == direction)

    def peer_cidrs(self, rule: HostRule) -> tuple[str, ...]:
        """The networks a rule's peer holds: a set's elements, or its CIDR."""
        return self.set_named(rule.peer).elements if rule.names_set else (rule.peer,)


def as_cidr(text: str) -> str:
    """An address (one host) or a network, as a canonical CIDR: `198.18.0.5/32`."""
    text = text.strip()
    return canonical_cidr(text if "/" in text else f"{text}/{128 if ':' in text else 32}")


def as_address(cidr: str) -> str:
    """A one-host CIDR as its address (`198.18.0.5`); a network stays itself."""
    network = ipaddress.ip_network(cidr)
    return str(network.network_address) if network.num_addresses == 1 else cidr


def role_set_name(role: str, family: Family) -> str:
    """`role_` keeps a role named `vpc` apart from the `vpc` networks' set."""
    return f"role_{role}_{family}"


def host_rulesets(
    blueprint: Blueprint,
    inventory: Inventory,
    *,
    egress: bool = False,
    ssh_port: int | None = None,
    absent_roles: bool = False,
) -> tuple[HostRuleset, ...]:
    """One ruleset per host of the inventory, sorted by host.

    `egress`: resolve the egress rules too (`--egress enforce`).
    `absent_roles`: a role with no hosts stands for no address, and the rules
    that name it match nobody, instead of being refused. A firewall written
    so would lack rules the site may need later; `hasg probe`, which only
    asks what the hosts that exist may do, reports such a role as not probed.
    `ssh_port`: the policy's SSH port; when the inventory names another one
    (config.toml's `ssh_port`), the operator would be locked out, so it is
    refused.
    """
    if ssh_port is not None and inventory.ssh_port is not None and ssh_port != inventory.ssh_port:
        raise InventoryError(
            [
                inventory.problem(
                    "ssh_port",
                    f"the hosts listen for SSH on {inventory.ssh_port}, but the policy opens "
                    f"{ssh_port}: set `ssh_port: {inventory.ssh_port}` in the policy file "
                    f"(`hasg init --ssh-port {inventory.ssh_port}` writes one)",
                )
            ]
        )
    problems = [
        inventory.problem(
            role, f"role {role} is not a role of the policy ({', '.join(blueprint.roles)})"
        )
        for role in inventory.roles
        if role not in blueprint.roles
    ]
    if problems:
        raise InventoryError(problems)
    resolver = _Resolver(blueprint, inventory, absent_roles)
    directions: tuple[Direction, ...] = ("ingress", "egress") if egress else ("ingress",)
    rulesets = []
    for host in inventory.hosts:
        group = blueprint[host.role]
        rules = [r for d in directions for r in resolver.rules(group, group.rules_for(d))]
        names = {r.peer for r in rules if r.names_set}
        sets = tuple(sorted(s for s in resolver.sets if s.name in names))
        rulesets.append(HostRuleset(blueprint.cluster, host, tuple(sorted(set(rules))), sets))
    problems = resolver.problems()
    if problems:
        raise InventoryError(problems)
    return tuple(sorted(rulesets, key=lambda r: r.host))


@dataclass
class _Resolver:
    blueprint: Blueprint
    inventory: Inventory
    absent_roles: bool = False
    sets: set[AddressSet] = field(default_factory=set)
    refused: list[Problem] = field(default_factory=list)
    # What the inventory lacks (a role's hosts, the `vpc` networks), by key:
    # one problem each, naming the rules that need it.
    lacking: dict[str, _Lacking] = field(default_factory=dict)

    def problems(self) -> list[Problem]:
        """One problem per thing the inventory lacks, however many rules need
        it (a missing --bastion is one line, not one per rule), then the rest."""
        found = [self.inventory.problem(key, str(lack)) for key, lack in self.lacking.items()]
        return found + [p for p in self.refused if p not in found]

    def rules(self, group: SecurityGroup, rules: Iterable[Rule]) -> Iterable[HostRule]:
        for rule in rules:
            for family, peer in self._peers(group.role, rule):
                yield HostRule(
                    rule.direction,
                    family,
                    rule.protocol,
                    rule.from_port,
                    rule.to_port,
                    peer,
                    rule.description,
                )

    def _peers(self, role: str, rule: Rule) -> Iterable[tuple[Family, str]]:
        peer = rule.peer
        if peer.is_network:
            yield family_of(peer.value), peer.value
        elif peer.is_group:
            yield from self._role(role, rule, peer.value)
        elif peer.is_vpc:
            yield from self._vpc(role, rule)
        else:
            raise UsageError(
                f"{role} {rule}: a host firewall cannot resolve {peer.kind} {peer.value}; "
                "give the policy CIDRs instead"
            )

    def _role(self, owner: str, rule: Rule, role: str) -> Iterable[tuple[Family, str]]:
        if role not in self.blueprint.roles:
            raise UsageError(f"{owner} {rule}: group {role} is not a role of the policy")
        found = False
        for family in FAMILIES:
            addresses = self.inventory.addresses_of(role, family)
            if addresses:
                found = True
                name = role_set_name(role, family)
                bits = addresses[0].max_prefixlen
                self.sets.add(AddressSet(name, family, tuple(f"{a}/{bits}" for a in addresses)))
                yield family, name
        if not found and not self.absent_roles:
            why = (
                "it runs outside (external database)"
                if role in self.inventory.external_roles
                else "list its hosts" + (" or give --bastion" if role == "bastion" else "")
            )
            lack = _Lacking(f"role {role} has no hosts, but ", ("needs them", "need them"), why)
            self._lacks(role, lack, owner, rule)

    def _vpc(self, owner: str, rule: Rule) -> Iterable[tuple[Family, str]]:
        networks = self.inventory.networks
        if not networks:
            fix = (
                "give --network CIDR (or `networks:` in the inventory) for the networks it "
                "stands for"
            )
            lack = _Lacking("", ("names the vpc peer", "name the vpc peer"), fix)
            self._lacks("networks", lack, owner, rule)
        # `vpc` is what the site says it is: judged by the one world guard,
        # as a CIDR written in the policy would be.
        too_open = exposure(networks, (rule,), public=rule.public)
        if too_open is not None:
            flows = f" (flow {', '.join(rule.origins)})" if rule.origins else ""
            self._refuse(
                "networks",
                f"{owner}'s rule `{rule}`{flows} {too_open.message('vpc', networks)}",
            )
        for family in FAMILIES:
            # The union, as the fewest networks: a set's elements never overlap
            # (nft refuses overlapping intervals, firewalld overlapping entries).
            cidrs = tuple(str(n) for n in union(networks, family))
            if cidrs:
                name = f"{VPC_SET}_{family}"
                self.sets.add(AddressSet(name, family, cidrs))
                yield family, name

    def _refuse(self, key: str, message: str) -> None:
        problem = self.inventory.problem(key, message)
        if problem not in self.refused:
            self.refused.append(problem)

    def _lacks(self, key: str, lack: _Lacking, owner: str, rule: Rule) -> None:
        needers = self.lacking.setdefault(key, lack).needers
        if (owner, rule) not in needers:
            needers.append((owner, rule))


@dataclass
class _Lacking:
    """Something the inventory lacks and the rules that need it, said once:
    `role bastion has no hosts, but automate's rule `...` needs them; ...`, or
    `..., but 18 rules of automate, chef_server (the first: ...) need them; ...`."""

    prefix: str
    verbs: tuple[str, str]  # for one rule, for several
    fix: str
    needers: list[tuple[str, Rule]] = field(default_factory=list)

    def __str__(self) -> str:
        owner, rule = self.needers[0]
        if len(self.needers) == 1:
            return f"{self.prefix}{owner}'s rule `{rule}` {self.verbs[0]}; {self.fix}"
        owners = ", ".join(dict.fromkeys(o for o, _ in self.needers))
        return (
            f"{self.prefix}{len(self.needers)} rules of {owners} (the first: {owner}'s "
            f"`{rule}`) {self.verbs[1]}; {self.fix}"
        )


# --------------------------------------------------------------------------- comparison form


def as_blueprint(cluster: str, rulesets: Sequence[HostRuleset]) -> Blueprint:
    """Host rulesets as a Blueprint, one group per host (named by its address),
    every peer expanded to the CIDRs it holds.

    What backends read back (nft -j, firewalld XML) comes out in this form,
    so "the nftables and firewalld files agree" and "this host has drifted"
    are set comparisons of CIDR rules, whatever the sets were called.
    """
    return Blueprint(cluster, tuple(host_group(r.host, _expanded(r)) for r in rulesets))


def host_group(host: Host, rules: Iterable[Rule]) -> SecurityGroup:
    # Two flows may expand to one address on one port (a CIDR in two lists):
    # one rule then, with both reasons, as the compiler merges them for AWS.
    same_key: dict[RuleKey, list[Rule]] = {}
    for rule in rules:
        same_key.setdefault(rule.key, []).append(rule)
    merged = tuple(merge_rules(same) for same in same_key.values())
    return SecurityGroup(
        host.name, host.name, f"host firewall of {host.name}", {ROLE_TAG: host.role}, merged
    )


def cidr_rule(rule: HostRule, cidr: str) -> Rule:
    return Rule(
        rule.direction,
        rule.protocol,
        rule.from_port,
        rule.to_port,
        cidr_peer(cidr),
        rule.description,
    )


def _expanded(ruleset: HostRuleset) -> Iterable[Rule]:
    for rule in ruleset.rules:
        for cidr in ruleset.peer_cidrs(rule):
            yield cidr_rule(rule, cidr)
