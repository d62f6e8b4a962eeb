"""The packet test's own guard: it skips on a laptop without root, and fails in CI."""

from __future__ import annotations

import os

import pytest

from hasg.hosts.inventory import load_inventory_text
from tests.hosts import lab


def test_without_root_it_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="need root"):
        lab.require_lab()


def test_in_ci_a_missing_capability_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the packet test cannot run"):
        lab.require_lab()


def test_a_failed_build_leaves_no_namespace_behind() -> None:
    lab.require_lab()
    hosts = load_inventory_text("roles:\n  a: [198.18.3.1]\n  b: [198.18.3.2]\n").hosts
    broken = lab.Lab(hosts, prefixes={4: 33, 6: 64})  # /33: `ip addr add` refuses it
    with pytest.raises(RuntimeError), broken:
        pass
    listed = lab.run("ip", "netns", "list")
    assert broken.token not in listed
