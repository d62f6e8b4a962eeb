"""plan / apply / destroy against moto's EC2, read back with DescribeSecurityGroups."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

import hasg
from hasg.backends.aws import apply, destroy, plan
from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.core.tags import ownership_tags
from hasg.errors import HasgError, OwnershipError

from .conftest import (
    REGION,
    TIMELINE_LATENCY,
    VPC_CIDR,
    Cloud,
    Timeline,
    assert_documented_cells_open,
    assert_holds,
    expected,
    tcp,
)


def snapshot(cloud: Cloud, vpc_id: str | None = None) -> list[Any]:
    return sorted(cloud.groups(vpc_id), key=lambda g: g["GroupId"])


# ---------------------------------------------------------------- fresh apply, no-op


def test_fresh_apply_creates_exactly_the_blueprint(cloud: Cloud, blueprint: Blueprint) -> None:
    result = apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    assert_holds(cloud, blueprint)
    assert result.group_ids == {g.role: cloud.group_id(g.name) for g in blueprint}
    assert result.changes.count("create") == len(blueprint.groups)


def test_every_documented_cell_is_open_on_the_right_group(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    live = cloud.read_back(blueprint.cluster)

    assert_documented_cells_open(live)
    assert live.rule_set() == expected(blueprint).rule_set()


def test_fresh_apply_stays_within_its_call_budget(cloud: Cloud, blueprint: Blueprint) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    groups = len(blueprint.groups)
    # Reads: the VPC and its groups (one read also finds who holds the new
    # names), and the read-back; the rest is per group.
    assert len(cloud.calls.names) <= 4 * groups + 2
    assert cloud.calls.names.count("DescribeSecurityGroups") == 2
    assert cloud.calls.names.count("DescribeVpcs") == 1
    assert cloud.calls.names[-1] == "DescribeSecurityGroups"
    assert cloud.calls.names.count("CreateSecurityGroup") == groups
    # AWS's allow-all egress goes at once: one revoke per new group.
    assert cloud.calls.names.count("RevokeSecurityGroupEgress") == groups


def test_second_apply_reads_twice_and_changes_nothing(cloud: Cloud, blueprint: Blueprint) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()

    result = apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    assert result.changes.empty
    assert sorted(cloud.calls.names) == ["DescribeSecurityGroups", "DescribeVpcs"]
    assert set(result.group_ids) == set(blueprint.roles)


def test_a_no_op_apply_reads_the_vpc_and_its_groups_at_once(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    timeline = Timeline(TIMELINE_LATENCY).attach(cloud.session)

    assert apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session).changes.empty

    assert timeline.waves() == [["DescribeSecurityGroups", "DescribeVpcs"]]


def test_a_fresh_apply_is_reads_then_creates_then_rules_then_the_read_back(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    """Four waves: the reads at once; the creates at once; every authorize and
    revoke at once; the read-back (docs/aws.md, "Concurrent applies")."""
    timeline = Timeline(TIMELINE_LATENCY).attach(cloud.session)

    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    reads, creates, rules, read_back = timeline.waves()
    assert reads == ["DescribeSecurityGroups", "DescribeVpcs"]
    assert creates == ["CreateSecurityGroup"] * len(blueprint.groups)
    assert set(rules) == {
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupEgress",
    }
    assert read_back == ["DescribeSecurityGroups"]


def test_plan_changes_nothing(cloud: Cloud, blueprint: Blueprint) -> None:
    before = snapshot(cloud)
    pending = plan(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    assert not pending.empty
    assert cloud.calls.mutating == []
    assert snapshot(cloud) == before


def test_a_vpc_with_ipv6_loses_both_default_egress_rules(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    vpc_id = cloud.new_vpc("10.30.0.0/16", ipv6=True)
    apply(blueprint, vpc_id=vpc_id, session=cloud.session)
    assert_holds(cloud, blueprint, vpc_id, cidr="10.30.0.0/16")


# ---------------------------------------------------------------- drift


@pytest.fixture
def applied(cloud: Cloud, blueprint: Blueprint) -> Cloud:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()
    return cloud


@pytest.mark.parametrize(
    ("by_hand", "role", "port", "change", "repair"),
    [
        (
            "authorize_security_group_ingress",
            "postgresql",
            5432,
            ("remove", "ingress tcp/5432 from 0.0.0.0/0"),
            "RevokeSecurityGroupIngress",
        ),
        (
            "revoke_security_group_egress",
            "bastion",
            443,
            ("add", "egress tcp/443 to 0.0.0.0/0"),
            "AuthorizeSecurityGroupEgress",
        ),
    ],
)
def test_a_rule_added_or_removed_by_hand_is_planned_and_repaired(
    applied: Cloud,
    blueprint: Blueprint,
    by_hand: str,
    role: str,
    port: int,
    change: tuple[str, str],
    repair: str,
) -> None:
    group_id = applied.group_id(blueprint[role].name)
    getattr(applied.ec2, by_hand)(GroupId=group_id, IpPermissions=tcp(port, "0.0.0.0/0"))

    pending = plan(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert [(c.role, c.action, str(c.rule)) for c in pending.changes.rules] == [(role, *change)]

    applied.calls.clear()
    apply(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert applied.calls.mutating == [repair]
    assert_holds(applied, blueprint)


def test_descriptions_and_tags_are_fixed_in_place(applied: Cloud, blueprint: Blueprint) -> None:
    automate = applied.group_id("chef-automate-ha-automate")
    opensearch = applied.group_id("chef-automate-ha-opensearch")
    applied.ec2.update_security_group_rule_descriptions_ingress(
        GroupId=automate,
        IpPermissions=tcp(443, VPC_CIDR, "edited by hand"),
    )
    applied.ec2.update_security_group_rule_descriptions_ingress(
        GroupId=opensearch,
        IpPermissions=tcp(9300, opensearch, "edited too"),
    )
    applied.ec2.delete_tags(Resources=[automate], Tags=[{"Key": "Name"}])

    pending = plan(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert sorted((c.role, c.action, c.old_description) for c in pending.changes.rules) == [
        ("automate", "update", "edited by hand"),
        ("opensearch", "update", "edited too"),
    ]
    assert [(t.role, dict(t.tags)) for t in pending.changes.tags] == [
        ("automate", {"Name": "chef-automate-ha-automate"})
    ]

    applied.calls.clear()
    apply(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert sorted(applied.calls.mutating) == [
        "CreateTags",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsIngress",
    ]
    assert_holds(applied, blueprint)


def test_a_role_dropped_from_the_policy_loses_its_group(applied: Cloud) -> None:
    with_lb = hasg.compile_policy(hasg.chef_automate_ha(load_balancer=True))
    apply(with_lb, vpc_id=applied.vpc_id, session=applied.session)
    assert_holds(applied, with_lb)

    without = hasg.compile_policy(hasg.chef_automate_ha())
    pending = plan(without, vpc_id=applied.vpc_id, session=applied.session)
    assert [(c.action, c.role) for c in pending.changes.groups] == [("delete", "load_balancer")]

    apply(without, vpc_id=applied.vpc_id, session=applied.session)
    assert_holds(applied, without)


# ---------------------------------------------------------------- refusals


def test_a_changed_group_description_is_refused_with_advice(
    applied: Cloud, blueprint: Blueprint
) -> None:
    group = blueprint["bastion"]
    changed = Blueprint(
        blueprint.cluster,
        tuple(
            g if g.role != "bastion" else group.replace(description="Jump host") for g in blueprint
        ),
    )
    pending = plan(changed, vpc_id=applied.vpc_id, session=applied.session)
    (blocker,) = pending.blockers
    assert "cannot change a group's description" in blocker.message

    before = snapshot(applied)
    with pytest.raises(HasgError, match="put the old description back"):
        apply(changed, vpc_id=applied.vpc_id, session=applied.session)
    assert applied.calls.mutating == []
    assert snapshot(applied) == before


def test_a_strangers_group_with_our_name_is_named_and_never_adopted(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    stranger = cloud.make_group("chef-automate-ha-bastion")
    before = snapshot(cloud)

    with pytest.raises(HasgError) as raised:
        apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    message = str(raised.value)
    assert f"chef-automate-ha-bastion ({stranger})" in message
    assert "without hasg's tags" in message and "\n" not in message
    assert cloud.calls.mutating == []
    assert snapshot(cloud) == before


def test_a_second_group_claiming_a_role_under_another_name_is_refused(
    applied: Cloud, blueprint: Blueprint
) -> None:
    """Only the group named as hasg names it can be hasg's (AWS renames no group):
    a copy with the same tags is reported, and nothing changes."""
    copy = applied.make_group("copy-of-bastion", tags=ownership_tags(blueprint.cluster, "bastion"))
    before = snapshot(applied)
    with pytest.raises(OwnershipError, match=rf"copy-of-bastion \({copy}\) carries hasg's tags"):
        apply(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert applied.calls.mutating == []
    assert snapshot(applied) == before


# ---------------------------------------------------------------- ownership


@pytest.fixture
def strangers(cloud: Cloud) -> list[str]:
    """Groups hasg does not own: another cluster's, an untagged one that refers to
    nothing of ours, and one in another VPC with our cluster's tags."""
    other_vpc = cloud.new_vpc("10.40.0.0/16")
    made = []
    for name, vpc_id, tags in (
        ("web", cloud.vpc_id, {}),
        ("other-cluster-bastion", cloud.vpc_id, ownership_tags("other-cluster", "bastion")),
        ("chef-automate-ha-bastion", other_vpc, ownership_tags("chef-automate-ha", "bastion")),
    ):
        group_id = cloud.make_group(name, vpc_id=vpc_id, tags=tags)
        cloud.ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=tcp(22, "0.0.0.0/0"),
        )
        made.append(group_id)
    return made


