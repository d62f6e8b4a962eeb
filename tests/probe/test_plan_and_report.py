"""The probe set and the report, without a network: what is probed, what is
expected of it, how each answer is judged, and what the command exits with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hasg
from hasg.checks.probe.plan import PlannedProbe, ProbePlan, plan_probes
from hasg.checks.probe.report import Listener, ProbeReport, judge
from hasg.core.blueprint import Blueprint
from hasg.errors import ExitCode, UsageError
from hasg.hosts.inventory import Inventory, load_inventory_text
from hasg.hosts.probes import Service

SHOP = """
cluster: shop
roles:
  - {id: web, description: Web servers}
  - {id: db, description: PostgreSQL}
  - {id: cache, description: Redis, managed: true}
flows:
  - {source: web, destination: db, ports: [tcp/5432, icmp/8], description: Orders}
  - {source: web, destination: cache, ports: [tcp/6379], description: Sessions}
"""


def shop_plan(inventory: str, **options: object) -> ProbePlan:
    policy = hasg.load_policy_text(SHOP)
    return plan_probes(
        hasg.compile_policy(policy),
        load_inventory_text(inventory),
        enforce_egress=False,
        managed_roles=frozenset({"cache"}),
        **options,  # type: ignore[arg-type]
    )


def find(plan: ProbePlan, source: str, destination: str, service: str) -> list[PlannedProbe]:
    return [
        p
        for p in plan.probes
        if (p.source.role, p.destination.role, p.service.text()) == (source, destination, service)
    ]


def test_every_ordered_pair_both_families_every_service(
    chef_blueprint: Blueprint, lab_inventory: Inventory
) -> None:
    plan = plan_probes(chef_blueprint, lab_inventory, enforce_egress=False)
    assert [s.text() for s in plan.unnamed] == [
        "tcp/3306",
        "tcp/8080",
        "tcp/9639",
        "udp/53",
        "udp/9631",
    ]
    assert len(plan.named) == 12
    assert len(plan.probes) == 5 * 4 * 2 * 17
    assert [p.ident for p in plan.probes] == list(range(len(plan.probes)))
    assert {p.expected for p in find(plan, "automate", "postgresql", "tcp/7432")} == {"open"}
    assert {p.expected for p in find(plan, "opensearch", "automate", "tcp/7432")} == {"closed"}
    assert {p.expected for p in find(plan, "bastion", "opensearch", "tcp/22")} == {"open"}
    assert {p.expected for p in find(plan, "automate", "opensearch", "tcp/22")} == {"closed"}
    unnamed = [p for p in plan.probes if p.service in plan.unnamed]
    assert unnamed and {p.expected for p in unnamed} == {"closed"}
    assert not plan.absent_roles and not plan.not_probed


def test_enforced_egress_asks_the_sources_rules_too(
    chef_blueprint: Blueprint, lab_inventory: Inventory
) -> None:
    """Users reach the frontends on 443 from the `vpc`, which holds every host:
    open from any host while only the destination decides; with egress
    enforced (security groups), automate's own egress has no such rule."""
    open_egress = plan_probes(chef_blueprint, lab_inventory, enforce_egress=False)
    enforced = plan_probes(chef_blueprint, lab_inventory, enforce_egress=True)
    assert {p.expected for p in find(open_egress, "automate", "chef_server", "tcp/443")} == {"open"}
    assert {p.expected for p in find(enforced, "automate", "chef_server", "tcp/443")} == {"closed"}
    assert {p.expected for p in find(enforced, "automate", "postgresql", "tcp/5432")} == {"open"}


def test_a_role_without_a_host_is_not_probed_and_never_passes() -> None:
    plan = shop_plan("roles:\n  web: [198.18.0.10]\n")
    assert plan.absent_roles == ("cache", "db")
    assert not plan.probes  # one host: no pair
    report = ProbeReport(plan, (), {}, {}, {}, 1.0)
    assert report.exit_code == ExitCode.ERROR
    assert [f.kind for f in report.findings] == ["not_probed"]
    text = report.to_text()
    assert "not probed: role db has no host: nothing to or from it was probed" in text
    assert "not probed: role cache has no host: a managed service" in text
    document = json.loads(report.to_json())
    assert document["roles_not_probed"] == [
        {"role": "cache", "managed": True},
        {"role": "db", "managed": False},
    ]


