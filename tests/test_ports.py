"""One vocabulary for ports and rules: one text form of a port range, one
grammar behind the model's parser and the JSON Schema, Blueprints equal by value."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hasg import Port
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.ports import NOTHING, PortSet, port_text, union
from hasg.core.protocols import canonical_protocol
from hasg.errors import HasgError, RuleConflictError
from hasg.policy.schema import policy_json_schema

WEB = Peer("group", "web")

tcp_or_udp = st.builds(
    lambda proto, a, b: Port(protocol=proto, from_port=min(a, b), to_port=max(a, b)),
    st.sampled_from(["tcp", "udp"]),
    st.integers(0, 65535),
    st.integers(0, 65535),
)
icmp = st.one_of(
    st.just(Port.icmp()),
    st.builds(Port.icmp, st.integers(0, 255)),
    st.builds(Port.icmp, st.integers(0, 255), st.integers(0, 255)),
)
any_port = st.one_of(tcp_or_udp, icmp, st.just(Port.all_traffic()))


def _port_schema_validator() -> Any:
    schema = policy_json_schema()
    port = {"$defs": schema["$defs"], **schema["$defs"]["Port"]}
    return jsonschema.Draft202012Validator(port)


PORT_SCHEMA = _port_schema_validator()


@given(any_port)
def test_a_ports_text_is_what_a_policy_may_write_back(port: Port) -> None:
    text = str(port)
    assert PORT_SCHEMA.is_valid(text), text
    assert Port.model_validate(text) == port
    assert text == port_text(port.protocol, port.from_port, port.to_port)


@given(any_port)
def test_port_rule_and_port_set_print_one_form(port: Port) -> None:
    protocol = canonical_protocol(port.protocol)
    rule = Rule("ingress", protocol, port.from_port, port.to_port, WEB)
    assert rule.ports_text() == str(port)
    assert str(PortSet.of_port(port)) == str(port)


def test_the_forms_that_used_to_disagree() -> None:
    # Rule printed ICMP-any as `icmp/any`, PortSet UDP 9638 as `9638/udp`.
    assert Rule("ingress", "icmp", -1, -1, WEB).ports_text() == "icmp" == str(Port.icmp())
    assert str(PortSet.of_port(Port.udp(9638))) == "udp/9638" == str(Port.udp(9638))
    assert str(PortSet.of_port(Port.tcp(22))) == "tcp/22"


@given(st.integers(0, 255))
def test_every_protocol_number_prints_one_way(number: int) -> None:
    protocol = canonical_protocol(number)
    rule = Rule("ingress", protocol, -1, -1, WEB)
    if protocol in ("tcp", "udp"):
        return  # ports of their own: the properties above
    assert str(PortSet.of_rule(rule)) == rule.ports_text() == port_text(str(number), -1, -1)


# Words the grammar is made of, and the spellings that trip a hand-written copy:
# other scripts' digits (Python's `\d` takes them), case, spaces, stray separators.
piece = st.sampled_from(
    ["tcp", "udp", "icmp", "all", "TCP", "Icmp", "/", "-", ":", " ", "0", "22", "65535",
     "99999", "123456", "8", "\u0664\u0664\u0663", "\uff11", "ssh", "esp", "icmpv6", "+1"]
)  # fmt: skip


@given(st.lists(piece, min_size=1, max_size=6).map("".join))
def test_the_model_and_the_schema_read_one_grammar(text: str) -> None:
    try:
        accepted = Port.model_validate(text)
    except HasgError:
        accepted = None
    if accepted is not None:
        assert PORT_SCHEMA.is_valid(text), text
    if not PORT_SCHEMA.is_valid(text):
        assert accepted is None, text
    if text.strip().lower() == "ssh":  # the file's word, replaced before the model sees it
        assert PORT_SCHEMA.is_valid(text)


@pytest.mark.parametrize("text", ["tcp/\u0664\u0664\u0663", "tcp/\uff11", "tcp/0000022"])
def test_ports_are_ascii_digits(text: str) -> None:
    with pytest.raises(HasgError):
        Port.model_validate(text)
    assert not PORT_SCHEMA.is_valid(text)


# --------------------------------------------------------------------------- equality


def _group(*rules: Rule) -> SecurityGroup:
    return SecurityGroup("db", "c-db", "db", {}, rules)


def test_blueprints_that_differ_only_in_a_description_are_not_equal() -> None:
    one = Rule("ingress", "tcp", 5432, 5432, WEB, "queries")
    other = Rule("ingress", "tcp", 5432, 5432, WEB, "migrations")
    assert one.key == other.key
    assert one != other
    assert Blueprint("c", (_group(one),)) != Blueprint("c", (_group(other),))
    assert Blueprint("c", (_group(one),)).rule_set() != Blueprint("c", (_group(other),)).rule_set()


def test_provenance_is_not_part_of_equality_and_is_pooled() -> None:
    a = Rule("ingress", "tcp", 5432, 5432, WEB, "q", origins=("f1",))
    b = Rule("ingress", "tcp", 5432, 5432, WEB, "q", origins=("f2",))
    assert a == b
    (kept,) = _group(a, b).rules
    assert kept.origins == ("f1", "f2")


def test_two_rules_aws_holds_as_one_with_two_descriptions_are_an_error() -> None:
    one = Rule("ingress", "tcp", 5432, 5432, WEB, "queries")
    other = Rule("ingress", "tcp", 5432, 5432, WEB, "migrations")
    with pytest.raises(RuleConflictError, match=r"group c-db: .*'queries' and 'migrations'"):
        _group(one, other)
    with pytest.raises(HasgError):
        SecurityGroup("db", "c-db", "db", {}, (), (one, other))


# Any rule, and the same rule written another way: any protocol number or
# name, ICMP type/code, any peer kind, any description text.
protocol_spellings = st.one_of(
    st.integers(0, 255), st.integers(0, 255).map(str), st.sampled_from(["TCP", "Udp", "all", "esp"])
)
peers = st.one_of(
    st.builds(Peer, st.just("group"), st.sampled_from(["web", "db"])),
    st.builds(Peer, st.just("cidr_ipv4"), st.sampled_from(["10.0.0.0/8", "0.0.0.0/0"])),
    st.builds(Peer, st.just("cidr_ipv6"), st.just("::/0")),
    st.just(Peer("vpc")),
)


@given(
    protocol_spellings,
    st.integers(-1, 255),
    peers,
    st.text(max_size=20),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
)
def test_same_key_rules_keep_one_value_or_refuse(
    protocol: object, port: int, peer: Peer, first: str, second: str, origins: list[str]
) -> None:
    proto = canonical_protocol(protocol)
    one = Rule("ingress", proto, port, port, peer, first, origins=tuple(origins))
    # The same rule through another spelling of its protocol.
    other = Rule("ingress", canonical_protocol(str(protocol).upper()), port, port, peer, second)
    assert one.key == other.key
    if first == second:
        assert _group(one, other).rules == (one,)
        assert _group(one, other) == _group(other)
    else:
        with pytest.raises(RuleConflictError):
            _group(one, other)


# --------------------------------------------------------------------------- ICMP types and codes


def icmp_admits(port: Port, icmp_type: int, code: int) -> bool:
    """What EC2 does with an ICMP rule (IpPermission: FromPort is the type,
    ToPort the code, -1 any): the meaning PortSet must keep."""
    return port.from_port in (-1, icmp_type) and port.to_port in (-1, code)


def holds(ports: PortSet, icmp_type: int, code: int) -> bool:
    return bool(ports & PortSet.of_port(Port.icmp(icmp_type, code)))


icmp_points = st.tuples(st.integers(0, 255), st.integers(0, 255))
few_icmp = st.lists(icmp, max_size=4)


@given(few_icmp, few_icmp, st.lists(icmp_points, min_size=1, max_size=20))
def test_a_port_set_holds_exactly_the_icmp_types_and_codes_its_rules_admit(
    first: list[Port], second: list[Port], points: list[tuple[int, int]]
) -> None:
    """`icmp/3:4` is one code of one type, `icmp/3` every code of it: the
    audit and verify judge with these sets, and kept only the type."""
    a = union(PortSet.of_port(p) for p in first)
    b = union(PortSet.of_port(p) for p in second)
    # Where sets differ if codes are lost: each rule's own type and code, and the next code.
    near = [(p.from_port % 256, (p.to_port + d) % 256) for p in first + second for d in (0, 1)]
    for icmp_type, code in points + near:
        in_a = any(icmp_admits(p, icmp_type, code) for p in first)
        in_b = any(icmp_admits(p, icmp_type, code) for p in second)
        assert holds(a, icmp_type, code) is in_a
        assert holds(a | b, icmp_type, code) is (in_a or in_b)
        assert holds(a & b, icmp_type, code) is (in_a and in_b)
        assert holds(a - b, icmp_type, code) is (in_a and not in_b)


@given(few_icmp)
def test_icmp_port_sets_print_what_they_hold(ports: list[Port]) -> None:
    """Each piece printed is a port a policy could write, or a run of them
    (`icmp/3-5`, `icmp/3:0-3`), and reads back to the same set."""
    merged = union(PortSet.of_port(p) for p in ports)
    read_back = NOTHING
    for piece in merged.as_list():
        kind, _, rest = piece.partition("/")
        assert kind == "icmp"
        if not rest:
            read_back |= PortSet.of_port(Port.icmp())
            continue
        type_part, _, codes = rest.partition(":")
        first_type, _, last_type = type_part.partition("-")
        low_code, _, high_code = codes.partition("-")
        for icmp_type in range(int(first_type), int(last_type or first_type) + 1):
            if not codes:
                read_back |= PortSet.of_port(Port.icmp(icmp_type))
                continue
            for code in range(int(low_code), int(high_code or low_code) + 1):
                read_back |= PortSet.of_port(Port.icmp(icmp_type, code))
    assert read_back == merged


def test_one_code_is_less_than_its_type() -> None:
    fragmentation = PortSet.of_port(Port.icmp(3, 4))
    unreachable = PortSet.of_port(Port.icmp(3))
    assert unreachable - fragmentation
    assert not fragmentation - unreachable
    assert str(unreachable - fragmentation) == "icmp/3:0-3 icmp/3:5-255"
