"""Rules <-> IpPermissions: what hasg writes is what it reads back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hasg.backends.aws.permissions import from_ip_permissions, group_reference, to_ip_permissions
from hasg.core.blueprint import Peer, Rule
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.errors import HasgError

GROUP_IDS = {"web": "sg-0aaa", "db": "sg-0bbb"}
ROLES_BY_ID = {v: k for k, v in GROUP_IDS.items()}
OWNER = "123456789012"

peers = st.one_of(
    st.sampled_from(["web", "db", "sg-0ccc", "210987654321/sg-0ddd"]).map(
        lambda v: Peer("group", v)
    ),
    st.sampled_from(["10.0.0.0/16", "0.0.0.0/0", "192.168.4.0/24"]).map(
        lambda v: Peer("cidr_ipv4", v)
    ),
    st.sampled_from(["2001:db8::/48", "::/0"]).map(lambda v: Peer("cidr_ipv6", v)),
    st.sampled_from(["pl-0123456789abcdef0", "pl-12345678"]).map(lambda v: Peer("prefix_list", v)),
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    # Every IP protocol: the named four, all traffic, and any number 0-255.
    protocol = draw(
        st.one_of(
            st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "-1"]),
            st.integers(0, 255).map(canonical_protocol),
        )
    )
    if not has_ports(protocol):
        low = high = -1
    elif protocol in ("icmp", "icmpv6"):
        low, high = draw(st.sampled_from([(-1, -1), (8, -1), (3, 4)]))
    else:
        low = draw(st.integers(0, 65535))
        high = draw(st.integers(low, 65535))
    return Rule(
        direction="egress",
        protocol=protocol,  # type: ignore[arg-type]
        from_port=low,
        to_port=high,
        peer=draw(peers),
        description=draw(st.sampled_from(["", "why", "Habitat gossip 9638"])),
    )


@given(st.lists(rules(), max_size=12, unique_by=lambda r: r.key))
def test_rules_survive_the_round_trip_with_their_descriptions(written: list[Rule]) -> None:
    permissions = to_ip_permissions(written, GROUP_IDS)
    read = list(from_ip_permissions("egress", permissions, ROLES_BY_ID, OWNER))  # type: ignore[arg-type]
    assert sorted((r.key, r.description) for r in read) == sorted(
        (r.key, r.description) for r in written
    )


def test_one_permission_per_port_range_with_every_peer() -> None:
    written = [
        Rule("ingress", "tcp", 443, 443, Peer("cidr_ipv4", "10.0.0.0/16"), "users"),
        Rule("ingress", "tcp", 443, 443, Peer("group", "web"), "web"),
        Rule("ingress", "-1", -1, -1, Peer("cidr_ipv6", "::/0")),
    ]
    assert to_ip_permissions(written, GROUP_IDS) == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "users"}],
            "UserIdGroupPairs": [{"GroupId": "sg-0aaa", "Description": "web"}],
        },
        # All traffic has no ports in EC2's model.
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    ]


@given(st.integers(0, 255), st.sampled_from([None, -1, 0, 17]))
def test_a_protocol_without_ports_reads_without_them_whatever_was_sent(
    number: int, port: int | None
) -> None:
    """EC2 ignores the ports of every protocol but tcp/udp/icmp/icmpv6; a reader
    that kept what a look-alike echoes would plan to revoke what is not there."""
    permission: dict[str, object] = {
        "IpProtocol": str(number),
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    if port is not None:
        permission |= {"FromPort": port, "ToPort": port}
    (rule,) = from_ip_permissions("ingress", [permission], {}, OWNER)  # type: ignore[list-item]
    assert rule.protocol == canonical_protocol(number)
    if not has_ports(rule.protocol):
        assert (rule.from_port, rule.to_port) == (-1, -1)
        assert rule.ports_text() == f"proto/{number}"


def test_protocol_numbers_read_as_names() -> None:
    permissions = [
        {"IpProtocol": "6", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "58", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "50", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ]
    read = list(from_ip_permissions("ingress", permissions, {}, OWNER))  # type: ignore[arg-type]
    assert [(r.protocol, r.from_port, r.to_port) for r in read] == [
        ("tcp", 22, 22),
        ("icmpv6", -1, -1),
        ("50", -1, -1),
    ]


def test_a_foreign_group_keeps_its_id_and_account() -> None:
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "UserIdGroupPairs": [
                {"GroupId": "sg-0aaa", "UserId": OWNER},
                {"GroupId": "sg-0eee", "UserId": OWNER},
                {"GroupId": "sg-0aaa", "UserId": "210987654321"},
            ],
        }
    ]
    read = list(from_ip_permissions("ingress", permissions, ROLES_BY_ID, OWNER))  # type: ignore[arg-type]
    assert [r.peer.value for r in read] == ["web", "sg-0eee", "210987654321/sg-0aaa"]
    assert group_reference("210987654321/sg-0aaa", {}) == {
        "UserId": "210987654321",
        "GroupId": "sg-0aaa",
    }


def test_unresolved_peers_are_refused() -> None:
    with pytest.raises(HasgError, match="role 'cache'"):
        group_reference("cache", GROUP_IDS)
    with pytest.raises(ValueError, match="vpc"):
        to_ip_permissions([Rule("ingress", "tcp", 1, 1, Peer("vpc"))], GROUP_IDS)