def test_what_a_probe_cannot_send_is_listed_as_not_probed() -> None:
    plan = shop_plan("roles:\n  web: [198.18.0.10]\n  db: [198.18.0.20]\n")
    assert [s.text() for s in plan.not_probed] == ["icmp/8"]
    assert [s.text() for s in plan.named] == ["tcp/5432", "tcp/6379"]
    assert "not probed (TCP and UDP only): icmp/8" in ProbeReport(plan, (), {}, {}, {}, 1).to_text()


def test_the_count_of_unnamed_ports_is_checked() -> None:
    assert len(shop_plan("roles:\n  web: [198.18.0.10]\n", unnamed=0).unnamed) == 0
    with pytest.raises(UsageError, match="0 to 10 ports, not 11"):
        shop_plan("roles:\n  web: [198.18.0.10]\n", unnamed=11)


# --------------------------------------------------------------------------- verdicts

OURS, SERVICE, NONE = Listener("ours"), Listener("service"), Listener("error", "EACCES")


@pytest.mark.parametrize(
    ("protocol", "expected", "outcome", "listener", "verdict"),
    [
        ("tcp", "open", "open", OURS, "open"),
        ("tcp", "open", "open", SERVICE, "open"),
        ("tcp", "closed", "timeout", OURS, "closed"),
        ("tcp", "closed", "refused", OURS, "closed"),  # a reject rule, not the host
        ("tcp", "closed", "blocked at source", OURS, "closed"),
        ("tcp", "closed", "open", OURS, "wrong"),
        ("tcp", "closed", "open", SERVICE, "wrong"),
        ("tcp", "open", "timeout", OURS, "wrong"),
        ("tcp", "open", "refused", SERVICE, "wrong"),
        ("tcp", "open", "unreachable", OURS, "wrong"),
        # Nothing listened: a failure may come from the host, not its firewall.
        ("tcp", "open", "timeout", NONE, "unproven"),
        ("tcp", "closed", "refused", NONE, "unproven"),
        ("tcp", "closed", "timeout", NONE, "closed"),  # dropped on the way: proven
        # A UDP program that keeps silent looks like a drop.
        ("udp", "open", "timeout", SERVICE, "unproven"),
        ("udp", "closed", "timeout", SERVICE, "unproven"),
        ("udp", "closed", "timeout", OURS, "closed"),  # the echo would have come back
        ("udp", "open", "timeout", OURS, "wrong"),
        ("udp", "open", "open", SERVICE, "open"),
        ("udp", "closed", "refused", OURS, "closed"),
    ],
)
def test_each_answer_is_judged(
    lab_inventory: Inventory,
    protocol: str,
    expected: str,
    outcome: str,
    listener: Listener,
    verdict: str,
) -> None:
    source, destination = lab_inventory.hosts[:2]
    probe = PlannedProbe(
        0,
        source,
        source.addresses[0],
        destination,
        destination.addresses[0],
        Service(protocol, 9000),  # type: ignore[arg-type]
        expected,  # type: ignore[arg-type]
    )
    result = judge(probe, outcome, "", listener, "")
    assert result.verdict == verdict
    assert (result.reason == "") == (verdict in ("open", "closed"))


def test_a_probe_without_an_answer_is_not_probed(lab_inventory: Inventory) -> None:
    source, destination = lab_inventory.hosts[:2]
    probe = PlannedProbe(
        0, source, source.addresses[0], destination, destination.addresses[0],
        Service("tcp", 22), "open",
    )  # fmt: skip
    result = judge(probe, None, "", None, "198.18.0.20 could not be probed")
    assert (result.verdict, result.reason) == ("not probed", "198.18.0.20 could not be probed")


