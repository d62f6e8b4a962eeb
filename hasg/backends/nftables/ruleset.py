"""A host's whole ruleset, as `nft -j list ruleset` prints it, parsed into
the grammar's nodes (`grammar.py`): every table of every family, its
chains (base chains with their hook, priority and policy), sets and maps.

What the document holds that the evaluator cannot decide is kept as a
`Problem` naming the table, chain and rule handle, never dropped: a
statement the grammar parsed as opaque (NAT, queueing, conntrack helpers
and expectations, ...), an expression it does not know, a flowtable, a set
that changes at run time, a table whose flags cannot be read. nftables
1.0.6 prints a table's flags as its release name (`"flags": "Lester Gooch
#5"` for `flags dormant`), so unreadable flags are a problem too, not
"no flags".

A file that is not such a document at all (not JSON, no `nftables` list, an
object without the fields every object of its kind has) is a
`NftReadError` (exit 1), with the file and the place.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hasg.backends.nftables.grammar import (
    AnonymousSet,
    Binop,
    Chance,
    Concat,
    ConcatValue,
    Domain,
    Domains,
    GrammarError,
    Key,
    Mangle,
    Match,
    Opaque,
    OpaqueStatement,
    Range,
    Rule,
    SetRef,
    Statement,
    UnknownKey,
    Value,
    Verdict,
    VerdictMap,
    domains_of,
    in_order,
    parse_statement,
    parse_value,
)
from hasg.core.input_files import check_nesting
from hasg.core.networks import Address
from hasg.errors import NftReadError
from hasg.hosts.probes import beside

# A host's ruleset, even firewalld's with large ipsets, is a few megabytes.
MAX_DUMP_BYTES = 64 << 20
# `nft -j` nests about ten levels (rule, expr, match, set, elem, prefix, ...).
MAX_DUMP_DEPTH = 64
# Families whose tables see a host's own traffic (nft(8), ADDRESS FAMILIES):
# ip and ip6 per IP version, inet both, netdev at the device's ingress.
# bridge and arp tables do not filter what reaches the host's IP stack.
FAMILIES = ("ip", "ip6", "inet", "netdev", "bridge", "arp")
KNOWN_TABLE_FLAGS = frozenset({"dormant", "owner", "persist"})
# Set types whose elements are addresses.
_ADDRESS_TYPES = frozenset({"ipv4_addr", "ipv6_addr"})
_SET_DOMAINS: dict[str, Domain] = {
    "ipv4_addr": "address",
    "ipv6_addr": "address",
    "inet_service": "port",
    "inet_proto": "protocol",
    "ifname": "iface",
    "iface_index": "iface",
    "mark": "integer",
    "ct_state": "ct_state",
    "icmp_type": "icmp_type",
    "icmpv6_type": "icmpv6_type",
    "nf_proto": "nfproto",
}


@dataclass(frozen=True)
class Where:
    """A place in the ruleset: table, chain, rule handle (as `nft -a` shows it)."""

    family: str
    table: str
    chain: str = ""
    handle: int | None = None

    def place(self) -> tuple[tuple[str, str], ...]:
        """As a logical location, outermost first (`hasg.hosts.probes.Place`)."""
        parts = [("table", f"{self.family} {self.table}")]
        if self.chain:
            parts.append(("chain", self.chain))
        if self.handle is not None:
            parts.append(("handle", str(self.handle)))
        return tuple(parts)

    def __str__(self) -> str:
        return ", ".join(f"{kind} {name}" for kind, name in self.place())


@dataclass(frozen=True)
class Problem:
    """Something of the ruleset the evaluator cannot decide, and where."""

    where: Where
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class NamedSet:
    """A named set, or a map (`data` names what its elements map to)."""

    name: str
    type: str
    flags: frozenset[str]
    elements: tuple[Value, ...]
    data: str | None = None
    verdicts: tuple[tuple[Value, Verdict], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", in_order(self.elements))

    @property
    def changes_at_run_time(self) -> bool:
        return bool(self.flags & {"dynamic", "timeout"})


@dataclass(frozen=True)
class Chain:
    name: str
    rules: tuple[Rule, ...] = ()
    hook: str | None = None
    type: str | None = None
    priority: int | None = None
    policy: str = "accept"
    devices: tuple[str, ...] = ()

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True)
class Table:
    family: str
    name: str
    chains: Mapping[str, Chain]
    sets: Mapping[str, NamedSet]
    flags: frozenset[str] = frozenset()
    # False where the dump's flags could not be read: dormant or not, nobody knows.
    flags_known: bool = True

    @property
    def dormant(self) -> bool:
        return "dormant" in self.flags

    def where(self, chain: str = "", handle: int | None = None) -> Where:
        return Where(self.family, self.name, chain, handle)


@dataclass(frozen=True)
class Ruleset:
    tables: tuple[Table, ...]
    problems: tuple[Problem, ...] = ()

    def table(self, family: str, name: str) -> Table | None:
        return next((t for t in self.tables if (t.family, t.name) == (family, name)), None)


# --------------------------------------------------------------------------- reading


def read_ruleset(text: str, source: str = "<nft -j>") -> Ruleset:
    """`nft -j list ruleset` (any of -j, -n -j, -a -j) as a Ruleset."""
    if len(text.encode("utf-8", errors="replace")) > MAX_DUMP_BYTES:
        raise NftReadError(
            f"{source}: larger than {MAX_DUMP_BYTES >> 20} MiB, which no host's ruleset is"
        )
    # Before a recursive parser meets it: json.loads, and the reader, recurse
    # once per level.
    check_nesting(text, MAX_DUMP_DEPTH, source, NftReadError, syntax="json")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise NftReadError(
            f"{source}:{error.lineno}:{error.colno}: not JSON: {error.msg}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        raise NftReadError(
            f'{source}:1:1: not the JSON of `nft -j list ruleset` (no "nftables" list)'
        )
    return _Reader(source).read(document["nftables"])


@dataclass
class _Building:
    family: str
    name: str
    flags: frozenset[str]
    flags_known: bool
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict[str, NamedSet] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tables: dict[tuple[str, str], _Building] = {}
        self.problems: list[Problem] = []

    def error(self, index: int, message: str) -> NftReadError:
        return NftReadError(f"{self.source}: nftables[{index}]: {message}")

    def read(self, items: Sequence[Any]) -> Ruleset:
        for index, item in enumerate(items):
            if not isinstance(item, dict) or len(item) != 1:
                raise self.error(index, "each entry is an object of one kind (table, chain, ...)")
            ((kind, body),) = item.items()
            if kind == "metainfo":
                continue
            if not isinstance(body, dict):
                raise self.error(index, f"a {kind} is an object, not {type(body).__name__}")
            reader = getattr(self, f"_{kind.replace(' ', '_')}", None)
            if kind in ("table", "chain", "rule", "set", "map", "element"):
                assert reader is not None
                reader(index, body)
            else:
                # Flowtables offload connections past the hooks; named objects
                # (counters, quotas, ct helpers, ...) act only where a rule uses them.
                table = self._table_of(index, body, kind)
                where = Where(table.family, table.name)
                if kind == "flowtable":
                    self.problems.append(
                        Problem(where, f"flowtable {body.get('name')}: offloads connections")
                    )
                elif kind not in _NAMED_OBJECTS:
                    self.problems.append(Problem(where, f"a {kind} hasg does not know"))
        return self._finish()

    # -- objects

    def _name(self, index: int, body: Mapping[str, Any], kind: str) -> str:
        name = body.get("name")
        if not isinstance(name, str):
            raise self.error(index, f"a {kind} without a name")
        return name

    def _table_of(self, index: int, body: Mapping[str, Any], kind: str) -> _Building:
        family, name = body.get("family"), body.get("table")
        if not isinstance(family, str) or not isinstance(name, str):
            raise self.error(index, f"a {kind} without its family and table")
        table = self.tables.get((family, name))
        if table is None:
            raise self.error(index, f"a {kind} of table {family} {name}, which is not listed")
        return table

    def _table(self, index: int, body: Mapping[str, Any]) -> None:
        family, name = body.get("family"), self._name(index, body, "table")
        if not isinstance(family, str):
            raise self.error(index, f"table {name} without a family")
        flags = body.get("flags", [])
        listed = [flags] if isinstance(flags, str) else flags
        readable = isinstance(listed, list) and all(
            isinstance(f, str) and f in KNOWN_TABLE_FLAGS for f in listed
        )
        if not readable:
            self.problems.append(
                Problem(
                    Where(family, name),
                    f"its flags {json.dumps(flags)} are none nft knows, so whether the table "
                    "is dormant (its chains skipped) is unknown (nftables 1.0.6 prints a "
                    "dormant table's flags as stray text: check `nft list table "
                    f"{family} {name}`)",
                )
            )
        self.tables[(family, name)] = _Building(
            family, name, frozenset(listed) if readable else frozenset(), readable
        )

    def _chain(self, index: int, body: Mapping[str, Any]) -> None:
        table = self._table_of(index, body, "chain")
        name = self._name(index, body, "chain")
        hook = body.get("hook")
        priority = body.get("prio")
        if hook is not None and (not isinstance(hook, str) or not isinstance(priority, int)):
            raise self.error(index, f"base chain {name} without a hook and a priority")
        policy = body.get("policy", "accept")
        devices = body.get("dev", body.get("devices", ()))
        devices = (devices,) if isinstance(devices, str) else tuple(devices or ())
        table.chains[name] = Chain(
            name,
            (),
            hook,
            str(body.get("type", "filter")) if hook is not None else None,
            priority if hook is not None else None,
            str(policy),
            tuple(str(d) for d in devices),
        )
        if policy not in ("accept", "drop"):
            self.problems.append(
                Problem(Where(table.family, table.name, name), f"policy {policy!r}")
            )

    def _rule(self, index: int, body: Mapping[str, Any]) -> None:
        table = self._table_of(index, body, "rule")
        chain = body.get("chain")
        if not isinstance(chain, str) or chain not in table.chains:
            raise self.error(index, f"a rule of chain {chain!r}, which is not listed")
        expressions = body.get("expr")
        if not isinstance(expressions, list):
            raise self.error(index, "a rule without its expr list")
        handle = body.get("handle")
        handle = handle if isinstance(handle, int) and not isinstance(handle, bool) else None
        where = Where(table.family, table.name, chain, handle)
        statements: list[Statement] = []
        for raw in expressions:
            try:
                statements.append(parse_statement(raw))
            except GrammarError as error:
                raise self.error(index, f"{where}: {error}") from None
        rule = Rule(tuple(statements), str(body.get("comment", "")), handle)
        table.rules.setdefault(chain, []).append(rule)
        for what in unknowns(rule):
            self.problems.append(Problem(where, what))

    def _set(self, index: int, body: Mapping[str, Any], *, is_map: bool = False) -> None:
        table = self._table_of(index, body, "map" if is_map else "set")
        name = self._name(index, body, "map" if is_map else "set")
        kind = body.get("type")
        type_name = " . ".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        domain = set_domains(type_name)
        flags = body.get("flags", [])
        flags = frozenset([flags] if isinstance(flags, str) else flags or [])
        raw_elements = body.get("elem", [])
        if not isinstance(raw_elements, list):
            raise self.error(index, f"set {name}: elem is a list")
        data = body.get("map") if is_map else None
        elements: list[Value] = []
        verdicts: list[tuple[Value, Verdict]] = []
        for raw in raw_elements:
            if is_map:
                if not (isinstance(raw, list) and len(raw) == 2):
                    raise self.error(index, f"map {name}: an element is a [key, value] pair")
                key = parse_value(raw[0], domain)
                elements.append(key)
                if data == "verdict":
                    verdict = parse_statement(raw[1])
                    if isinstance(verdict, Verdict):
                        verdicts.append((key, verdict))
            else:
                elements.append(parse_value(raw, domain))
        table.sets[name] = NamedSet(
            name,
            type_name,
            frozenset(str(f) for f in flags),
            tuple(elements),
            str(data) if data is not None else None,
            tuple(verdicts),
        )

    def _map(self, index: int, body: Mapping[str, Any]) -> None:
        self._set(index, body, is_map=True)

    def _element(self, index: int, body: Mapping[str, Any]) -> None:
        # `nft -j list ruleset` puts elements inside their set; a lone
        # `element` object adds to one (as `nft -j -f` takes it).
        table = self._table_of(index, body, "element")
        name = self._name(index, body, "element")
        existing = table.sets.get(name)
        if existing is None:
            raise self.error(index, f"elements of set {name}, which is not listed")
        domain = set_domains(existing.type)
        added = tuple(parse_value(raw, domain) for raw in body.get("elem", []))
        table.sets[name] = NamedSet(
            existing.name,
            existing.type,
            existing.flags,
            existing.elements + added,
            existing.data,
            existing.verdicts,
        )

    def _finish(self) -> Ruleset:
        tables = []
        for building in self.tables.values():
            chains = {
                name: Chain(
                    c.name,
                    tuple(building.rules.get(name, ())),
                    c.hook,
                    c.type,
                    c.priority,
                    c.policy,
                    c.devices,
                )
                for name, c in building.chains.items()
            }
            tables.append(
                Table(
                    building.family,
                    building.name,
                    chains,
                    dict(building.sets),
                    building.flags,
                    building.flags_known,
                )
            )
        for table in tables:
            for chain in table.chains.values():
                for rule in chain.rules:
                    for name in set_references(rule):
                        found = table.sets.get(name)
                        where = table.where(chain.name, rule.handle)
                        if found is None:
                            self.problems.append(Problem(where, f"set @{name} is not in the table"))
                        elif found.changes_at_run_time:
                            self.problems.append(
                                Problem(
                                    where,
                                    f"set @{name} changes at run time (flags "
                                    f"{', '.join(sorted(found.flags))}): the dump holds one "
                                    "moment of it",
                                )
                            )
                    for target in jump_targets(rule):
                        if target not in table.chains:
                            self.problems.append(
                                Problem(where_of(table, chain, rule), f"chain {target} is missing")
                            )
        return Ruleset(tuple(tables), tuple(dict.fromkeys(self.problems)))


_NAMED_OBJECTS = frozenset(
    {"counter", "quota", "limit", "ct helper", "ct timeout", "ct expectation"}
    | {"secmark", "synproxy"}
)


def set_domains(type_name: str) -> Domains:
    """How a set's elements are read, from its type (`ipv4_addr . inet_service`)."""
    parts = type_name.split(" . ")
    if len(parts) > 1:
        return tuple(_SET_DOMAINS.get(p, "raw") for p in parts)
    return _SET_DOMAINS.get(type_name, "raw")


