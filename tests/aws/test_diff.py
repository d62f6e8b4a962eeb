"""The diff is pure: what it returns, applied to the live state, gives the Blueprint."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup, group_name
from hasg.core.diff import (
    AWS_DEFAULT_EGRESS_IPV4,
    Changes,
    RuleChange,
    TagChange,
    diff,
)
from hasg.core.digest import policy_digest, with_digest
from hasg.core.protocols import canonical_protocol, has_ports
from hasg.core.tags import POLICY_DIGEST_TAG, ownership_tags
from hasg.core.transforms import resolve_vpc_peers

CLUSTER = "c1"
ROLES = ["web", "db", "cache"]


def group(role: str, rules: tuple[Rule, ...] = (), description: str = "d") -> SecurityGroup:
    tags = {**ownership_tags(CLUSTER, role), "Name": group_name(CLUSTER, role)}
    return SecurityGroup(role, group_name(CLUSTER, role), description, tags, rules)


peers = st.one_of(
    st.sampled_from(ROLES).map(lambda r: Peer("group", r)),
    st.sampled_from(["10.0.0.0/16", "0.0.0.0/0"]).map(lambda c: Peer("cidr_ipv4", c)),
)
# Every IP protocol, in every spelling a reader may meet, canonicalized as the
# readers do; ports only where AWS reads them (-1 elsewhere, as EC2 answers).
protocols = st.one_of(
    st.integers(-1, 255),
    st.integers(0, 255).map(str),
    st.sampled_from(["tcp", "UDP", "Icmp", "icmpv6", "all", "-1", "esp", "gre", "ah", "sctp"]),
).map(canonical_protocol)


@st.composite
def rule_strategy(draw: st.DrawFn) -> Rule:
    protocol = draw(st.one_of(st.just("tcp"), protocols))
    low = high = -1
    if has_ports(protocol):
        low = draw(st.sampled_from([-1, 0, 8, 22, 443, 5432]))
        high = low if protocol in ("tcp", "udp") else draw(st.sampled_from([-1, 0]))
    if protocol in ("tcp", "udp") and low == -1:
        low = high = 22
    return Rule(
        draw(st.sampled_from(["ingress", "egress"])),
        protocol,
        low,
        high,
        draw(peers),
        description=draw(st.sampled_from(["", "a", "b"])),
    )


@st.composite
def blueprints(draw: st.DrawFn, *, live: bool = False) -> Blueprint:
    """Blueprints of the cluster; `live` ones also have what a person may have
    done to the groups: another description, another name (a group someone
    tagged as hasg's), another policy's digest."""
    roles = draw(st.lists(st.sampled_from(ROLES), unique=True))
    groups = []
    for role in roles:
        rules = draw(st.lists(rule_strategy(), max_size=6, unique_by=lambda r: r.key))
        kept = tuple(r for r in rules if r.peer.kind != "group" or r.peer.value in roles)
        tags = draw(st.sampled_from([{}, {"team": "x"}]))
        description = draw(st.sampled_from(["d", "d ", "D", "other"])) if live else "d"
        base = group(role, kept, description)
        if live:
            name = draw(st.sampled_from([base.name, f"{base.name}-old", f"payments-{role}"]))
            digest = draw(st.sampled_from([{}, {POLICY_DIGEST_TAG: "0123456789abcdef"}]))
            base = base.replace(name=name, tags={**base.tags, **digest})
        groups.append(base.replace(tags={**base.tags, **tags}))
    return Blueprint(CLUSTER, tuple(groups))


def execute(live: Blueprint, changes: Changes, new_group_rules: tuple[Rule, ...]) -> Blueprint:
    """What AWS would hold after the changes: a model of EC2, for the property."""
    groups = {g.role: g for g in live}
    rules = {g.role: {r.key: r for r in g.rules} for g in live}
    for change in changes.groups:
        if change.action == "create":
            groups[change.role] = change.group
            rules[change.role] = {r.key: r for r in new_group_rules}
        else:
            del groups[change.role]
    for rule_change in changes.rules:
        held = rules.get(rule_change.role)
        if held is None:
            continue
        if rule_change.action == "remove":
            del held[rule_change.rule.key]
        else:
            held[rule_change.rule.key] = rule_change.rule
    for tag_change in changes.tags:
        g = groups[tag_change.role]
        groups[tag_change.role] = g.replace(tags={**g.tags, **tag_change.tags})
    return Blueprint(
        live.cluster,
        tuple(g.replace(rules=tuple(rules[role].values())) for role, g in groups.items()),
    )


@given(blueprints(), blueprints(live=True))
def test_executing_the_changes_gives_the_blueprint(desired: Blueprint, live: Blueprint) -> None:
    changes = diff(desired, live, new_group_rules=(AWS_DEFAULT_EGRESS_IPV4,))
    after = execute(live, changes, (AWS_DEFAULT_EGRESS_IPV4,))
    assert after.roles == desired.roles
    assert {(g.role, r.key, r.description) for g in after for r in g.rules} == {
        (g.role, r.key, r.description) for g in desired for r in g.rules
    }
    for have, want in zip(after, desired, strict=True):
        assert dict(want.tags).items() <= dict(have.tags).items()
    assert diff(desired, after).empty


@given(blueprints(), blueprints(live=True))
def test_a_blocker_names_every_group_aws_cannot_change_in_place_and_only_those(
    desired: Blueprint, live: Blueprint
) -> None:
    """AWS renames no group and changes no group description: each such live
    group is a blocker that names it; every other group is none."""
    changes = diff(desired, live)
    blocked: dict[str, list[str]] = {}
    for blocker in changes.blockers:
        blocked.setdefault(blocker.role, []).append(blocker.message)
    for want in desired:
        if want.role not in live.roles:
            assert want.role not in blocked
            continue
        have = live[want.role]
        expected = (have.description != want.description) + (have.name != want.name)
        assert len(blocked.get(want.role, [])) == expected, (have, want)
        assert all(have.name in message for message in blocked.get(want.role, []))


@given(blueprints(), st.data())
def test_the_policy_digest_tells_policies_apart_and_ignores_its_own_tag(
    blueprint: Blueprint, data: st.DataObject
) -> None:
    tagged = with_digest(blueprint)
    assert policy_digest(tagged) == policy_digest(blueprint)
    assert with_digest(tagged) == tagged
    assert {g.tags[POLICY_DIGEST_TAG] for g in tagged} <= {policy_digest(blueprint)}
    assert diff(tagged, tagged).empty
    if not blueprint.groups:
        return
    role = data.draw(st.sampled_from(blueprint.roles))
    rule = data.draw(rule_strategy())
    group = blueprint[role]
    others = tuple(g for g in blueprint if g.role != role)
    for changed in (
        group.replace(rules=(*group.rules, rule)) if rule not in group.rules else None,
        group.replace(rules=group.rules[1:]) if group.rules else None,
        group.replace(tags={**group.tags, "team": "y"}),
        group.replace(description=group.description + "!"),
    ):
        if changed is not None:
            other = Blueprint(blueprint.cluster, (*others, changed))
            assert policy_digest(other) != policy_digest(blueprint)
            assert not diff(with_digest(other), tagged).empty


@given(blueprints())
def test_a_blueprint_against_itself_is_no_change(blueprint: Blueprint) -> None:
    assert diff(blueprint, blueprint) == Changes()


def test_new_groups_lose_aws_default_egress() -> None:
    web = group("web", (Rule("egress", "tcp", 443, 443, Peer("cidr_ipv4", "0.0.0.0/0"), "out"),))
    changes = diff(
        Blueprint(CLUSTER, (web,)),
        Blueprint(CLUSTER, ()),
        new_group_rules=(AWS_DEFAULT_EGRESS_IPV4,),
    )
    assert [(c.action, c.role) for c in changes.groups] == [("create", "web")]
    assert RuleChange("web", "remove", AWS_DEFAULT_EGRESS_IPV4) in changes.rules


def test_description_changes_in_place_and_tags_are_added() -> None:
    old = Rule("ingress", "tcp", 22, 22, Peer("group", "web"), "old")
    live = group("web", (old,)).replace(tags={"managed-by": "hasg"})
    want = group("web", (replace(old, description="new"),))
    changes = diff(Blueprint(CLUSTER, (want,)), Blueprint(CLUSTER, (live,)))
    assert changes.rules == (RuleChange("web", "update", replace(old, description="new"), "old"),)
    assert changes.rules[0].old_description == "old"
    assert changes.tags == (
        TagChange("web", {k: v for k, v in want.tags.items() if k != "managed-by"}),
    )


def test_a_changed_group_description_blocks_and_nothing_replaces_the_group() -> None:
    changes = diff(
        Blueprint(CLUSTER, (group("web", description="new words"),)),
        Blueprint(CLUSTER, (group("web", description="old words"),)),
    )
    assert changes.empty
    (blocker,) = changes.blockers
    assert "'old words'" in blocker.message and "'new words'" in blocker.message
    assert "cannot change" in blocker.message


def test_a_deleted_group_first_loses_the_rules_that_tie_it_to_other_deleted_groups() -> None:
    web_to_db = Rule("egress", "tcp", 5432, 5432, Peer("group", "db"))
    db_from_web = Rule("ingress", "tcp", 5432, 5432, Peer("group", "web"))
    db_out = Rule("egress", "tcp", 443, 443, Peer("cidr_ipv4", "0.0.0.0/0"))
    live = Blueprint(CLUSTER, (group("web", (web_to_db,)), group("db", (db_from_web, db_out))))
    changes = diff(Blueprint(CLUSTER, ()), live)
    assert {(c.action, c.role) for c in changes.groups} == {("delete", "web"), ("delete", "db")}
    assert set(changes.rules) == {
        RuleChange("web", "remove", web_to_db),
        RuleChange("db", "remove", db_from_web),
    }


def test_vpc_peers_become_the_vpc_cidr_and_merge_with_the_same_cidr() -> None:
    from_vpc = Rule("ingress", "tcp", 443, 443, Peer("vpc"), "users")
    from_cidr = Rule("ingress", "tcp", 443, 443, Peer("cidr_ipv4", "10.1.0.0/16"), "admins")
    other = Rule("ingress", "tcp", 80, 80, Peer("vpc"), "redirect")
    resolved = resolve_vpc_peers(
        Blueprint(CLUSTER, (group("web", (from_vpc, from_cidr, other)),)), "10.1.0.0/16"
    )
    assert {(r.ports_text(), r.peer, r.description) for r in resolved["web"].rules} == {
        ("tcp/443", Peer("cidr_ipv4", "10.1.0.0/16"), "admins; users"),
        ("tcp/80", Peer("cidr_ipv4", "10.1.0.0/16"), "redirect"),
    }
