"""The one CI-aware guard: a missing tool skips on a developer's machine, fails in CI."""

from __future__ import annotations

import pytest

from tests.guard import require

# What the guard raises, caught as a value: a skip escaping a test of the guard
# would itself read as a skip, never as a failure.
STOPS = (pytest.skip.Exception, pytest.fail.Exception)


def outcome(missing: str | None) -> tuple[type[BaseException], str] | None:
    try:
        require(missing)
    except STOPS as stopped:
        return type(stopped), str(stopped)
    return None


def test_nothing_missing_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert outcome(None) is None


@pytest.mark.parametrize("ci", [None, "false", "0", ""])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert outcome("dot is not installed") == (pytest.skip.Exception, "dot is not installed")


@pytest.mark.parametrize("ci", ["true", "TRUE", " true\n"])
def test_in_ci_a_missing_tool_fails(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    assert outcome("dot is not installed") == (
        pytest.fail.Exception,
        "CI=true and dot is not installed",
    )
