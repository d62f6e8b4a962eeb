"""The built-in Chef Automate HA policy: every documented cell covered, nothing more opened."""

from __future__ import annotations

import ipaddress

import pytest

from hasg import DOCUMENTED_TABLE, chef_automate_ha, compile_policy
from hasg.blueprint import Blueprint
from hasg.coverage import check_coverage

NODES = ("automate", "chef_server", "postgresql", "opensearch")


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return compile_policy(chef_automate_ha())


def test_the_documented_table_has_42_cells() -> None:
    assert len(DOCUMENTED_TABLE) == 42
    assert sum(c.port == 9683 for c in DOCUMENTED_TABLE) == 2


def test_all_42_cells_are_covered(blueprint: Blueprint) -> None:
    report = check_coverage(blueprint)
    assert report.complete, [str(c.cell) for c in report.uncovered]
    assert len(report.cells) == 42


def test_9683_is_covered_by_9638_and_named_an_erratum(blueprint: Blueprint) -> None:
    cells = [c for c in check_coverage(blueprint).cells if c.cell.port == 9683]
    assert len(cells) == 2
    for cell in cells:
        assert cell.port == 9638
        assert "erratum" in cell.detail and "#7343" in cell.detail
    assert not any(r.covers("tcp", 9683) for g in blueprint for r in g.rules)


def test_outgoing_cells_say_how_they_are_covered(blueprint: Blueprint) -> None:
    by_cell = {
        (c.cell.role, c.cell.direction, c.cell.port): c for c in check_coverage(blueprint).cells
    }
    assert by_cell[("automate", "outgoing", 22)].how == "stateful return"
    assert by_cell[("automate", "outgoing", 9631)].how == "egress rule"
    assert by_cell[("chef_server", "outgoing", 443)].how == "egress rule"
    assert by_cell[("bastion", "outgoing", 22)].how == "egress rule"


def test_removing_a_flow_uncovers_its_cells() -> None:
    policy = chef_automate_ha()
    without = policy.model_copy(
        update={"flows": tuple(f for f in policy.flows if f.name != "opensearch-ring")}
    )
    uncovered = {str(c.cell) for c in check_coverage(compile_policy(without)).uncovered}
    assert "OpenSearch incoming TCP 9300" in uncovered
    assert "OpenSearch outgoing TCP 9300" in uncovered


def test_nothing_is_open_to_the_world_inbound(blueprint: Blueprint) -> None:
    for group in blueprint:
        for rule in group.rules_for("ingress"):
            if rule.peer.kind.startswith("cidr"):
                assert ipaddress.ip_network(rule.peer.value).prefixlen > 0, rule


def test_no_allow_all_rule_anywhere(blueprint: Blueprint) -> None:
    assert not [r for g in blueprint for r in g.rules if r.protocol == "-1"]


def test_only_the_bastion_reaches_the_internet_and_only_on_80_443(blueprint: Blueprint) -> None:
    world = [(g.role, r) for g in blueprint for r in g.rules if r.peer.value == "0.0.0.0/0"]
    assert {role for role, _ in world} == {"bastion"}
    assert {(r.direction, r.from_port) for _, r in world} == {("egress", 80), ("egress", 443)}


def test_ssh_only_from_the_bastion_and_admins(blueprint: Blueprint) -> None:
    for group in blueprint:
        for rule in group.rules_for("ingress"):
            if rule.covers("tcp", 22):
                expected = "admin_cidrs" if group.role == "bastion" else "bastion"
                assert rule.peer.value == expected or rule.peer.variable == expected, (group, rule)


@pytest.mark.parametrize(
    ("port", "protocol"), [(9631, "tcp"), (9638, "tcp"), (9638, "udp"), (7799, "tcp")]
)
def test_control_ports_only_from_roles_that_need_them(
    blueprint: Blueprint, port: int, protocol: str
) -> None:
    allowed = {"bastion", "automate", "chef_server", "postgresql", "opensearch"}
    for group in blueprint:
        for rule in group.rules_for("ingress"):
            if rule.covers(protocol, port):
                assert rule.peer.kind == "group" and rule.peer.value in allowed
    frontends_in = {
        r.peer.value
        for g in blueprint
        if g.role in ("automate", "chef_server")
        for r in g.rules_for("ingress")
        if r.covers(protocol, port)
    }
    assert frontends_in <= {"bastion"}