def where_of(table: Table, chain: Chain, rule: Rule) -> Where:
    return table.where(chain.name, rule.handle)


# --------------------------------------------------------------------------- what a rule holds


def unknowns(rule: Rule) -> Iterator[str]:
    """What in a rule the evaluator cannot decide, in words."""
    for statement in rule.statements:
        if isinstance(statement, OpaqueStatement):
            yield f"`{statement.kind}` {statement.why}"
        for key in _keys(statement):
            if isinstance(key, UnknownKey):
                yield f"an expression hasg does not know: {key.text()}"
        for value in _values(statement):
            if isinstance(value, Opaque):
                yield f"a value hasg cannot read: {json.dumps(value.raw, sort_keys=True)}"


def _keys(statement: Statement) -> Iterator[Key]:
    keys: list[Key] = []
    if isinstance(statement, (Match, VerdictMap)):
        keys.append(statement.left if isinstance(statement, Match) else statement.key)
    elif isinstance(statement, Mangle):
        keys.append(statement.key)
    while keys:
        key = keys.pop()
        yield key
        if isinstance(key, Concat):
            keys.extend(key.items)
        elif isinstance(key, Binop):
            keys.append(key.left)


def _values(statement: Statement) -> Iterator[Value]:
    values: list[Value] = []
    if isinstance(statement, Match):
        values.append(statement.right)
    elif isinstance(statement, VerdictMap) and not isinstance(statement.entries, SetRef):
        values.extend(k for k, _ in statement.entries)
    while values:
        value = values.pop()
        yield value
        if isinstance(value, AnonymousSet):
            values.extend(value.items)


