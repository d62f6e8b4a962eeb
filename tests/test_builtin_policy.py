"""The built-in Chef Automate HA policy: every documented cell covered, nothing more opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasg import DOCUMENTED_TABLE, Port, chef_automate_ha, compile_policy
from hasg.checks.coverage import check_coverage
from hasg.checks.reachability import reachability
from hasg.cli import main
from hasg.core.blueprint import Blueprint, Rule
from hasg.core.networks import wide_open
from hasg.core.ports import PortSet

NODES = ("automate", "chef_server", "postgresql", "opensearch")


# Users and admins of both families: their rules come from the policy's CIDR
# lists, which the built-in policy leaves empty.
USER_CIDRS = ["198.51.100.0/24", "2001:db8:1::/48"]
ADMIN_CIDRS = ["203.0.113.7/32", "2001:db8:2::/64"]


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return compile_policy(chef_automate_ha())


@pytest.fixture(scope="module")
def with_people() -> Blueprint:
    """The built-in policy with user and admin CIDRs."""
    return compile_policy(chef_automate_ha(user_cidrs=USER_CIDRS, admin_cidrs=ADMIN_CIDRS))


def inbound_from_networks(blueprint: Blueprint) -> list[tuple[str, Rule, tuple[str, ...]]]:
    """(role, rule, its networks) for every ingress rule whose peer is a CIDR,
    a policy CIDR list (its networks as the Blueprint holds them) included."""
    found = []
    for group in blueprint:
        for rule in (*group.rules, *group.list_rules):
            if rule.direction != "ingress":
                continue
            if rule.peer.kind in ("cidr_ipv4", "cidr_ipv6"):
                found.append((group.role, rule, (rule.peer.value,)))
            elif rule.peer.kind == "cidr_list":
                found.append((group.role, rule, blueprint.cidr_lists[rule.peer.value]))
    return found


def test_the_documented_table_has_42_cells() -> None:
    assert len(DOCUMENTED_TABLE) == 42
    assert sum(c.port == 9683 for c in DOCUMENTED_TABLE) == 2


def test_all_42_cells_are_covered(blueprint: Blueprint) -> None:
    report = check_coverage(blueprint)
    assert report.ok, [str(c.cell) for c in report.uncovered]
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


def test_nothing_is_open_to_the_world_inbound(with_people: Blueprint) -> None:
    checked = inbound_from_networks(with_people)
    # Users reach automate and chef_server on 443 and 80, admins the bastion's SSH:
    # each as a list rule and once per CIDR of both families.
    assert len(checked) == 2 * 2 * (1 + len(USER_CIDRS)) + (1 + len(ADMIN_CIDRS))
    for role, rule, networks in checked:
        assert networks, (role, rule)
        assert not wide_open(networks), (role, rule, networks)


def test_no_allow_all_rule_anywhere(blueprint: Blueprint) -> None:
    assert not [r for g in blueprint for r in g.rules if r.protocol == "-1"]


def test_only_the_bastion_reaches_the_internet_and_only_on_80_443(blueprint: Blueprint) -> None:
    world = [(g.role, r) for g in blueprint for r in g.rules if r.peer.value == "0.0.0.0/0"]
    assert {role for role, _ in world} == {"bastion"}
    assert {(r.direction, r.from_port) for _, r in world} == {("egress", 80), ("egress", 443)}


def test_ssh_only_from_the_bastion_and_admins(with_people: Blueprint) -> None:
    checked = {"bastion": 0, "nodes": 0}
    for group in with_people:
        for rule in (*group.rules, *group.list_rules):
            if rule.direction == "ingress" and rule.covers("tcp", 22):
                expected = "admin_cidrs" if group.role == "bastion" else "bastion"
                assert rule.peer.value == expected or rule.peer.variable == expected, (group, rule)
                checked["bastion" if group.role == "bastion" else "nodes"] += 1
    # The admin list rule and one rule per admin CIDR; each node from the bastion group.
    assert checked == {"bastion": 1 + len(ADMIN_CIDRS), "nodes": len(NODES)}


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
    assert check_coverage(b, ssh_port=2222).ok


def test_load_balancer_takes_the_users() -> None:
    b = compile_policy(chef_automate_ha(load_balancer=True, user_cidrs=["198.51.100.0/24"]))
    users = {g.role for g in b for r in g.rules if r.peer.value == "198.51.100.0/24"}
    assert users == {"load_balancer"}
    assert {r.peer.value for r in b["automate"].rules_for("ingress") if r.covers("tcp", 443)} == {
        "load_balancer"
    }
    assert check_coverage(b).ok


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
    assert report.ok
    assert {
        c.how for c in report.cells if c.cell.port == 80 and c.cell.direction == "incoming"
    } == {"optional, not opened"}


def test_every_rule_has_a_description(blueprint: Blueprint) -> None:
    for group in blueprint:
        assert group.description
        for rule in group.rules:
            assert len(rule.description) > 20, rule


# Who may open connections to whom among the nodes (source, destination), from
# Chef's "Firewall Checks" matrix: the frontends call the backends, Infra Server
# calls Automate, each backend cluster talks within itself, and the two backends
# share one Habitat ring. Upstream's Terraform lets all 16 pairs talk.
CHEF_NODE_PAIRS = {
    ("automate", "postgresql"),
    ("automate", "opensearch"),
    ("chef_server", "postgresql"),
    ("chef_server", "opensearch"),
    ("chef_server", "automate"),
    ("postgresql", "postgresql"),
    ("opensearch", "opensearch"),
    ("postgresql", "opensearch"),
    ("opensearch", "postgresql"),
}


def test_tighter_than_upstream(blueprint: Blueprint, with_people: Blueprint) -> None:
    """Upstream: any node to any node on 5432-9638, SSH from 0.0.0.0/0, allow-all egress.

    Here exactly the documented pairs may talk (egress AND ingress), each on
    named ports only, never upstream's whole 5432-9638 range."""
    reach = reachability(blueprint)
    talking = {(a, b) for a in NODES for b in NODES if reach.allowed(a, b)}
    assert talking == CHEF_NODE_PAIRS
    assert ("postgresql", "automate") not in talking  # PostgreSQL never calls Automate
    upstream_range = PortSet.of_port(Port.tcp(5432, 9638))
    for a, b in talking:
        allowed = reach.allowed(a, b)
        assert (allowed & upstream_range) != upstream_range, (a, b, str(allowed))
        assert len(allowed.as_list()) <= 6, (a, b, str(allowed))
    for group in (*blueprint, *with_people):
        for rule in group.rules:
            assert rule.protocol != "-1", rule  # no allow-all, in either direction
            assert rule.from_port == rule.to_port, rule  # one named port per rule
    ssh_from_networks = [
        (role, rule, networks)
        for role, rule, networks in inbound_from_networks(with_people)
        if rule.covers("tcp", 22)
    ]
    assert len(ssh_from_networks) == 1 + len(ADMIN_CIDRS)  # upstream: 0.0.0.0/0
    for role, rule, networks in ssh_from_networks:
        assert not wide_open(networks), (role, rule, networks)


