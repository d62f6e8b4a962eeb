"""What a host's whole nftables ruleset does with a connection: open, closed,
or undecided, and which rule (or chain policy) decided it.

A connection is open when its first packet reaches the host's IP stack and
the answer gets back out (nft(8), "ADDRESS FAMILIES" and "CHAINS"):

- the first packet passes every base chain hooked where it goes (inbound:
  the netdev and inet `ingress` hooks, `prerouting`, `input`; outbound:
  `output`, `postrouting`, and netdev `egress`), of every table of its
  family (`ip` or `ip6`, and `inet`, and `netdev`), in priority order;
- then the reply passes the hooks of the other way, as an established
  connection (nat chains see only a connection's first packet).

In each base chain, `accept` ends that chain only and the packet goes on to
the next base chain; `drop` and `reject` are final; a chain that ends
without a verdict applies its policy; `jump` returns, `goto` does not,
`return` goes back to the caller (or, in a base chain, to the policy).
Dormant tables are skipped. A match this evaluator cannot settle from what
the probe says (an interface's name, a rate limit, an unknown expression)
is tried both ways: when every way ends the same, that is the answer;
otherwise the connection is undecided and the answer says what it hangs on.

What conntrack says of a first packet is `hasg.hosts.conntrack`'s model of
the kernel (an ICMP error is tried as one about a connection of the host:
`related`). Before conntrack (a chain of priority below -200 in prerouting
or output) every packet's state is `invalid`.

Assumed, and said in docs/on-prem.md: packets arrive on an interface that
is not `lo`, from a source routed back through it (a reverse-path check
passes), to the host's own address (`fib daddr type local`); the packet
mark starts at 0.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from hasg.backends.nftables.grammar import (
    CT_STATES,
    CT_STATUS,
    FIB_TYPES,
    AnonymousSet,
    Binop,
    Chance,
    Concat,
    ConcatValue,
    Ct,
    Fib,
    Flags,
    Key,
    Mangle,
    Match,
    Meta,
    NoEffect,
    Opaque,
    OpaqueStatement,
    Payload,
    Range,
    Reject,
    SetRef,
    Value,
    Verdict,
    VerdictMap,
    domains_of,
    flag_bits,
)
from hasg.backends.nftables.ruleset import Chain, Ruleset, Table, Where
from hasg.hosts.conntrack import ICMP, ICMPV6, PORT_PROTOCOLS, first_state, reply_icmp_type
from hasg.hosts.probes import Answer, Place

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IP versions, as tables' families serve them.
_TABLE_FAMILIES = {4: ("ip", "inet"), 6: ("ip6", "inet")}
INBOUND_HOOKS = ("ingress", "prerouting", "input")
OUTBOUND_HOOKS = ("output", "postrouting", "egress")
# nf_conntrack: NF_IP_PRI_CONNTRACK; chains before it see no connection yet.
CONNTRACK_PRIORITY = -200
_EPHEMERAL_PORT = 40000
# How many ways one connection may be tried before it is called undecided.
MAX_WAYS = 256
# Tables whose flags a dump hides, tried both ways (2**n evaluations).
_MAX_UNKNOWN_TABLES = 4
_MAX_STEPS = 10_000


class _Interface:
    """The host's interface a probe uses: some interface, not `lo`, name unknown."""

    def __repr__(self) -> str:
        return "an interface other than lo"


SOME_INTERFACE = _Interface()


@dataclass(frozen=True)
class Packet:
    """One packet as the evaluator knows it."""

    version: int
    saddr: Address
    daddr: Address
    protocol: int
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    tcp_flags: int | None = None
    ct_state: str = "new"
    ct_direction: str = "original"
    inbound: bool = True
    # The interface it passes: "lo" for loopback, else None (some other, name unknown).
    interface: str | None = None
    mark: int | None = 0
    ct_mark: int | None = 0


@dataclass(frozen=True)
class _Way:
    """One way the evaluation can go: the packet so far, and what was assumed."""

    packet: Packet
    assumed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _End:
    """How one base chain ended for one way."""

    verdict: Literal["accept", "drop", "undecided"]
    way: _Way
    why: str
    where: Where | None


# --------------------------------------------------------------------------- connections


