"""Every bad input of the policy model is refused with a message that says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hasg import Flow, Policy, Port, Role
from hasg.model import CidrPeer, PrefixListPeer, RolePeer


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
    with pytest.raises(ValidationError, match=match):
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
        ({"protocol": "gre", "from_port": 1}, "Input should be 'tcp', 'udp', 'icmp' or 'all'"),
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
    with pytest.raises(ValidationError, match="'pl-xyz' is not a prefix list id"):
        PrefixListPeer(prefix_list_id="pl-xyz", max_entries=5)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        PrefixListPeer(prefix_list_id="pl-0123456789abcdef0", max_entries=0)


def test_unknown_peer_shape() -> None:
    refused("a peer is a role id, a CIDR", flows=[flow(source={"host": "x"})])


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
    with pytest.raises(ValidationError, match=message):
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
    refused("Extra inputs are not permitted", colour="blue")
    refused("Extra inputs are not permitted", flows=[flow(why="x")])


def test_reserved_tags() -> None:
    refused("tag 'managed-by' is set by hasg itself", tags={"managed-by": "me"})
    refused("the aws: prefix is reserved", tags={"aws:x": "y"})


# --------------------------------------------------------------------------- the world


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_world_open_beyond_https_is_refused(world: str) -> None:
    refused(
        f"opens tcp/22 to {world}; only tcp/80 and tcp/443",
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
        r"opens tcp/22 to 0.0.0.0/0 \(in admin_cidrs\)",
        admin_cidrs=["0.0.0.0/0"],
        flows=[flow(source="admin_cidrs", destination="web", ports=[22])],
    )


def test_models_are_immutable() -> None:
    p = policy()
    with pytest.raises(ValidationError):
        p.cluster = "other"  # type: ignore[misc]


def test_library_values() -> None:
    f = Flow(
        source=RolePeer(role="web"),
        destination=RolePeer(role="db"),
        ports=(Port.tcp(1),),
        description="x",
    )
    assert f.label == "web-to-db"