@pytest.mark.parametrize(
    "options",
    [
        {"managed_postgresql": True},
        {"managed_opensearch": True},
        {"managed_postgresql": True, "managed_opensearch": True},
    ],
    ids=["managed-postgresql", "managed-opensearch", "managed-backends"],
)
def test_managed_backends_are_covered_with_their_machine_cells_not_applicable(
    options: dict[str, bool],
) -> None:
    policy = chef_automate_ha(**options)
    managed = {r.id for r in policy.roles if r.managed}
    assert managed == {k.removeprefix("managed_") for k in options}
    report = check_coverage(compile_policy(policy), managed_roles=managed)

    assert report.ok, [str(c.cell) for c in report.uncovered]
    not_applicable = {c.cell.role for c in report.cells if c.how == "n/a: managed by AWS"}
    assert not_applicable == managed
    # Without knowing they are managed, the same cells are uncovered: the n/a is earned.
    assert {c.cell.role for c in check_coverage(compile_policy(policy)).uncovered} == managed


def test_managed_does_not_excuse_what_the_frontends_lack() -> None:
    policy = chef_automate_ha(managed_postgresql=True, managed_opensearch=True)
    without = policy.model_copy(
        update={"flows": tuple(f for f in policy.flows if f.name != "bastion-to-automate")}
    )
    report = check_coverage(compile_policy(without), managed_roles={"postgresql", "opensearch"})
    assert not report.ok
    assert {c.cell.role for c in report.uncovered} == {"automate"}


@pytest.mark.parametrize(
    "flag", ["--managed-postgresql", "--managed-opensearch", "--managed-backends"]
)
def test_hasg_coverage_exits_0_for_the_managed_variants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    path = tmp_path / "policy.yaml"
    assert main(["init", flag, "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["coverage", "--policy", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n/a: managed by AWS" in out and "uncovered" not in out

    # A managed role's mark removed: the same file's coverage fails again.
    path.write_text(path.read_text().replace("    managed: true\n", ""))
    assert main(["coverage", "--policy", str(path)]) == 1
