"""Every bad input of the policy model is refused with a message that says what is wrong."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hasg import Flow, Policy, Port, Role, compile_policy
from hasg.core.tags import AWS_TAG_LIMIT, HASG_TAG_KEYS
from hasg.errors import HasgError, PolicyError
from hasg.policy.model import CidrPeer, PrefixListPeer, RolePeer


def roles(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "description": f"{i} nodes"} for i in ids]


def policy(**overrides: Any) -> Policy:
    data: dict[str, Any] = {
        "cluster": "prod",
        "roles": roles("web", "db"),
        "flows": [
            {"source": "web", "destination": "db", "ports": [5432], "description": "web to db"}
        ],
    }
    data.update(overrides)
    return Policy.model_validate(data)


def flow(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": "web",
        "destination": "db",
        "ports": [5432],
        "description": "web to db",
    }
    data.update(overrides)
    return data


def refused(match: str, **overrides: Any) -> None:
    with pytest.raises(PolicyError, match=match):
        policy(**overrides)


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (443, Port.tcp(443)),
        ("tcp/443", Port.tcp(443)),
        ("tcp/9200-9300", Port.tcp(9200, 9300)),
        ("udp/9638", Port.udp(9638)),
        ("icmp", Port.icmp()),
        ("icmp/8", Port.icmp(8)),
        ("icmp/3:4", Port.icmp(3, 4)),
        ("all", Port.all_traffic()),
        ({"protocol": "udp", "from_port": 53}, Port.udp(53)),
    ],
)
def test_port_shorthands(text: Any, expected: Port) -> None:
    assert Port.model_validate(text) == expected
    assert Port.model_validate(str(expected)) == expected


@pytest.mark.parametrize(
    ("port", "message"),
    [
        (70000, "70000 is not a valid port"),
        (-1, "-1 is not a valid port"),
        ("tcp/9300-9200", "port range 9300-9200 is reversed; write 9200-9300"),
        ("tcp/1-70000", "70000 is not a valid port"),
        ("sctp/9", "'sctp/9' is not a port"),
        ({"protocol": "gre", "from_port": 1}, "input should be 'tcp', 'udp', 'icmp' or 'all'"),
        ({"protocol": "icmp", "from_port": 300}, "300 is not a valid ICMP type"),
        ({"protocol": "icmp", "from_port": -1, "to_port": 3}, "an ICMP code needs an ICMP type"),
        ({"protocol": "all", "from_port": 1, "to_port": 2}, "protocol 'all' takes no ports"),
    ],
)
def test_bad_ports(port: Any, message: str) -> None:
    refused(message, flows=[flow(ports=[port])])


def test_a_flow_needs_ports() -> None:
    refused("at least 1 item", flows=[flow(ports=[])])


# --------------------------------------------------------------------------- peers, CIDRs


def test_cidr_with_host_bits_suggests_the_network() -> None:
    refused(
        r"10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8\?",
        flows=[flow(source="10.0.0.1/8")],
    )


def test_ipv6_cidr_with_host_bits_suggests_the_network() -> None:
    refused(
        r"2001:db8::1/32 has host bits set; did you mean 2001:db8::/32\?",
        admin_cidrs=["2001:db8::1/32"],
    )


def test_invalid_cidr() -> None:
    refused("'10.0.0.300/32' is not a valid IPv4 or IPv6 CIDR", user_cidrs=["10.0.0.300/32"])


def test_cidrs_are_canonical() -> None:
    assert policy(user_cidrs=["2001:0db8::/32"]).user_cidrs == ("2001:db8::/32",)


def test_prefix_list_id_and_entries() -> None:
    with pytest.raises(PolicyError, match="'pl-xyz' is not a prefix list id"):
        PrefixListPeer(prefix_list_id="pl-xyz", max_entries=5)
    with pytest.raises(PolicyError, match="greater than or equal to 1"):
        PrefixListPeer(prefix_list_id="pl-0123456789abcdef0", max_entries=0)


def test_unknown_peer_shape() -> None:
    refused("is not a peer; a peer is a role id", flows=[flow(source={"host": "x"})])


def test_flows_name_only_known_roles() -> None:
    refused(
        r"flows\[0\].destination: unknown role 'cache' \(roles: db, web\)",
        flows=[flow(destination="cache")],
    )


def test_a_flow_needs_a_role_on_one_side() -> None:
    refused(
        "at least one side must be a role",
        flows=[flow(source="10.0.0.0/8", destination="192.168.0.0/16")],
    )


# --------------------------------------------------------------------------- names and text


def test_duplicate_role() -> None:
    refused("role 'web' is defined twice", roles=roles("web", "db", "web"))


def test_duplicate_flow_name() -> None:
    refused("flow name 'x' is used twice", flows=[flow(name="x"), flow(name="x", ports=[1])])


@pytest.mark.parametrize(
    ("role_id", "message"),
    [("Web", "is not a role id"), ("9web", "is not a role id"), ("web-1", "is not a role id")],
)
def test_bad_role_ids(role_id: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Role(id=role_id, description="x")


def test_description_too_long() -> None:
    refused(
        "is 256 characters long; AWS allows at most 255",
        flows=[flow(description="x" * 256)],
    )


def test_description_characters() -> None:
    refused(r"contains '<>', which AWS does not allow", flows=[flow(description="a <b> c")])


def test_description_required() -> None:
    refused("must not be empty", flows=[flow(description="  ")])


def test_cluster_must_not_start_with_sg() -> None:
    refused("group names must not start with 'sg-'", cluster="sg-prod")


def test_cluster_characters() -> None:
    refused("is not a cluster name", cluster="prod cluster")


def test_longest_names_fit_aws() -> None:
    """Cluster (128) and role id (63) limits keep every group name within AWS's 255."""
    longest = Policy(cluster="c" * 128, roles=(Role(id="r" * 63, description="x"),))
    from hasg import compile_policy

    assert len(compile_policy(longest).groups[0].name) <= 255


