"""A host's rules as hasg's nftables table, built from the grammar's nodes
(`grammar.py`) into the structures the reader parses `nft -j` into
(`ruleset.py`), and rendered as the text `nft -f` reads.

So the writer and the reader share one representation: a table hasg
writes, loaded into a kernel and dumped with `nft -j` (or `-n -j`, `-a
-j`), parses back to exactly the `Table` this module built
(tests/hosts/test_nftables.py holds it to that).

The file replaces only `table inet hasg`:

    table inet hasg {}       # create it if absent (a no-op if present) ...
    delete table inet hasg   # ... so that this never fails, then drop it
    table inet hasg { ... }  # and write it whole, in the same transaction

`nft -f` applies a file as one transaction, so the host never runs without
the table, and no other table is flushed. The input chain drops by default;
it accepts established and related traffic and loopback, drops invalid
packets, accepts the ICMP every host needs (`hasg.hosts.icmp`), then
exactly the host's rules. Egress stays open
unless enforced; enforced, an output chain does the same for the egress
rules. What other tables do is the audit's to judge (docs/on-prem.md).

Rule descriptions become rule comments. nft refuses a comment over 128
bytes (NFT_USERDATA_MAXLEN) and has no escape for `"`, so a comment is the
description with `"` as `'` and control characters as spaces, cut to 128
bytes with "..." at the end.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from hasg.backends.nftables.grammar import (
    AnonymousSet,
    Ct,
    Flags,
    Match,
    Meta,
    Payload,
    Range,
    Rule,
    SetRef,
    Value,
    Verdict,
    accept_rule,
    value_text,
)
from hasg.backends.nftables.ruleset import Chain, NamedSet, Table
from hasg.core.blueprint import Direction
from hasg.core.networks import Family
from hasg.core.protocols import ALL_PORTS, ALL_TRAFFIC, ICMP_PROTOCOLS, protocol_number
from hasg.hosts.icmp import ESSENTIAL_ICMP, ICMP_OF
from hasg.hosts.resolve import AddressSet, HostRule, HostRuleset

FAMILY = "inet"
TABLE = "hasg"
COMMENT_LIMIT = 128  # bytes; nft: "comment too long, 128 characters maximum allowed"
CHAINS: dict[Direction, str] = {"ingress": "input", "egress": "output"}
_PEER_FIELD: dict[Direction, str] = {"ingress": "saddr", "egress": "daddr"}
_INTERFACE: dict[Direction, str] = {"ingress": "iif", "egress": "oif"}
_PAYLOAD_FAMILY: dict[Family, str] = {"ipv4": "ip", "ipv6": "ip6"}
_ADDRESS_TYPE: dict[Family, str] = {"ipv4": "ipv4_addr", "ipv6": "ipv6_addr"}
# nft's `priority filter` (nft(8), "CHAINS": the standard priority names).
FILTER_PRIORITY = 0


def file_name(ruleset: HostRuleset) -> str:
    return f"{ruleset.host.name}.nft"


def emit(rulesets: Sequence[HostRuleset], *, enforce_egress: bool = False) -> dict[str, str]:
    """`{file name: text}`: one complete ruleset per host, byte-for-byte deterministic."""
    return {file_name(r): ruleset_text(r, enforce_egress=enforce_egress) for r in rulesets}


def directions(enforce_egress: bool) -> tuple[Direction, ...]:
    return ("ingress", "egress") if enforce_egress else ("ingress",)


def host_table(ruleset: HostRuleset, *, enforce_egress: bool = False) -> Table:
    """The table hasg writes for one host, as the reader would parse it."""
    written = directions(enforce_egress)
    used = {r.peer for r in ruleset.rules if r.names_set and r.direction in written}
    sets = {s.name: _named_set(s) for s in ruleset.sets if s.name in used}
    chains = {
        CHAINS[d]: Chain(
            CHAINS[d],
            (*_fixed_rules(d), *(host_rule(r) for r in ruleset.rules_for(d))),
            hook=CHAINS[d],
            type="filter",
            priority=FILTER_PRIORITY,
            policy="drop",
        )
        for d in written
    }
    return Table(FAMILY, TABLE, chains, sets)


def _named_set(address_set: AddressSet) -> NamedSet:
    return NamedSet(
        address_set.name,
        _ADDRESS_TYPE[address_set.family],
        frozenset() if address_set.hosts_only else frozenset({"interval"}),
        tuple(address_value(e) for e in address_set.elements),
    )


def address_value(cidr: str) -> Value:
    """A CIDR as nft holds it: one host is an address, a network a prefix."""
    network = ipaddress.ip_network(cidr)
    return network.network_address if network.num_addresses == 1 else network


def _fixed_rules(direction: Direction) -> list[Rule]:
    """What every chain does before the host's rules, in firewalld's order
    (its filter_INPUT): established and related traffic (ICMP errors about a
    connection among it) in, loopback in, invalid packets out, then the ICMP
    every host accepts (`hasg.hosts.icmp`)."""
    return [
        accept_rule([Match("in", Ct("state"), Flags(frozenset({"established", "related"})))]),
        accept_rule([Match("==", Meta(_INTERFACE[direction]), "lo")]),
        Rule((Match("in", Ct("state"), Flags(frozenset({"invalid"}))), Verdict("drop"))),
        *(
            accept_rule([Match("==", Payload(ICMP_OF[family], "type"), _one_or_set(types))])
            for family, types in ESSENTIAL_ICMP.items()
        ),
    ]


def _one_or_set(values: tuple[int, ...]) -> Value:
    return values[0] if len(values) == 1 else AnonymousSet(values)


def host_rule(rule: HostRule) -> Rule:
    """One rule: the peer, then the protocol and ports, then accept."""
    payload = Payload(_PAYLOAD_FAMILY[rule.family], _PEER_FIELD[rule.direction])
    peer: Value = SetRef(rule.peer) if rule.names_set else address_value(rule.peer)
    matches = [Match("==", payload, peer), *_traffic(rule)]
    return accept_rule(matches, comment_text(rule.description) if rule.description else "")


def _traffic(rule: HostRule) -> Iterable[Match]:
    protocol = rule.protocol
    if protocol == ALL_TRAFFIC:
        return
    if protocol in ("tcp", "udp"):
        ports: Value = (
            rule.from_port
            if rule.from_port == rule.to_port
            else Range(rule.from_port, rule.to_port)
        )
        yield Match("==", Payload(protocol, "dport"), ports)
    elif protocol in ICMP_PROTOCOLS:
        if rule.from_port == ALL_PORTS:
            yield Match("==", Meta("l4proto"), protocol_number(protocol))
        else:
            yield Match("==", Payload(protocol, "type"), rule.from_port)
            if rule.to_port != ALL_PORTS:
                yield Match("==", Payload(protocol, "code"), rule.to_port)
    else:
        yield Match("==", Meta("l4proto"), protocol_number(protocol))


def comment_text(description: str) -> str:
    """A description as nft takes it in a comment (see the module's docstring)."""
    text = "".join("'" if c == '"' else " " if not c.isprintable() else c for c in description)
    if len(text.encode()) <= COMMENT_LIMIT:
        return text
    cut = text.encode()[: COMMENT_LIMIT - 3].decode(errors="ignore")
    return cut + "..."


# --------------------------------------------------------------------------- text


def ruleset_text(ruleset: HostRuleset, *, enforce_egress: bool = False) -> str:
    host = ruleset.host
    lines = [
        "#!/usr/sbin/nft -f",
        f"# hasg host firewall of {host.name} ({', '.join(map(str, host.addresses))}): role "
        f"{host.role}, cluster {ruleset.cluster}.",
        "# Generated from the policy: change the policy, not this file. Replaces only",
        f"# table {FAMILY} {TABLE}; egress {'enforced' if enforce_egress else 'open'}.",
        "",
        f"table {FAMILY} {TABLE} {{}}",
        f"delete table {FAMILY} {TABLE}",
        "",
        *table_lines(host_table(ruleset, enforce_egress=enforce_egress)),
    ]
    return "\n".join(lines) + "\n"


def table_lines(table: Table) -> list[str]:
    """A table as `nft -f` reads it: its sets, then its chains."""
    lines = [f"table {table.family} {table.name} {{"]
    for named in table.sets.values():
        lines += _set_lines(named)
    for chain in table.chains.values():
        lines += _chain_lines(chain)
    return [*lines, "}"]


def _set_lines(named: NamedSet) -> list[str]:
    elements = ", ".join(value_text(e, "address") for e in named.elements)
    return [
        f"\tset {named.name} {{",
        f"\t\ttype {named.type}",
        *([f"\t\tflags {', '.join(sorted(named.flags))}"] if named.flags else []),
        f"\t\telements = {{ {elements} }}",
        "\t}",
    ]


def _chain_lines(chain: Chain) -> list[str]:
    head = []
    if chain.is_base:
        priority = "filter" if chain.priority == FILTER_PRIORITY else str(chain.priority)
        head = [
            f"\t\ttype {chain.type} hook {chain.hook} priority {priority}; policy {chain.policy};"
        ]
    return [f"\tchain {chain.name} {{", *head, *(f"\t\t{r.text()}" for r in chain.rules), "\t}"]