def connection(
    ruleset: Ruleset,
    *,
    host: Address,
    peer: Address,
    protocol: int,
    port: int | None = None,
    icmp_code: int = 0,
    inbound: bool = True,
) -> Answer:
    """Whether a connection between this host and `peer` is open: inbound
    (peer -> host), or outbound (host -> peer). `port` is the destination
    port, or the ICMP type.

    A table whose flags the dump does not tell may be dormant or not: the
    connection is tried both ways, and is undecided where they differ."""
    unknown = [t for t in ruleset.tables if not t.flags_known][:_MAX_UNKNOWN_TABLES]
    answers = []
    for dormant in itertools.product((False, True), repeat=len(unknown)):
        tables = tuple(
            replace(t, flags=t.flags | {"dormant"})
            if t in unknown and dormant[unknown.index(t)]
            else t
            for t in ruleset.tables
        )
        answers.append(
            _connection(
                replace(ruleset, tables=tables), host, peer, protocol, port, icmp_code, inbound
            )
        )
    if len({a.outcome for a in answers}) == 1:
        return answers[0]
    named = " and ".join(f"table {t.family} {t.name}" for t in unknown)
    return Answer(
        "undecided", f"it depends on whether {named} is dormant, which the dump does not say"
    )


def _connection(
    ruleset: Ruleset,
    host: Address,
    peer: Address,
    protocol: int,
    port: int | None,
    icmp_code: int,
    inbound: bool,
) -> Answer:
    source, destination = (peer, host) if inbound else (host, peer)
    first = _first_packet(source, destination, protocol, port, icmp_code, inbound)
    there = _through(ruleset, first, INBOUND_HOOKS if inbound else OUTBOUND_HOOKS)
    if there.outcome != "open":
        return there
    reply = _reply(first)
    if reply is None:
        return there
    back = _through(ruleset, reply, OUTBOUND_HOOKS if inbound else INBOUND_HOOKS)
    if back.outcome == "open":
        return there
    # "its reply is dropped by ...", "its reply cannot be decided: ..."
    link = "" if back.outcome == "undecided" else "is "
    return Answer(back.outcome, f"its reply {link}{back.why}", back.where)


def _first_packet(
    source: Address,
    destination: Address,
    protocol: int,
    port: int | None,
    icmp_code: int,
    inbound: bool,
) -> Packet:
    packet = Packet(source.version, source, destination, protocol, inbound=inbound)
    if source.is_loopback and destination.is_loopback:
        packet = replace(packet, interface="lo")
    if protocol in (ICMP, ICMPV6) and port is not None:
        state = first_state(protocol, port)
        return replace(packet, icmp_type=port, icmp_code=icmp_code, ct_state=state)
    if protocol in PORT_PROTOCOLS.values():
        flags = 0x02 if protocol == 6 else None  # a TCP connection opens with SYN
        return replace(packet, sport=_EPHEMERAL_PORT, dport=port, tcp_flags=flags)
    return packet


def _reply(first: Packet) -> Packet | None:
    """The answer to a first packet, if one comes: a tracked connection's reply."""
    if first.ct_state != "new":
        return None
    reply = replace(
        first,
        saddr=first.daddr,
        daddr=first.saddr,
        sport=first.dport,
        dport=first.sport,
        ct_state="established",
        ct_direction="reply",
        inbound=not first.inbound,
        tcp_flags=0x12 if first.protocol == 6 else None,  # SYN|ACK
    )
    if first.icmp_type is not None:
        reply = replace(reply, icmp_type=reply_icmp_type(first.protocol, first.icmp_type))
    return reply


def _through(ruleset: Ruleset, packet: Packet, hooks: Sequence[str]) -> Answer:
    """The packet through every base chain of `hooks`, for every way it can go."""
    ways = [_Way(packet)]
    accepted: list[_End] = []
    for hook in hooks:
        for table, chain in _base_chains(ruleset, packet.version, hook):
            going: list[_End] = []
            stopped: list[_End] = []
            for way in ways:
                for end in _chain_ends(table, chain, way):
                    (going if end.verdict == "accept" else stopped).append(end)
            if len(going) + len(stopped) > MAX_WAYS:
                return Answer("undecided", f"more than {MAX_WAYS} ways to evaluate it")
            if stopped:
                return _stopped(going, stopped)
            accepted += going[:1]
            ways = [end.way for end in going]
    # What let it through: a rule that accepts, else a chain's policy.
    placed = [e for e in accepted if e.where is not None]
    decisive = [e for e in placed if "policy" not in e.why] or placed
    if decisive:
        return Answer("open", decisive[-1].why, _place(decisive[-1].where))
    return Answer("open", "no base chain drops it")