def test_unknown_fields_are_refused() -> None:
    refused("colour: unknown field", colour="blue")
    refused("flows.0.why: unknown field", flows=[flow(why="x")])


def test_reserved_tags() -> None:
    refused("tag 'managed-by': hasg sets Name, managed-by", tags={"managed-by": "me"})
    refused("the aws: prefix is reserved", tags={"aws:x": "y"})


# --------------------------------------------------------------------------- the world


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_world_open_beyond_https_is_refused(world: str) -> None:
    refused(
        f"opens tcp/22 to {world}: {world} holds every IPv. address; only tcp/80 and tcp/443",
        flows=[flow(source=world, destination="web", ports=[22])],
    )


def test_world_open_https_is_allowed() -> None:
    p = policy(flows=[flow(source="0.0.0.0/0", destination="web", ports=[443, 80])])
    assert isinstance(p.flows[0].source, CidrPeer)


def test_world_open_range_over_https_is_refused() -> None:
    refused(
        "opens tcp/80-443",
        flows=[flow(source="0.0.0.0/0", destination="web", ports=["tcp/80-443"])],
    )


def test_world_egress_is_checked_too() -> None:
    refused(
        "opens all to 0.0.0.0/0", flows=[flow(source="web", destination="0.0.0.0/0", ports=["all"])]
    )


def test_public_flow_may_open_anything() -> None:
    p = policy(flows=[flow(source="0.0.0.0/0", destination="web", ports=[22], public=True)])
    assert p.flows[0].public


def test_world_in_a_cidr_list_is_checked() -> None:
    refused(
        "opens tcp/22 to admin_cidrs: 0.0.0.0/0 holds every IPv4 address",
        admin_cidrs=["0.0.0.0/0"],
        flows=[flow(source="admin_cidrs", destination="web", ports=[22])],
    )


def test_models_are_immutable() -> None:
    p = policy()
    with pytest.raises(ValueError, match="frozen"):  # a programming error, not bad input
        p.cluster = "other"  # type: ignore[misc]


def test_library_values() -> None:
    f = Flow(
        source=RolePeer(role="web"),
        destination=RolePeer(role="db"),
        ports=(Port.tcp(1),),
        description="x",
    )
    assert f.label == "web-to-db"


# --------------------------------------------------------------------------- wide open, by meaning


def test_the_issue_example_two_halves_of_the_internet_are_the_internet() -> None:
    refused(
        r"flows\[0\].source: flow admins-to-web opens tcp/22 to admin_cidrs: 0.0.0.0/1, "
        "128.0.0.0/1 together hold every IPv4 address; only tcp/80 and tcp/443 may be open "
        "that wide unless the flow says public: true",
        admin_cidrs=["0.0.0.0/1", "128.0.0.0/1"],
        flows=[flow(name="admins-to-web", source="admin_cidrs", destination="web", ports=[22])],
    )