def set_references(rule: Rule) -> Iterable[str]:
    for statement in rule.statements:
        if isinstance(statement, VerdictMap) and isinstance(statement.entries, SetRef):
            yield statement.entries.name
        for value in _values(statement):
            if isinstance(value, SetRef):
                yield value.name


def jump_targets(rule: Rule) -> Iterable[str]:
    for statement in rule.statements:
        if isinstance(statement, Verdict) and statement.target is not None:
            yield statement.target
        if isinstance(statement, VerdictMap) and not isinstance(statement.entries, SetRef):
            yield from (v.target for _, v in statement.entries if v.target is not None)


def has_chance(rule: Rule) -> bool:
    return any(isinstance(s, Chance) for s in rule.statements)


# --------------------------------------------------------------------------- named values


@dataclass
class NamedValues:
    """The constants a ruleset compares packets with, by what they are."""

    ports: set[int] = field(default_factory=set)
    icmp_types: set[tuple[str, int]] = field(default_factory=set)
    protocols: set[int] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)


def named_values(ruleset: Ruleset) -> NamedValues:
    """Every port, ICMP type, protocol and address a rule of any table (or a
    set a rule uses) compares with, each with the values just beside it."""
    found = NamedValues()
    for table in ruleset.tables:
        for chain in table.chains.values():
            for rule in chain.rules:
                for statement in rule.statements:
                    for domains, value in _compared(statement, table):
                        _collect(found, domains, value)
    return found