def report_of(
    plan: ProbePlan,
    verdicts: dict[int, tuple[str, Listener]],
    failures: dict[str, str] | None = None,
) -> ProbeReport:
    results = []
    for probe in plan.probes:
        outcome, listener = verdicts.get(
            probe.ident, ("open" if probe.expected == "open" else "timeout", OURS)
        )
        results.append(judge(probe, outcome, "", listener, "down"))
    down = {h: why for h in plan.hosts for name, why in (failures or {}).items() if h.name == name}
    return ProbeReport(plan, tuple(results), down, {}, {}, 2.0)


def test_exit_codes_and_the_last_line(chef_blueprint: Blueprint, lab_inventory: Inventory) -> None:
    plan = plan_probes(chef_blueprint, lab_inventory, enforce_egress=False)
    closed = next(p for p in plan.probes if p.expected == "closed")
    opened = next(p for p in plan.probes if p.expected == "open")

    clean = report_of(plan, {})
    assert (clean.ok, clean.exit_code) == (True, ExitCode.OK)
    opens = sum(p.expected == "open" for p in plan.probes)
    assert clean.to_text().splitlines()[-1] == (
        f"probe: 680 probes, {opens} open as expected, {680 - opens} closed as expected, 0 wrong"
    )

    wrong = report_of(plan, {closed.ident: ("open", OURS), opened.ident: ("refused", OURS)})
    assert wrong.exit_code == ExitCode.CHANGES
    assert sorted(f.kind for f in wrong.findings) == ["probe_closed", "probe_open"]
    assert wrong.to_text().splitlines()[-1].endswith(", 2 wrong")
    wrong_lines = [x for x in wrong.to_text().splitlines() if x.startswith("wrong: ")]
    assert len(wrong_lines) == 2

    unproven = report_of(plan, {opened.ident: ("timeout", NONE)})
    assert unproven.exit_code == ExitCode.ERROR
    assert unproven.to_text().splitlines()[-1].endswith(", 0 wrong, 1 unproven")

    # Anything not probed outweighs anything wrong: the answer is incomplete.
    both = report_of(plan, {closed.ident: ("open", OURS)}, {"198.18.0.20": "SSH failed: x"})
    assert both.exit_code == ExitCode.ERROR
    assert "could not probe 198.18.0.20 (chef_server): SSH failed: x" in both.to_text()


def test_json_is_the_same_report_as_data(
    chef_blueprint: Blueprint, lab_inventory: Inventory
) -> None:
    plan = plan_probes(chef_blueprint, lab_inventory, enforce_egress=False)
    closed = next(p for p in plan.probes if p.expected == "closed")
    report = report_of(plan, {closed.ident: ("open", OURS)})
    document = json.loads(report.to_json())
    assert document["summary"] == {
        "probes": 680,
        "open_as_expected": report.count("open"),
        "closed_as_expected": report.count("closed"),
        "wrong": 1,
        "unproven": 0,
        "not_probed": 0,
    }
    assert document["exit_code"] == 2 and document["ok"] is False
    (wrong,) = [p for p in document["probes"] if p["verdict"] == "wrong"]
    assert f"wrong: {report.findings[0].detail}" in report.to_text()
    assert wrong["service"] == closed.service.text() and wrong["expected"] == "closed"
    # The table: a row per service expected open or not as expected, the rest folded.
    rows = document["table"]
    assert sum(r["probes"] for r in rows) == 680
    assert any(r["service"].endswith("others") and r["expected"] == "closed" for r in rows)


def test_the_table_folds_what_is_closed_as_expected(
    chef_blueprint: Blueprint, lab_inventory: Inventory, tmp_path: Path
) -> None:
    plan = plan_probes(chef_blueprint, lab_inventory, enforce_egress=False)
    lines = report_of(plan, {}).to_text().splitlines()
    assert "automate     postgresql   tcp/7432   open      2/2 open" in lines
    assert "automate     postgresql   13 others  closed    26/26 closed" in lines
