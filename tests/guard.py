"""The one guard every skip of the suite goes through.

A test that needs a tool or a capability this machine lacks (Graphviz, Node,
network namespaces, ...) skips on a developer's machine and says why. With
CI=true, as `.ci/run` sets after installing everything, the same test fails:
there a skip would read like a pass in the summary line.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require(missing: str | None) -> None:
    """Go on when nothing is `missing`; else skip, or under CI=true fail, saying what."""
    if missing is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and {missing}", pytrace=False)
    pytest.skip(missing)