def _compared(statement: Statement, table: Table) -> Iterator[tuple[Domains, Value]]:
    if isinstance(statement, Match):
        key, values = statement.left, [statement.right]
    elif isinstance(statement, VerdictMap):
        key = statement.key
        values = (
            list(table.sets[statement.entries.name].elements)
            if isinstance(statement.entries, SetRef) and statement.entries.name in table.sets
            else [k for k, _ in statement.entries]
            if not isinstance(statement.entries, SetRef)
            else []
        )
    else:
        return
    domains = domains_of(key.left if isinstance(key, Binop) else key)
    while values:
        value = values.pop()
        if isinstance(value, SetRef):
            named = table.sets.get(value.name)
            values.extend(named.elements if named is not None else ())
        elif isinstance(value, AnonymousSet):
            values.extend(value.items)
        else:
            yield domains, value


def _collect(found: NamedValues, domains: Domains, value: Value) -> None:
    if isinstance(domains, tuple):
        if isinstance(value, ConcatValue):
            for domain, part in zip(domains, value.items, strict=True):
                _collect(found, domain, part)
        return
    bounds = _bounds(value)
    if bounds is None:
        return
    low, high = bounds
    if isinstance(low, int) and isinstance(high, int):
        around = (low - 1, low, high, high + 1)
        if domains == "port":
            found.ports.update(p for p in around if 0 <= p <= 65535)
        elif domains in ("icmp_type", "icmpv6_type"):
            protocol = "icmp" if domains == "icmp_type" else "icmpv6"
            found.icmp_types.update((protocol, t) for t in around if 0 <= t <= 255)
        elif domains == "protocol":
            found.protocols.update(p for p in around if 0 <= p <= 255)
    elif (
        domains == "address"
        and not isinstance(low, int)
        and not isinstance(high, int)
        and low.version == high.version
    ):
        found.addresses.update(beside(low, high))


def _bounds(value: Value) -> tuple[int, int] | tuple[Address, Address] | None:
    """The first and last value a constant stands for (a range, a prefix, one value)."""
    if isinstance(value, Range):
        low, high = value.low, value.high
    elif isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        low, high = value.network_address, value.broadcast_address
    else:
        low = high = value  # type: ignore[assignment]
    if isinstance(low, bool) or isinstance(high, bool):
        return None
    if isinstance(low, int) and isinstance(high, int):
        return low, high
    if isinstance(low, _ADDRESSES) and isinstance(high, _ADDRESSES):
        return low, high
    return None


_ADDRESSES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