@pytest.mark.parametrize(
    "cidrs",
    [
        ["::/1", "8000::/1"],
        ["0::/0"],
        ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"],
        ["198.51.100.0/23"],  # more public addresses than a /24
        ["198.51.100.0/24", "198.51.101.0/24"],  # two /24s are a /23
        ["2001:db8::/47"],
    ],
)
def test_a_wide_union_needs_public(cidrs: list[str]) -> None:
    wide_flow = flow(source="user_cidrs", destination="web", ports=[22])
    refused("only tcp/80 and tcp/443 may be open that wide", user_cidrs=cidrs, flows=[wide_flow])
    assert policy(user_cidrs=cidrs, flows=[{**wide_flow, "public": True}]).flows[0].public
    # HTTPS and its redirect may reach as far as the whole internet without it.
    assert policy(user_cidrs=cidrs, flows=[{**wide_flow, "ports": [443, 80]}])


@pytest.mark.parametrize("cidr", ["198.51.100.0/24", "10.0.0.0/8", "fc00::/7", "2001:db8::/48"])
def test_narrow_or_private_networks_need_no_public(cidr: str) -> None:
    assert policy(flows=[flow(source=cidr, destination="web", ports=[22])])


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 8), st.sampled_from([4, 6]))
def test_any_split_of_the_world_is_the_world(depth: int, version: int) -> None:
    world = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    pieces = [str(n) for n in world.subnets(new_prefix=depth)]
    refused("hold every IPv", user_cidrs=pieces, flows=[flow(source="user_cidrs", ports=["all"])])


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("fe80::%eth0/64", "has an IPv6 zone id"),
        ("fe80::%\x1b[2J/64", "is not a valid IPv4 or IPv6 CIDR"),
        ("fe80::%a\nb/64", "is not a valid IPv4 or IPv6 CIDR"),
    ],
)
def test_zone_ids_are_refused_at_the_model(cidr: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        CidrPeer(cidr=cidr)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    refused(message, user_cidrs=[cidr])


# --------------------------------------------------------------------------- strict integers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2222", "'2222' is text; write 2222 without quotes"),
        (2222.0, "2222.0 is a decimal number; write 2222"),
        (True, "True is a yes/no value, not a number"),
        (22.5, "expected a whole number, got 22.5"),
        (None, "expected a whole number, got nothing"),
    ],
)
def test_ssh_port_is_a_whole_number_and_nothing_else(value: Any, message: str) -> None:
    refused(f"ssh_port: {re.escape(message)}", ssh_port=value)


@pytest.mark.parametrize("value", ["443", 443.0, True, False, "0x1bb"])
@pytest.mark.parametrize("field", ["from_port", "to_port"])
def test_port_numbers_are_strict(value: Any, field: str) -> None:
    with pytest.raises(PolicyError):
        Port.model_validate({"protocol": "tcp", "from_port": 443, field: value})
    with pytest.raises(PolicyError):
        Port(**{"protocol": "icmp", "from_port": 8, "to_port": 0, field: value})


@pytest.mark.parametrize("value", [True, 443.0])
def test_a_port_shorthand_is_not_a_boolean_or_a_float(value: Any) -> None:
    refused("ports.0", flows=[flow(ports=[value])])


def test_max_entries_and_public_are_strict() -> None:
    with pytest.raises(PolicyError, match="'10' is text"):
        PrefixListPeer(prefix_list_id="pl-0123abcd", max_entries="10")  # type: ignore[arg-type]
    refused("public: input should be a valid boolean", flows=[flow(public="yes")])
    refused("public: input should be a valid boolean", flows=[flow(public=1)])


# --------------------------------------------------------------------------- tags