def _stopped(going: Sequence[_End], stopped: Sequence[_End]) -> Answer:
    """Some ways of a base chain do not accept: closed when every way drops,
    else undecided, saying what it hangs on."""
    first = stopped[0]
    undecided = [e for e in stopped if e.verdict == "undecided"]
    if undecided:
        return Answer("undecided", undecided[0].why, _place(undecided[0].where))
    if not going:
        return Answer("closed", first.why, _place(first.where))
    assumed = sorted({a for end in (*going, *stopped) for a in end.way.assumed})
    hangs = "; ".join(assumed[:3]) + ("; ..." if len(assumed) > 3 else "")
    why = f"{first.why} only in some cases: it depends on {hangs}"
    return Answer("undecided", why, _place(first.where))


def _place(where: Where | None) -> Place:
    return where.place() if where is not None else ()


def _base_chains(ruleset: Ruleset, version: int, hook: str) -> Iterator[tuple[Table, Chain]]:
    families = (
        (*_TABLE_FAMILIES[version], "netdev")
        if hook in ("ingress", "egress")
        else (_TABLE_FAMILIES[version])
    )
    found = [
        (table, chain)
        for table in ruleset.tables
        if table.family in families and not table.dormant
        for chain in table.chains.values()
        if chain.hook == hook
    ]
    # sorted() keeps the dump's order among equal priorities.
    yield from sorted(found, key=lambda pair: pair[1].priority or 0)


# --------------------------------------------------------------------------- chains


@dataclass
class _Frame:
    chain: Chain
    index: int = 0


@dataclass
class _Run:
    """One way through a base chain: the call stack and where it stands."""

    way: _Way
    stack: list[_Frame]
    statement: int = 0
    steps: int = 0


def _chain_ends(table: Table, base: Chain, way: _Way) -> list[_End]:
    """Every way one base chain can end for `way`'s packet."""
    if base.type == "nat" and way.packet.ct_state != "new":
        return [_End("accept", way, "", None)]  # nat chains see a connection's first packet only
    runs = [_Run(way, [_Frame(base)])]
    if base.devices:
        # A chain bound to devices sees only their packets; the probe's
        # interface has no known name (only: it is not lo).
        if all(d == "lo" for d in base.devices):
            return [_End("accept", way, "", None)]
        bound = f"whether chain {base.name} of {table.where()} is bound to the probe's interface"
        runs = [_Run(_assume(way, bound), [_Frame(base)]), _Run(_assume(way, bound), [])]
    ends: list[_End] = []
    while runs:
        if len(runs) + len(ends) > MAX_WAYS:
            why = f"more than {MAX_WAYS} ways to evaluate it"
            return [_End("undecided", way, why, table.where(base.name))]
        for item in _step(table, base, runs.pop()):
            if isinstance(item, _End):
                ends.append(item)
            else:
                runs.append(item)
    return ends


def _step(table: Table, base: Chain, run: _Run) -> list[_End | _Run]:
    """Advance one run to its end, or to a fork (returns the forks)."""
    while True:
        run.steps += 1
        if run.steps > _MAX_STEPS:
            return [_End("undecided", run.way, "chains call each other endlessly", None)]
        if not run.stack:
            return [_End("accept", run.way, "", None)]  # a chain not bound here
        frame = run.stack[-1]
        if frame.index >= len(frame.chain.rules):
            # The end of a chain: back to the caller, or the base chain's policy.
            run.stack.pop()
            run.statement = 0
            if not run.stack:
                return [_policy(table, base, run.way)]
            continue
        rule = frame.chain.rules[frame.index]
        where = table.where(frame.chain.name, rule.handle)
        if run.statement >= len(rule.statements):
            _next_rule(run)
            continue
        statement = rule.statements[run.statement]
        outcome = _statement(table, statement, run, where, base)
        if outcome is not None:
            return outcome


def _next_rule(run: _Run) -> None:
    run.stack[-1].index += 1
    run.statement = 0


def _policy(table: Table, base: Chain, way: _Way) -> _End:
    where = table.where(base.name)
    if base.policy == "drop":
        return _End("drop", way, "dropped by the chain's policy", where)
    return _End("accept", way, "accepted by the chain's policy", where)


