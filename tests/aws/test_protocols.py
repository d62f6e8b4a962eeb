"""Every IP protocol EC2 may hold in a group, in every spelling it may be sent
in, is read, planned, shown, verified, audited and revoked: hypothesis drives
it through moto's EC2 (which answers as EC2 does, see conftest)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends.aws import apply, plan
from hasg.backends.aws.render import plan_json, render_plan
from hasg.core.blueprint import Peer, Rule
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import EC2_NAMED, Cloud, assert_holds, ec2_protocol_answer, forget

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


@st.composite
def spelled_protocols(draw: st.DrawFn) -> str:
    """How a person or a tool may send IpProtocol: any number 0-255 as text,
    the four names in any case, -1 or all."""
    number = draw(st.integers(0, 255))
    return draw(
        st.sampled_from(
            [
                str(number),
                draw(st.sampled_from(sorted(EC2_NAMED))),
                draw(st.sampled_from(sorted(EC2_NAMED))).upper(),
                "-1",
                "all",
            ]
        )
    )


@st.composite
def permissions(draw: st.DrawFn) -> dict[str, Any]:
    sent = draw(spelled_protocols())
    answer = ec2_protocol_answer(sent)
    permission: dict[str, Any] = {"IpProtocol": sent, "IpRanges": [{"CidrIp": PEER}]}
    if answer in ("tcp", "udp"):
        low = draw(st.integers(0, 65535))
        permission |= {"FromPort": low, "ToPort": draw(st.integers(low, 65535))}
    elif answer in ("icmp", "icmpv6"):
        permission |= {"FromPort": draw(st.integers(-1, 255)), "ToPort": -1}
    elif answer != "-1":
        permission |= {"FromPort": -1, "ToPort": -1}  # EC2 ignores them; moto needs them
    return permission


def expected_rule(permission: dict[str, Any]) -> Rule:
    protocol = ec2_protocol_answer(permission["IpProtocol"])
    return Rule(
        "ingress",
        protocol,
        permission.get("FromPort", -1),
        permission.get("ToPort", -1),
        Peer("cidr_ipv4", PEER),
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(permission=permissions())
def test_any_protocol_is_read_reported_and_revoked(
    cloud: Cloud, permission: dict[str, Any]
) -> None:
    forget(cloud.vpcs)
    vpc_id = cloud.new_vpc()
    result = apply(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    cloud.ec2.authorize_security_group_ingress(
        GroupId=result.group_ids["gateway"], IpPermissions=[permission]
    )
    rule = expected_rule(permission)
    text = rule.ports_text()

    pending = plan(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    assert [(c.action, c.rule) for c in pending.changes.rules] == [("remove", rule)]
    assert f"- ingress {text} from {PEER}" in render_plan(pending)
    (change,) = plan_json(pending)["rules"]  # type: ignore[misc]
    assert change["protocol"] == rule.protocol

    verified = verify_vpc(POLICY, vpc_id, session=cloud.session)
    assert not verified.ok
    assert any(PEER in b.message for b in verified.of_kind("unnamed_cidr")), verified.breaches

    audited = audit_vpc(POLICY, vpc_id, session=cloud.session)
    assert [f.detail for f in audited.of_kind("extra_rule")] == [f"ingress {text} from {PEER}"]

    apply(BLUEPRINT, vpc_id=vpc_id, session=cloud.session)
    assert_holds(cloud, BLUEPRINT, vpc_id)


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