def test_policy_tags_and_hasgs_own_fit_in_awss_50() -> None:
    most = AWS_TAG_LIMIT - len(HASG_TAG_KEYS)
    tags = {f"t{i}": "v" for i in range(most)}
    blueprint = compile_policy(policy(tags=tags))
    assert all(set(HASG_TAG_KEYS) <= set(g.tags) for g in blueprint)  # the digest too
    assert max(len(g.tags) for g in blueprint) == AWS_TAG_LIMIT
    refused(f"{most + 1} tags, and hasg adds its own 5", tags={**tags, "one-more": "v"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hasg:owner", "me", "reserves the hasg: prefix"),
        ("HASG:owner", "me", "reserves the hasg: prefix"),
        ("hasg:policy-digest", "x", "hasg sets"),
        ("Name", "x", "hasg sets"),
        ("AWS:cloudformation", "x", "the aws: prefix is reserved by AWS"),
        ("k" * 129, "v", "must be 1 to 128 characters"),
        ("", "v", "must be 1 to 128 characters"),
        ("team", "v" * 257, "value is longer than 256 characters"),
        ("team<", "v", "the key contains '<'"),
        ("team", "a\nb", "the value contains '\\n'"),
        ("team", "a\u2028b", "the value contains"),  # a line separator: a Unicode "space"
        ("team", "\x1b[31m", "the value contains"),
        ("cafe\u0301", "v", "not in Unicode normal form C"),
        ("team", "Cafe\u0301", "write 'Café'"),
        ("\u212b", "v", "write 'Å'"),  # ANGSTROM SIGN is a letter; NFC makes it another
    ],
)
def test_tags_aws_or_terraform_would_refuse_or_change_are_refused(
    key: str, value: str, message: str
) -> None:
    refused(re.escape(message), tags={key: value})


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=128),
        st.text(max_size=256),
        min_size=1,
        max_size=AWS_TAG_LIMIT,
    )
)
def test_any_tags_are_either_refused_or_safe_for_aws_and_terraform(tags: dict[str, str]) -> None:
    try:
        accepted = policy(tags=tags).tags
    except PolicyError:
        return
    assert len(accepted) + len(HASG_TAG_KEYS) <= AWS_TAG_LIMIT
    for key, value in accepted.items():
        assert not key.lower().startswith(("aws:", "hasg:"))
        for text in (key, value):
            assert unicodedata.normalize("NFC", text) == text
            assert text.isprintable() or all(c.isalnum() or c.isspace() for c in text)
            assert not any(c in "\n\r\x85\u2028\u2029" for c in text)


def test_letters_of_every_script_are_fine() -> None:
    assert policy(tags={"équipe": "données", "チーム": "基盤", "cost center": "42"}).tags


# --------------------------------------------------------------------------- one error type


@pytest.mark.parametrize(
    "build",
    [
        lambda: Role(id="Web", description="x"),
        lambda: Role.model_validate({"id": "web"}),
        lambda: Port.tcp(70000),
        lambda: CidrPeer(cidr="10.0.0.1/8"),
        lambda: Flow.model_validate_json('{"source": "web"}'),
        lambda: Policy(cluster="sg-x", roles=()),
    ],
)
def test_model_constructors_raise_policy_error_a_hasg_error(build: Any) -> None:
    with pytest.raises(HasgError) as caught:
        build()
    assert isinstance(caught.value, PolicyError)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ValidationError)  # the details, for who wants them


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 65535),
            st.sampled_from(["tcp/443", "tcp/80", "tcp/80-443", "udp/443", "icmp", "all"]),
            st.integers(0, 65535).map(lambda p: f"udp/{p}"),
        ),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 6),
    st.sampled_from(["0.0.0.0/0", "::/0", "100.0.0.0/6", "2a00::/12"]),
    st.booleans(),
)
def test_a_wide_union_is_refused_exactly_when_a_port_is_not_https_or_its_redirect(
    ports: list[Any], depth: int, wide: str, as_list: bool
) -> None:
    pieces = [str(n) for n in ipaddress.ip_network(wide).subnets(prefixlen_diff=depth)]
    peer = "user_cidrs" if as_list else pieces[0]
    overrides: dict[str, Any] = {"user_cidrs": pieces} if as_list else {}
    opened = flow(source=peer, destination="web", ports=ports)
    safe = all(Port.model_validate(p).is_world_safe() for p in ports)
    try:
        policy(flows=[opened], **overrides)
        refused_here = False
    except PolicyError as error:
        refused_here = "may be open that wide" in str(error)
    # Every piece here is itself wider than a public /24 or /48, and the list is the whole.
    assert refused_here is not safe