def _statement(
    table: Table,
    statement: object,
    run: _Run,
    where: Where,
    base: Chain,
) -> list[_End | _Run] | None:
    """Apply one statement; None: the run goes on; else its ends or forks."""
    if isinstance(statement, Match):
        truth = _match(table, statement, run.way.packet, base)
        return _branch(run, truth, statement.text, where)
    if isinstance(statement, Verdict):
        return _verdict(table, statement, run, where, base)
    if isinstance(statement, Reject):
        return [_End("drop", run.way, "rejected by a rule", where)]
    if isinstance(statement, VerdictMap):
        return _verdict_map(table, statement, run, where, base)
    if isinstance(statement, Mangle):
        run.way = replace(run.way, packet=_mangled(run.way.packet, statement))
        run.statement += 1
        return None
    if isinstance(statement, NoEffect):
        run.statement += 1
        return None
    if isinstance(statement, Chance):
        kind = statement.kind
        return _branch(run, None, lambda: f"`{kind}` at {where}", where)
    if isinstance(statement, OpaqueStatement):
        why = f"cannot be decided: `{statement.kind}` {statement.why}"
        return [_End("undecided", run.way, why, where)]
    return [_End("undecided", run.way, f"cannot be evaluated: {where}", where)]


def _branch(
    run: _Run, truth: bool | None, what: Callable[[], str], where: Where
) -> list[_End | _Run] | None:
    """Go on with the rule (True), skip to the next rule (False), or both.
    `what` gives the statement's text, which only an assumption needs (written
    for every match it was a fifth of an audit's time)."""
    if truth is True:
        run.statement += 1
        return None
    if truth is False:
        _next_rule(run)
        return None
    assumption = f"`{what()}` ({where})"
    on = _copy(run, _assume(run.way, assumption))
    on.statement += 1
    off = _copy(run, _assume(run.way, assumption))
    _next_rule(off)
    return [on, off]


def _copy(run: _Run, way: _Way) -> _Run:
    return _Run(way, [_Frame(f.chain, f.index) for f in run.stack], run.statement, run.steps)


def _assume(way: _Way, what: str) -> _Way:
    return replace(way, assumed=(*way.assumed, what))


def _verdict(
    table: Table, verdict: Verdict, run: _Run, where: Where, base: Chain
) -> list[_End | _Run] | None:
    if verdict.kind == "accept":
        return [_End("accept", run.way, "accepted by a rule", where)]
    if verdict.kind == "drop":
        return [_End("drop", run.way, "dropped by a rule", where)]
    if verdict.kind == "continue":
        _next_rule(run)
        return None
    if verdict.kind == "return":
        # Back to the rule after the jump (the caller's index already points
        # there), or, from the base chain, its policy.
        run.stack.pop()
        run.statement = 0
        if run.stack:
            return None
        return [_policy(table, base, run.way)]
    target = table.chains.get(verdict.target or "")
    if target is None:
        why = f"cannot be decided: it jumps to chain {verdict.target}, which is missing"
        return [_End("undecided", run.way, why, where)]
    if verdict.kind == "jump":
        run.stack[-1].index += 1  # where it returns to
    else:  # goto: no return to this chain
        run.stack.pop()
    run.stack.append(_Frame(target))
    run.statement = 0
    return None


def _verdict_map(
    table: Table,
    statement: VerdictMap,
    run: _Run,
    where: Where,
    base: Chain,
) -> list[_End | _Run] | None:
    if isinstance(statement.entries, SetRef):
        named = table.sets.get(statement.entries.name)
        entries = named.verdicts if named is not None else ()
        if named is None or len(named.verdicts) != len(named.elements):
            why = f"cannot be decided: vmap @{statement.entries.name} is not a verdict map"
            return [_End("undecided", run.way, why, where)]
    else:
        entries = statement.entries
    value = _value(statement.key, run.way.packet, base)
    if value is _ABSENT:
        _next_rule(run)
        return None
    if value is _UNKNOWN:
        why = f"cannot be decided: {statement.key.text()} is not known for this probe"
        return [_End("undecided", run.way, why, where)]
    for key, verdict in entries:
        if _equal_or_in(value, key, domains_of(statement.key), table) is True:
            return _verdict(table, verdict, run, where, base)
    run.statement += 1
    return None


def _mangled(packet: Packet, mangle: Mangle) -> Packet:
    value = mangle.value if isinstance(mangle.value, int) else None
    if isinstance(mangle.key, Meta) and mangle.key.key == "mark":
        return replace(packet, mark=value)
    if isinstance(mangle.key, Ct) and mangle.key.key == "mark":
        return replace(packet, ct_mark=value)
    return packet