def test_groups_hasg_does_not_own_survive_apply_and_destroy(
    cloud: Cloud, blueprint: Blueprint, strangers: list[str]
) -> None:
    def theirs() -> list[Any]:
        everything = cloud.ec2.describe_security_groups()["SecurityGroups"]
        return sorted((g for g in everything if g["GroupId"] in strangers), key=str)

    before = theirs()
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    assert_holds(cloud, blueprint)
    assert theirs() == before

    destroy(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    assert theirs() == before
    assert cloud.read_back(blueprint.cluster).groups == ()


# ---------------------------------------------------------------- destroy


def test_destroy_removes_every_group_and_then_is_a_no_op(
    applied: Cloud, blueprint: Blueprint
) -> None:
    result = destroy(blueprint.cluster, vpc_id=applied.vpc_id, session=applied.session)

    assert result.group_ids == {}
    assert result.changes.count("delete") == len(blueprint.groups)
    assert applied.read_back(blueprint.cluster).groups == ()
    applied.calls.clear()
    assert destroy(blueprint, vpc_id=applied.vpc_id, session=applied.session).changes.empty
    assert applied.calls.mutating == []


def test_destroy_refuses_while_a_network_interface_holds_a_group(
    applied: Cloud, blueprint: Blueprint
) -> None:
    subnet = applied.ec2.create_subnet(VpcId=applied.vpc_id, CidrBlock="10.20.1.0/24")
    postgresql = applied.group_id("chef-automate-ha-postgresql")
    eni = applied.ec2.create_network_interface(
        SubnetId=subnet["Subnet"]["SubnetId"], Groups=[postgresql], Description="db node"
    )["NetworkInterface"]["NetworkInterfaceId"]
    before = snapshot(applied)

    with pytest.raises(HasgError) as raised:
        destroy(blueprint, vpc_id=applied.vpc_id, session=applied.session)

    message = str(raised.value)
    assert f"chef-automate-ha-postgresql ({postgresql}) is still in use" in message
    assert eni in message
    assert applied.calls.mutating == []
    assert snapshot(applied) == before


def test_destroy_refuses_while_a_strangers_rule_refers_to_a_group(
    applied: Cloud, blueprint: Blueprint
) -> None:
    automate = applied.group_id("chef-automate-ha-automate")
    monitor = applied.make_group("monitoring")
    applied.ec2.authorize_security_group_egress(
        GroupId=monitor,
        IpPermissions=tcp(9100, automate),
    )

    with pytest.raises(HasgError, match=f"rules of group monitoring \\({monitor}\\)"):
        destroy(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert applied.calls.mutating == []


# ---------------------------------------------------------------- concurrency


def test_two_applies_at_once_end_in_the_blueprint(cloud: Cloud, blueprint: Blueprint) -> None:
    """Both plan before either creates (a barrier per group name makes sure of
    it), so every group and rule is created twice over: one create wins, the
    other finds the group by name and tags; duplicates count as done."""
    barriers = {g.name: threading.Barrier(2, timeout=10) for g in blueprint}

    def meet(params: dict[str, Any], **_: Any) -> None:
        barriers[params["GroupName"]].wait()

    errors: list[BaseException] = []

    def run() -> None:
        session = boto3.session.Session(region_name=REGION)
        session.events.register("provide-client-params.ec2.CreateSecurityGroup", meet)
        try:
            apply(blueprint, vpc_id=cloud.vpc_id, session=session)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert_holds(cloud, blueprint)
    cloud.calls.clear()
    assert apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session).changes.empty


# ---------------------------------------------------------------- other peers


def test_ipv6_icmp_and_prefix_list_peers_round_trip(cloud: Cloud) -> None:
    policy = hasg.Policy.model_validate(
        {
            "cluster": "edge",
            "roles": [{"id": "proxy", "description": "Edge proxies"}],
            "flows": [
                {
                    "source": "2001:db8::/48",
                    "destination": "proxy",
                    "ports": ["tcp/8443", "icmp/8"],
                    "description": "partners over IPv6",
                },
                {
                    "source": "proxy",
                    "destination": "vpc",
                    "ports": ["udp/53", "tcp/1024-65535"],
                    "description": "DNS and upstreams",
                },
            ],
        }
    )
    edge = hasg.compile_policy(policy)
    apply(edge, vpc_id=cloud.vpc_id, session=cloud.session)
    assert_holds(cloud, edge)
    assert {str(r) for r in cloud.read_back("edge")["proxy"].rules} >= {
        "ingress icmpv6/8 from 2001:db8::/48",
        f"egress tcp/1024-65535 to {VPC_CIDR}",
    }
    cloud.calls.clear()
    assert apply(edge, vpc_id=cloud.vpc_id, session=cloud.session).changes.empty


def test_a_rule_to_a_foreign_group_is_shown_and_removed(
    applied: Cloud, blueprint: Blueprint
) -> None:
    monitor = applied.make_group("monitoring")
    applied.ec2.authorize_security_group_ingress(
        GroupId=applied.group_id("chef-automate-ha-automate"),
        IpPermissions=tcp(9100, monitor),
    )
    pending = plan(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert [c.rule for c in pending.changes.rules] == [
        Rule("ingress", "tcp", 9100, 9100, Peer("group", monitor))
    ]
    apply(blueprint, vpc_id=applied.vpc_id, session=applied.session)
    assert_holds(applied, blueprint)
    assert [g["GroupId"] for g in applied.groups() if g["GroupId"] == monitor] == [monitor]


def test_a_full_group_swaps_a_rule_despite_the_quota(cloud: Cloud) -> None:
    """60 inbound rules is AWS's limit. Swapping one for another: the authorize,
    run first here (one call at a time), hits the limit; it waits for the
    phase's revoke, then goes through."""

    def web(ports: range) -> Blueprint:
        rules = tuple(
            Rule("ingress", "tcp", p, p, Peer("cidr_ipv4", "10.9.0.0/16"), "x") for p in ports
        )
        tags = {**ownership_tags("quota", "web"), "Name": "quota-web"}
        return Blueprint("quota", (SecurityGroup("web", "quota-web", "Web", tags, rules),))

    apply(web(range(1, 61)), vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()

    apply(web(range(2, 62)), vpc_id=cloud.vpc_id, session=cloud.session, max_workers=1)

    assert cloud.calls.mutating == [
        "AuthorizeSecurityGroupIngress",  # refused: RulesPerSecurityGroupLimitExceeded
        "RevokeSecurityGroupIngress",
        "CreateTags",  # another policy: another digest
        "AuthorizeSecurityGroupIngress",
    ]
    assert_holds(cloud, web(range(2, 62)))
