"""Reading hasg's groups from EC2."""

from __future__ import annotations

import ipaddress
from typing import Any

from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from hasg.backends.aws.read import Vpc, live_state, read_groups_again, read_rules
from hasg.backends.aws.session import make_client
from hasg.core.blueprint import Peer, Rule, group_name
from hasg.core.tags import ownership_tags

from .conftest import REGION


def test_hasgs_groups_are_read_across_pages() -> None:
    """moto answers in one page; AWS may not. botocore's Stubber plays AWS here."""
    client = make_client(region=REGION)
    filters = [{"Name": "vpc-id", "Values": ["vpc-0123456789abcdef0"]}]

    def group(role: str) -> dict[str, object]:
        tags = [{"Key": k, "Value": v} for k, v in ownership_tags("c", role).items()]
        name = group_name("c", role)
        return {"GroupId": f"sg-0{role}", "GroupName": name, "Description": role, "Tags": tags}

    with Stubber(client) as stub:
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [group("web")], "NextToken": "page-2"},
            {"Filters": filters},
        )
        stub.add_response(
            "describe_security_groups",
            {"SecurityGroups": [group("db")]},
            {"Filters": filters, "NextToken": "page-2"},
        )
        vpc = Vpc("vpc-0123456789abcdef0", "10.0.0.0/16")
        live = read_groups_again(client, vpc, "c", default_group=False)
    assert live.group_ids == {"db": "sg-0db", "web": "sg-0web"}


# The stack's no-traffic egress rule (hasg.core.no_traffic), as EC2 answers it,
# and every way a rule can come near it without being it.
MARKER: dict[str, Any] = {
    "direction": "egress",
    "IpProtocol": "icmp",
    "FromPort": 252,
    "ToPort": 86,
    "peer": ("IpRanges", {"CidrIp": "255.255.255.255/32"}),
}
WIDER_THAN_BROADCAST = st.integers(0, 31).map(
    lambda bits: str(ipaddress.ip_network(f"255.255.255.255/{bits}", strict=False))
)
NEAR = {
    "direction": st.just("ingress"),
    "IpProtocol": st.one_of(
        st.integers(0, 255).filter(lambda n: n != 1).map(str),
        st.sampled_from(["-1", "tcp", "udp", "icmpv6", "TCP", "58", "50"]),
    ),
    "FromPort": st.integers(-1, 255).filter(lambda n: n != 252),
    "ToPort": st.integers(-1, 255).filter(lambda n: n != 86),
    "peer": st.one_of(
        WIDER_THAN_BROADCAST.map(lambda c: ("IpRanges", {"CidrIp": c})),
        st.ip_addresses(v=4)
        .filter(lambda a: str(a) != "255.255.255.255")
        .map(lambda a: ("IpRanges", {"CidrIp": f"{a}/32"})),
        st.sampled_from(["::ffff:255.255.255.255/128", "::/0", "ff02::1/128"]).map(
            lambda c: ("Ipv6Ranges", {"CidrIpv6": c})
        ),
        st.just(("PrefixListIds", {"PrefixListId": "pl-0123456789abcdef0"})),
        st.just(("UserIdGroupPairs", {"GroupId": "sg-0123456789abcdef0"})),
    ),
}


def near_miss() -> st.SearchStrategy[dict[str, Any]]:
    """The marker with one or more of its parts changed to something else."""
    return st.sets(st.sampled_from(sorted(NEAR)), min_size=1).flatmap(
        lambda changed: st.fixed_dictionaries(
            {k: NEAR[k] if k in changed else st.just(v) for k, v in MARKER.items()}
        )
    )


