"""The probe space's services: the ones the policy never names."""

from __future__ import annotations

import pytest

from hasg.core.blueprint import Blueprint
from hasg.hosts.probes import UNNAMED_CANDIDATES, covers, unnamed_services


@pytest.mark.parametrize("count", [0, 1, 5])
def test_as_many_unnamed_services_as_asked_none_of_them_named(
    chef_blueprint: Blueprint, count: int
) -> None:
    chosen = unnamed_services(chef_blueprint, count)
    assert len(chosen) == count
    rules = [r for g in chef_blueprint for r in g.rules]
    assert not any(covers(r.protocol, r.from_port, r.to_port, s) for s in chosen for r in rules)
    assert unnamed_services(chef_blueprint, count) == chosen  # the same on every run
    assert len(unnamed_services(chef_blueprint, len(UNNAMED_CANDIDATES))) <= len(UNNAMED_CANDIDATES)
