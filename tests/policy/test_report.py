"""Every checker answers with one report contract (hasg.core.report.Report):
`ok`, `findings`, `to_text()`, `to_json()` and `exit_code`, and each can fail."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from hasg import chef_automate_ha, compile_policy
from hasg.checks.audit import audit_blueprint
from hasg.checks.coverage import check_coverage
from hasg.checks.reachability import verify
from hasg.core.blueprint import Blueprint
from hasg.core.report import Report
from hasg.errors import ExitCode

POLICY = chef_automate_ha()
COMPILED = compile_policy(POLICY)
# The built-in Blueprint with the bastion's rules gone: a port closed, a flow
# blocked, drift.
BROKEN = Blueprint(
    COMPILED.cluster,
    tuple(g.replace(rules=()) if g.role == "bastion" else g for g in COMPILED),
    COMPILED.cidr_lists,
)

CHECKERS: dict[str, tuple[Callable[[Blueprint], Report], ExitCode]] = {
    "coverage": (lambda b: check_coverage(b), ExitCode.ERROR),
    "verify": (lambda b: verify(POLICY, b), ExitCode.ERROR),
    "audit": (lambda b: audit_blueprint(COMPILED, b, source="test"), ExitCode.CHANGES),
}


@pytest.mark.parametrize("name", CHECKERS)
def test_a_checker_passes_what_the_policy_means(name: str) -> None:
    check, _ = CHECKERS[name]
    report = check(COMPILED)
    assert report.ok and not report.findings
    assert report.exit_code == ExitCode.OK
    assert json.loads(report.to_json())["ok"] is True
    assert report.to_text().endswith("\n")


@pytest.mark.parametrize("name", CHECKERS)
def test_a_checker_can_fail(name: str) -> None:
    check, failure = CHECKERS[name]
    report = check(BROKEN)
    assert not report.ok
    assert report.findings
    assert report.exit_code == failure
    assert json.loads(report.to_json())["ok"] is False
    assert report.to_text() != check(COMPILED).to_text()