# --------------------------------------------------------------------------- matches

_ABSENT = object()  # the packet has no such field: the match fails (nft's NFT_BREAK)
_UNKNOWN = object()  # the probe does not say


def _match(table: Table, match: Match, packet: Packet, base: Chain) -> bool | None:
    value = _value(match.left, packet, base)
    if value is _ABSENT:
        return False
    if value is _UNKNOWN:
        return None
    domains = domains_of(match.left)
    if match.op in ("==", "in"):
        if isinstance(match.right, Flags) and match.op == "in":
            bits = flag_bits(match.right, domains)  # type: ignore[arg-type]
            return bool(value & bits) if isinstance(value, int) else None
        return _equal_or_in(value, match.right, domains, table)
    if match.op == "!=":
        found = _equal_or_in(value, match.right, domains, table)
        return None if found is None else not found
    if match.op in ("<", ">", "<=", ">=") and isinstance(match.right, int):
        if not isinstance(value, int):
            return None
        return {
            "<": value < match.right,
            ">": value > match.right,
            "<=": value <= match.right,
            ">=": value >= match.right,
        }[match.op]
    return None


def _value(key: Key, packet: Packet, base: Chain) -> object:
    """The packet's value for a key: a value, _ABSENT or _UNKNOWN."""
    if isinstance(key, Payload):
        return _payload(key, packet)
    if isinstance(key, Meta):
        return _meta(key, packet)
    if isinstance(key, Ct):
        return _ct(key, packet, base)
    if isinstance(key, Fib):
        return _fib(key, packet)
    if isinstance(key, Concat):
        parts = [_value(item, packet, base) for item in key.items]
        if any(p is _ABSENT for p in parts):
            return _ABSENT
        if any(p is _UNKNOWN or p is SOME_INTERFACE for p in parts):
            return _UNKNOWN
        return tuple(parts)
    if isinstance(key, Binop):
        inner = _value(key.left, packet, base)
        if inner is _ABSENT or inner is _UNKNOWN or not isinstance(inner, int):
            return inner if inner in (_ABSENT, _UNKNOWN) else _UNKNOWN
        operand = (
            flag_bits(key.right, key.left.domain)
            if isinstance(key.right, Flags)
            else key.right
            if isinstance(key.right, int)
            else None
        )
        if operand is None:
            return _UNKNOWN
        return {
            "&": inner & operand,
            "|": inner | operand,
            "^": inner ^ operand,
            "<<": inner << operand,
            ">>": inner >> operand,
        }[key.op]
    return _UNKNOWN


def _payload(key: Payload, packet: Packet) -> object:
    protocol, name = key.protocol, key.field
    if protocol in ("ip", "ip6"):
        if (protocol == "ip") != (packet.version == 4):
            return _ABSENT
        return {
            "saddr": packet.saddr,
            "daddr": packet.daddr,
            "protocol": packet.protocol if protocol == "ip" else _UNKNOWN,
            "nexthdr": packet.protocol if protocol == "ip6" else _UNKNOWN,
        }.get(name, _UNKNOWN)
    if protocol in ("icmp", "icmpv6"):
        if packet.protocol != (1 if protocol == "icmp" else 58):
            return _ABSENT
        return {"type": packet.icmp_type, "code": packet.icmp_code}.get(name, _UNKNOWN)
    if protocol == "th" or protocol in PORT_PROTOCOLS:
        if protocol != "th" and packet.protocol != PORT_PROTOCOLS[protocol]:
            return _ABSENT
        if packet.protocol not in PORT_PROTOCOLS.values():
            return _UNKNOWN  # `th` reads whatever the header holds there
        if name in ("sport", "dport"):
            return packet.sport if name == "sport" else packet.dport
        if protocol == "tcp" and name == "flags":
            return packet.tcp_flags
        return _UNKNOWN
    return _UNKNOWN


def _meta(key: Meta, packet: Packet) -> object:
    name = key.key
    if name == "l4proto":
        return packet.protocol
    if name == "nfproto":
        return "ipv4" if packet.version == 4 else "ipv6"
    if name in ("iif", "iifname", "oif", "oifname"):
        if packet.inbound != name.startswith("i"):
            return _ABSENT  # an input hook has no output interface, and the other way
        return packet.interface or SOME_INTERFACE
    if name == "mark":
        return packet.mark if packet.mark is not None else _UNKNOWN
    if name == "pkttype":
        return 0  # PACKET_HOST: unicast to (or from) this host
    return _UNKNOWN