def test_no_blanket_self_reference(blueprint: Blueprint) -> None:
    """Upstream lets every node reach every node; here a ring names its ports."""
    for group in blueprint:
        own = [r for r in group.rules if r.peer.kind == "group" and r.peer.value == group.role]
        assert all(r.protocol != "-1" and r.from_port == r.to_port for r in own)
        if group.role not in ("postgresql", "opensearch"):
            assert not own


def test_frontends_cannot_reach_each_other_or_the_bastion(blueprint: Blueprint) -> None:
    for role in ("automate", "chef_server", "postgresql", "opensearch"):
        peers = {r.peer.value for r in blueprint[role].rules_for("egress")}
        assert "bastion" not in peers
    assert "chef_server" not in {r.peer.value for r in blueprint["automate"].rules_for("egress")}


def test_the_bastion_accepts_nothing_without_admin_cidrs(blueprint: Blueprint) -> None:
    assert blueprint["bastion"].rules_for("ingress") == ()


def test_admin_cidrs_reach_only_bastion_ssh() -> None:
    b = compile_policy(chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))
    admin = [(g.role, r) for g in b for r in g.rules if r.peer.value == "203.0.113.7/32"]
    assert [(role, r.direction, r.ports_text()) for role, r in admin] == [
        ("bastion", "ingress", "tcp/22")
    ]


def test_user_cidrs_reach_only_the_entry_points_on_443_and_80() -> None:
    b = compile_policy(chef_automate_ha(user_cidrs=["198.51.100.0/24"]))
    users = {
        (g.role, r.ports_text()) for g in b for r in g.rules if r.peer.value == "198.51.100.0/24"
    }
    assert users == {(f, p) for f in ("automate", "chef_server") for p in ("tcp/443", "tcp/80")}
    assert not [r for g in b for r in g.rules if r.peer.kind == "vpc"]


def test_custom_ssh_port_replaces_22_everywhere() -> None:
    b = compile_policy(chef_automate_ha(ssh_port=2222, admin_cidrs=["203.0.113.7/32"]))
    assert not any(r.covers("tcp", 22) for g in b for r in g.rules)
    assert check_coverage(b, ssh_port=2222).complete


def test_load_balancer_takes_the_users() -> None:
    b = compile_policy(chef_automate_ha(load_balancer=True, user_cidrs=["198.51.100.0/24"]))
    users = {g.role for g in b for r in g.rules if r.peer.value == "198.51.100.0/24"}
    assert users == {"load_balancer"}
    assert {r.peer.value for r in b["automate"].rules_for("ingress") if r.covers("tcp", 443)} == {
        "load_balancer"
    }
    assert check_coverage(b).complete


def test_dropping_optional_flows() -> None:
    b = compile_policy(chef_automate_ha(http_redirect=False, legacy_haproxy_from_frontends=False))
    assert not any(r.covers("tcp", 80) for g in b for r in g.rules_for("ingress"))
    assert {
        r.peer.value for r in b["postgresql"].rules_for("ingress") if r.covers("tcp", 7432)
    } == {
        "bastion",
        "postgresql",
    }
    report = check_coverage(b)
    assert report.complete
    assert {
        c.how for c in report.cells if c.cell.port == 80 and c.cell.direction == "incoming"
    } == {"optional, not opened"}


def test_every_rule_has_a_description(blueprint: Blueprint) -> None:
    for group in blueprint:
        assert group.description
        for rule in group.rules:
            assert len(rule.description) > 20, rule


def test_tighter_than_upstream(blueprint: Blueprint) -> None:
    """Upstream: any node to any node on 5432-9638, SSH from 0.0.0.0/0, allow-all egress."""
    node_pairs_upstream = len(NODES) * len(NODES)
    node_pairs_here = {
        (g.role, r.peer.value)
        for g in blueprint
        if g.role in NODES
        for r in g.rules_for("ingress")
        if r.peer.kind == "group" and r.peer.value in NODES
    }
    assert len(node_pairs_here) < node_pairs_upstream
    assert ("automate", "postgresql") not in node_pairs_here  # PostgreSQL never calls Automate