def raw_group(*rules: tuple[dict[str, Any], str]) -> dict[str, Any]:
    """A group hasg owns as DescribeSecurityGroups answers it, one permission per rule."""
    permissions: dict[str, list[dict[str, Any]]] = {"ingress": [], "egress": []}
    for rule, description in rules:
        field, peer = rule["peer"]
        permission = {"IpProtocol": rule["IpProtocol"], field: [{**peer}]}
        permission[field][0]["Description"] = description
        if rule["IpProtocol"] != "-1":
            permission.update(FromPort=rule["FromPort"], ToPort=rule["ToPort"])
        permissions[rule["direction"]].append(permission)
    tags = [{"Key": k, "Value": v} for k, v in ownership_tags("c", "web").items()]
    return {
        "GroupId": "sg-0web",
        "GroupName": group_name("c", "web"),
        "Description": "web",
        "OwnerId": "123456789012",
        "Tags": tags,
        "IpPermissions": permissions["ingress"],
        "IpPermissionsEgress": permissions["egress"],
    }


@settings(max_examples=400, deadline=None)
@given(
    near_miss(),
    st.sampled_from(["icmp", "1", "ICMP", "01"]),
    st.text(max_size=20),
    st.booleans(),
)
def test_only_the_stacks_no_traffic_rule_reads_as_no_rule(
    near: dict[str, Any], icmp: str, marker_description: str, with_marker: bool
) -> None:
    """A group a stack deployed holds the inline no-traffic egress rule: in any
    spelling of ICMP and with any description it is no rule, so `audit --vpc`
    does not call it drift. Anything that merely resembles it (another type,
    code, protocol, direction, a wider network, another peer) is a rule and is
    read, beside the group's other rules."""
    other = ({**MARKER, "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}, "other")
    rules = [(near, "near miss"), other]
    if with_marker:
        rules.append(({**MARKER, "IpProtocol": icmp}, marker_description))
    live = live_state("c", [raw_group(*rules)])
    assert sorted(r.description for r in live.blueprint["web"].rules) == ["near miss", "other"]


# DescribeSecurityGroupRules answers, written out as EC2 gives them (API
# reference, SecurityGroupRule): a rule of group sg-0web of account
# 111122223333 that references sg-0db.
RULE_TO_DB: dict[str, Any] = {
    "SecurityGroupRuleId": "sgr-0123456789abcdef0",
    "GroupId": "sg-0web",
    "IsEgress": True,
    "IpProtocol": "tcp",
    "FromPort": 5432,
    "ToPort": 5432,
    "ReferencedGroupInfo": {"GroupId": "sg-0db", "UserId": "111122223333"},
    "Description": "web queries the database",
}


def read_one_rule(answer: dict[str, Any], owner_ids: dict[str, str]) -> Rule:
    client = make_client(region=REGION)
    group_ids = {"web": "sg-0web", "db": "sg-0db"}
    with Stubber(client) as stub:
        stub.add_response(
            "describe_security_group_rules",
            {"SecurityGroupRules": [answer]},
            {"Filters": [{"Name": "group-id", "Values": ["sg-0db", "sg-0web"]}]},
        )
        ((role, rule_id, rule),) = read_rules(client, group_ids, owner_ids)
    assert (role, rule_id) == ("web", "sgr-0123456789abcdef0")
    return rule


def test_a_rule_names_a_group_of_its_own_account_by_role() -> None:
    answered = {**RULE_TO_DB, "GroupOwnerId": "111122223333"}
    rule = read_one_rule(answered, {"sg-0web": "111122223333"})
    assert rule == Rule(
        "egress", "tcp", 5432, 5432, Peer("group", "db"), description="web queries the database"
    )


def test_a_rule_without_group_owner_id_takes_its_groups_owner() -> None:
    """moto 5 leaves GroupOwnerId out: the group's OwnerId, from the read that
    found it, says whose the rule is."""
    rule = read_one_rule(RULE_TO_DB, {"sg-0web": "111122223333"})
    assert rule.peer == Peer("group", "db")


def test_a_group_of_another_account_keeps_its_account() -> None:
    other = {**RULE_TO_DB, "ReferencedGroupInfo": {"GroupId": "sg-0db", "UserId": "444455556666"}}
    for answered in ({**other, "GroupOwnerId": "111122223333"}, other):
        rule = read_one_rule(answered, {"sg-0web": "111122223333"})
        assert rule.peer == Peer("group", "444455556666/sg-0db")
