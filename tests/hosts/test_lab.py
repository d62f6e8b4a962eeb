"""The packet test's own guard: it skips on a laptop without root, and fails in CI."""

from __future__ import annotations

import os
from pathlib import Path

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


RULESET = """flush ruleset
table inet t {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    %s
  }
}
"""


def test_a_flow_an_earlier_ruleset_accepted_is_judged_new_after_a_load(tmp_path: Path) -> None:
    """The carry-over is real (a plain `nft -f` keeps conntrack's memory, and
    the kernel lets the old flow in), and `Lab.load` removes it."""
    lab.require_lab()
    hosts = load_inventory_text("roles:\n  a: [198.18.3.1]\n  b: [198.18.3.2]\n").hosts
    client, server = hosts
    (opened := tmp_path / "opened.nft").write_text(RULESET % "udp dport 53 accept")
    (closed := tmp_path / "closed.nft").write_text(RULESET % "")
    with lab.Lab(hosts) as built:
        built.pin_neighbours()
        built.serve([], [53])
        # One UDP datagram from a fixed source port, as a probe that happens to
        # draw the port of an earlier one: "open" when the echo comes back.
        flow = (client.name, "udp", str(server.addresses[0]), 53)

        def send() -> str:
            return built.probe([flow], source_port=40001)[flow]

        built.load(server, opened)
        assert send() == "open"
        built.exec(server, "nft", "-f", str(closed))
        assert send() == "open"  # established: what a probe must never be misled by
        built.load(server, closed)
        assert send() == "timeout"
