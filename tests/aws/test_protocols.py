"""Every IP protocol EC2 may hold in a group is read, planned, shown, verified,
audited and revoked, from IpPermissions written as EC2 answers them; and every
spelling a policy file may use for a port reaches EC2 as EC2 spells it.

The expectations are written out here from EC2's API reference and the
policy's documented port words, never computed by hasg or by the fixture that
makes moto answer as EC2 does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends.aws import apply, plan
from hasg.backends.aws.permissions import from_ip_permissions
from hasg.backends.aws.planner import plan_json, render_plan
from hasg.policy.file import load_policy_text
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import EC2_PROTOCOL_NAMES, Cloud, assert_holds, forget, new_session

POLICY = hasg.Policy.model_validate(
    {
        "cluster": "proto",
        "roles": [{"id": "gateway", "description": "VPN gateways"}],
        "flows": [
            {
                "source": "198.51.100.0/24",
                "destination": "gateway",
                "ports": ["udp/500", "udp/4500"],
                "description": "IKE from the partner",
            }
        ],
    }
)
BLUEPRINT = hasg.compile_policy(POLICY)
PEER = "203.0.113.0/24"
OWNER = "123456789012"


@st.composite
def ec2_answers(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """An IpPermission as EC2 answers it (API reference, IpPermission.IpProtocol:
    tcp, udp, icmp and icmpv6 by name, all traffic as -1, every other protocol
    as its decimal number, without ports), and its text in hasg's documented
    words (docs/aws.md: `proto/50`, `all`; the policy's port words)."""
    number = draw(st.integers(0, 255).filter(lambda n: str(n) not in EC2_PROTOCOL_NAMES))
    answer = draw(st.sampled_from(["tcp", "udp", "icmp", "icmpv6", "-1", str(number)]))
    permission: dict[str, Any] = {"IpProtocol": answer, "IpRanges": [{"CidrIp": PEER}]}
    if answer in ("tcp", "udp"):
        low = draw(st.integers(0, 65535))
        high = draw(st.integers(low, 65535))
        permission |= {"FromPort": low, "ToPort": high}
        return permission, f"{answer}/{low}" if low == high else f"{answer}/{low}-{high}"
    if answer in ("icmp", "icmpv6"):
        icmp_type = draw(st.integers(-1, 255))
        permission |= {"FromPort": icmp_type, "ToPort": -1}
        return permission, answer if icmp_type == -1 else f"{answer}/{icmp_type}"
    if answer == "-1":
        return permission, "all"
    # EC2 answers no ports for it; moto's authorize wants them sent.
    return permission | {"FromPort": -1, "ToPort": -1}, f"proto/{answer}"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answered=ec2_answers())
