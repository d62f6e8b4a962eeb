"""Property tests of the guards around the VPC's default group and the one read
of the whole VPC: the diff revokes every rule of the default group with the
option and none without; the live reader takes only the group AWS names
`default` in this VPC; a stranger holding a new group's name, in any case,
blocks the create."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hasg.backends.aws.read import live_state, name_conflicts, with_default_group
from hasg.core.blueprint import DEFAULT_GROUP, Blueprint, Rule, SecurityGroup, group_name
from hasg.core.diff import diff
from hasg.core.tags import ownership_tags

from .test_diff import blueprints, rule_strategy

VPC = "vpc-0123456789abcdef0"
default_rules = st.lists(rule_strategy(), max_size=6, unique_by=lambda r: r.key).map(tuple)


@given(blueprints(), blueprints(live=True), default_rules)
def test_with_the_option_every_rule_of_the_default_group_is_revoked(
    desired: Blueprint, live: Blueprint, held: tuple[Rule, ...]
) -> None:
    changes = diff(desired.replace(default_group=()), live.replace(default_group=held))

    assert sorted(c.rule for c in changes.default_group) == sorted(held)
    assert {(c.role, c.action) for c in changes.default_group} <= {(DEFAULT_GROUP, "remove")}
    assert changes.default_group_difference == ""
    assert not changes.empty or (not held and diff(desired, live).empty)
    # The default group changes nothing of hasg's own groups' plan.
    without = diff(desired, live)
    assert (changes.groups, changes.rules, changes.tags) == (
        without.groups,
        without.rules,
        without.tags,
    )


@given(blueprints(), blueprints(live=True), st.one_of(st.none(), default_rules))
def test_without_the_option_the_default_group_is_never_changed(
    desired: Blueprint, live: Blueprint, held: tuple[Rule, ...] | None
) -> None:
    changes = diff(desired, live.replace(default_group=held))

    assert changes.default_group == ()
    # A side that manages it anyway differs from the policy (an audit's finding).
    assert changes.default_group_difference == ("" if held is None else "unwanted")


@given(blueprints(), default_rules)
def test_the_option_against_a_side_that_says_nothing_is_missing(
    desired: Blueprint, held: tuple[Rule, ...]
) -> None:
    assert diff(desired.replace(default_group=held), desired).default_group_difference == (
        "missing"
    )


# Names a stranger could give a group, next to the one AWS gives the default group.
near_default = st.sampled_from(["Default", "DEFAULT", "default ", " default", "default-1", "sg"])


def raw_group(name: str, group_id: str, vpc_id: str = VPC, **extra: Any) -> Any:
    return {"GroupName": name, "GroupId": group_id, "VpcId": vpc_id, "OwnerId": "1", **extra}


@given(st.lists(near_default, max_size=4), st.data())
def test_only_the_group_named_default_in_this_vpc_is_the_default_group(
    strangers: list[str], data: st.DataObject
) -> None:
    egress = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    raws = [raw_group(n, f"sg-0{i}", IpPermissionsEgress=egress) for i, n in enumerate(strangers)]
    mine = raw_group("default", "sg-0mine", IpPermissionsEgress=[])
    elsewhere = raw_group("default", "sg-0else", "vpc-0a", IpPermissionsEgress=egress)
    raws = data.draw(st.permutations([*raws, mine, elsewhere]))

    live = with_default_group(live_state("c", raws), VPC)

    assert live.default_group_id == "sg-0mine"
    assert live.blueprint.default_group == ()


@st.composite
def case_variants(draw: st.DrawFn, text: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in text)


@given(st.data(), st.sampled_from(["automate", "chef_server", "postgresql"]))
def test_a_strangers_group_of_a_new_groups_name_blocks_in_any_case(
    data: st.DataObject, role: str
) -> None:
    name = group_name("c", role)
    spelled = data.draw(case_variants(name))
    new = SecurityGroup(role, name, "d", ownership_tags("c", role))
    stranger = raw_group(spelled, "sg-0stranger")
    ours = raw_group(name, "sg-0ours", Tags=[{"Key": k, "Value": v} for k, v in new.tags.items()])
    unrelated = raw_group(name + "-x", "sg-0other")

    blocked = name_conflicts(live_state("c", [stranger, unrelated]), "c", [new])
    adopted = name_conflicts(live_state("c", [ours, unrelated]), "c", [new])

    assert [b.role for b in blocked] == [role] and blocked[0].kind == "name_taken"
    assert "sg-0stranger" in blocked[0].message
    assert adopted == []