def _ct(key: Ct, packet: Packet, base: Chain) -> object:
    priority = base.priority if base.priority is not None else 0
    before = base.hook in ("prerouting", "output")
    if before and priority == CONNTRACK_PRIORITY:
        return _UNKNOWN  # conntrack runs at the same priority: which goes first is not known
    tracked = not (before and priority < CONNTRACK_PRIORITY)
    state = packet.ct_state if tracked else "invalid"
    if key.key == "state":
        return CT_STATES[state]
    if state in ("invalid", "untracked"):
        return _ABSENT  # no connection: every other ct key breaks the rule
    if key.dir is not None:
        return _UNKNOWN
    if key.key == "direction":
        return packet.ct_direction
    if key.key == "mark":
        return packet.ct_mark if packet.ct_mark is not None else _UNKNOWN
    if key.key == "status":
        # A first packet's connection is not confirmed yet; a reply's has seen one.
        return CT_STATUS["seen-reply"] | CT_STATUS["confirmed"] if state == "established" else 0
    if key.key == "l3proto":
        return "ipv4" if packet.version == 4 else "ipv6"
    if key.key == "protocol":
        return packet.protocol
    return _UNKNOWN


def _fib(key: Fib, packet: Packet) -> object:
    if key.result == "type" and "daddr" in key.flags:
        return FIB_TYPES["local" if packet.inbound else "unicast"]
    if key.result in ("oif", "oifname") and "saddr" in key.flags and packet.inbound:
        return SOME_INTERFACE  # the source routes back through the interface it came in on
    return _UNKNOWN


def _equal_or_in(value: object, right: Value, domains: object, table: Table) -> bool | None:
    """Whether `value` is `right`, or one of its elements (sets, ranges, networks)."""
    if isinstance(right, SetRef):
        named = table.sets.get(right.name)
        if named is None:
            return None
        return _in_any(value, named.elements, domains, table)
    if isinstance(right, AnonymousSet):
        return _in_any(value, right.items, domains, table)
    return _one(value, right, domains)


def _in_any(value: object, items: Sequence[Value], domains: object, table: Table) -> bool | None:
    unknown = False
    for item in items:
        found = _equal_or_in(value, item, domains, table)
        if found is True:
            return True
        unknown = unknown or found is None
    return None if unknown else False


def _one(value: object, right: Value, domains: object) -> bool | None:
    if isinstance(right, Opaque):
        return None
    if value is SOME_INTERFACE:
        if isinstance(right, bool):
            return right  # the interface exists
        return False if right == "lo" else None
    if isinstance(right, ConcatValue):
        if not isinstance(value, tuple) or len(value) != len(right.items):
            return None
        parts = [_one(v, r, None) for v, r in zip(value, right.items, strict=True)]
        if any(p is False for p in parts):
            return False
        return None if any(p is None for p in parts) else True
    if isinstance(right, Flags):
        bits = flag_bits(right, domains)  # type: ignore[arg-type]
        return value == bits if isinstance(value, int) else None
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        if isinstance(right, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return right.version == value.version and value in right
        if isinstance(right, Range):
            low, high = right.low, right.high
            if isinstance(low, type(value)) and isinstance(high, type(value)):
                return low <= value <= high  # type: ignore[operator]
            return None
        return value == right
    if isinstance(right, Range):
        if isinstance(value, int) and isinstance(right.low, int) and isinstance(right.high, int):
            return right.low <= value <= right.high
        return None
    if isinstance(value, int) and isinstance(right, str):
        # A ct state name or protocol name the grammar did not turn into a number.
        return None
    return value == right


# --------------------------------------------------------------------------- whole ruleset


@dataclass(frozen=True)
class Evaluator:
    """Connections of one host, answered from its ruleset."""

    ruleset: Ruleset
    cache: dict[tuple[object, ...], Answer] = field(default_factory=dict, compare=False)

    def answer(
        self,
        *,
        host: Address,
        peer: Address,
        protocol: int,
        port: int | None,
        icmp_code: int = 0,
        inbound: bool = True,
    ) -> Answer:
        key = (host, peer, protocol, port, icmp_code, inbound)
        found = self.cache.get(key)
        if found is None:
            found = connection(
                self.ruleset,
                host=host,
                peer=peer,
                protocol=protocol,
                port=port,
                icmp_code=icmp_code,
                inbound=inbound,
            )
            self.cache[key] = found
        return found