def test_any_protocol_ec2_answers_is_read_reported_and_revoked(
    cloud: Cloud, answered: tuple[dict[str, Any], str]
) -> None:
    permission, text = answered
    forget(cloud.vpcs)
    vpc_id = cloud.new_vpc()
    result = apply(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    cloud.ec2.authorize_security_group_ingress(
        GroupId=result.group_ids["gateway"], IpPermissions=[permission]
    )

    pending = plan(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    assert [(c.action, c.rule.ports_text()) for c in pending.changes.rules] == [("remove", text)]
    assert f"- ingress {text} from {PEER}" in render_plan(pending)
    (change,) = plan_json(pending)["rules"]  # type: ignore[misc]
    assert change["protocol"] == permission["IpProtocol"]  # as EC2 answers it

    verified = verify_vpc(POLICY, vpc_id, session=cloud.session)
    assert not verified.ok
    assert any(
        b.message.startswith(f"gateway ingress opens {text} from {PEER}")
        for b in verified.of_kind("unnamed_cidr")
    ), verified.breaches

    audited = audit_vpc(POLICY, vpc_id, session=cloud.session)
    assert [f.detail for f in audited.of_kind("extra_rule")] == [f"ingress {text} from {PEER}"]

    apply(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    assert_holds(cloud, BLUEPRINT, vpc_id)


# IpPermissions exactly as EC2 answers them in DescribeSecurityGroups, one peer
# each, and what hasg must read: the rule's text and its protocol in JSON.
EC2_ANSWERS = [
    ({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}, "tcp/5432", "tcp"),
    ({"IpProtocol": "udp", "FromPort": 500, "ToPort": 4500}, "udp/500-4500", "udp"),
    ({"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1}, "icmp", "icmp"),
    ({"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1}, "icmp/8", "icmp"),
    ({"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4}, "icmp/3:4", "icmp"),
    ({"IpProtocol": "icmpv6", "FromPort": 128, "ToPort": -1}, "icmpv6/128", "icmpv6"),
    ({"IpProtocol": "-1"}, "all", "-1"),
    ({"IpProtocol": "50"}, "proto/50", "50"),
    ({"IpProtocol": "47"}, "proto/47", "47"),
    ({"IpProtocol": "0"}, "proto/0", "0"),
    ({"IpProtocol": "255"}, "proto/255", "255"),
]


@pytest.mark.parametrize(
    ("answer", "text", "protocol"), EC2_ANSWERS, ids=[t for _, t, _ in EC2_ANSWERS]
)
@pytest.mark.parametrize(
    "peer",
    [
        ("IpRanges", {"CidrIp": "198.51.100.0/24"}, "198.51.100.0/24"),
        ("Ipv6Ranges", {"CidrIpv6": "2001:db8::/32"}, "2001:db8::/32"),
        ("UserIdGroupPairs", {"GroupId": "sg-0db", "UserId": OWNER}, "group db"),
        ("PrefixListIds", {"PrefixListId": "pl-0123456789abcdef0"}, "pl-0123456789abcdef0"),
    ],
    ids=["ipv4", "ipv6", "group", "prefix-list"],
)
def test_what_ec2_answers_is_read_as_what_it_is(
    answer: dict[str, Any], text: str, protocol: str, peer: tuple[str, dict[str, str], str]
) -> None:
    key, entry, peer_text = peer
    permission = {**answer, key: [{**entry, "Description": "why"}]}
    (rule,) = from_ip_permissions("ingress", [permission], {"sg-0db": "db"}, OWNER)  # type: ignore[list-item]
    assert (rule.direction, rule.ports_text(), rule.protocol) == ("ingress", text, protocol)
    assert (str(rule.peer), rule.description) == (peer_text, "why")


# Each port word a policy file may hold (the policy's documented forms), and
# the IpPermission EC2 must receive for it, whatever its case and spacing.
POLICY_PORTS = {
    "tcp/5000-5010": {"IpProtocol": "tcp", "FromPort": 5000, "ToPort": 5010},
    "tcp/22": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22},
    "udp/500": {"IpProtocol": "udp", "FromPort": 500, "ToPort": 500},
    "icmp": {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1},
    "icmp/8": {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1},
    "icmp/3:4": {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4},
    "all": {"IpProtocol": "-1"},
}


@st.composite
def spelled(draw: st.DrawFn, word: str) -> str:
    """`word` in any case, with spaces around it: as a person may type it."""
    letters = [draw(st.sampled_from([c.lower(), c.upper()])) for c in word]
    return (
        draw(st.sampled_from(["", " ", "  "])) + "".join(letters) + draw(st.sampled_from(["", " "]))
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), word=st.sampled_from(sorted(POLICY_PORTS)))
def test_any_spelling_of_a_policy_port_reaches_ec2_as_ec2_spells_it(
    cloud: Cloud, data: st.DataObject, word: str
) -> None:
    written = data.draw(spelled(word))
    policy = load_policy_text(
        "cluster: spelled\n"
        "roles:\n  - {id: gateway, description: VPN gateways}\n"
        "flows:\n"
        f"  - {{source: {PEER}, destination: gateway, ports: [{written!r}], description: why}}\n",
        name="policy.yaml",
    )
    sent: list[dict[str, Any]] = []
    session = new_session()
    session.events.register(
        "provide-client-params.ec2.AuthorizeSecurityGroupIngress",
        lambda params, **_: sent.extend(params["IpPermissions"]),
    )
    forget(cloud.vpcs)
    apply(hasg.compile_policy(policy), vpc_id=cloud.new_vpc(), session=session)

    assert sent == [{**POLICY_PORTS[word], "IpRanges": [{"CidrIp": PEER, "Description": "why"}]}]


def test_esp_and_gre_are_shown_as_what_they_are(cloud: Cloud) -> None:
    result = apply(BLUEPRINT, vpc_id=cloud.vpc_id, session=cloud.session)
    for protocol in ("50", "47"):
        cloud.ec2.authorize_security_group_ingress(
            GroupId=result.group_ids["gateway"],
            IpPermissions=[
                {
                    "IpProtocol": protocol,
                    "FromPort": -1,
                    "ToPort": -1,
                    "IpRanges": [{"CidrIp": PEER}],
                }
            ],
        )
    verified = verify_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    messages = [b.message for b in verified.of_kind("unnamed_cidr")]
    assert messages == [
        f"gateway ingress opens proto/{n} from {PEER}, which the policy does not name for gateway"
        for n in (47, 50)
    ]
    shown = render_plan(plan(BLUEPRINT, vpc_id=cloud.vpc_id, session=cloud.session))
    assert f"- ingress proto/47 from {PEER}" in shown and f"- ingress proto/50 from {PEER}" in shown
