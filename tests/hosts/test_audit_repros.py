"""Issue 15's repros of `hasg audit --nft`, through the CLI, on the kernel's dumps.

Each loads hasg's file for 198.18.0.10 into a network namespace, changes the
ruleset there as the issue did (with `nft` itself), dumps it as a user would,
and runs `hasg audit --from nftables`. On the old reader each of the edits
below was "clean" (exit 0) and an untouched `nft -n -j` dump was drift; now an
untouched host is clean in every dump form and every edit is drift, named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import hasg
from hasg.backends.nftables import write
from hasg.cli import main
from hasg.hosts.inventory import load_inventory
from hasg.hosts.resolve import HostRuleset, host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

CONFIG = FIXTURES / "config.toml"
SITE = ["--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]
HOST = "198.18.0.10"  # automate: the bastion reaches it on tcp/22

# What each repro does to the loaded ruleset, in nft's own commands, and what
# the audit must then say. `{ssh}` is the handle of the bastion's SSH rule.
EDITS: dict[str, tuple[list[str], str]] = {
    # The whole table switched off: the host is open to everyone.
    "dormant table": (
        ["add table inet hasg { flags dormant; }"],
        r"cannot evaluate .*dormant|beyond the policy",
    ),
    # Another table's output chain sets a conntrack expectation for tcp/5432:
    # an incoming 5432 connection becomes `related`, which hasg's own table
    # accepts.
    "conntrack expectation in another table": (
        [
            "add table inet other",
            "add ct expectation inet other e { protocol tcp; dport 5432; timeout 1m; "
            "size 12; l3proto ip; }",
            "add chain inet other o { type filter hook output priority 0; }",
            'add rule inet other o ct expectation set "e"',
        ],
        r"cannot evaluate .*ct expectation",
    ),
    # Two port matches in one rule: it matches nothing, SSH from the bastion is blocked.
    "two port matches": (
        [
            "replace rule inet hasg input handle {ssh} ip saddr @role_bastion_ipv4 "
            "tcp dport 7432 tcp dport 22 accept"
        ],
        r"missing flow .*tcp/22 from bastion 198\.18\.0\.5",
    ),
}


@pytest.fixture(scope="module")
def ruleset() -> HostRuleset:
    inventory = load_inventory(CONFIG).with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    (found,) = [r for r in host_rulesets(blueprint, inventory, ssh_port=22) if r.host.name == HOST]
    return found


@pytest.fixture
def lab(ruleset: HostRuleset, tmp_path: Path) -> Iterator[Lab]:
    require_lab()
    source = tmp_path / f"{HOST}.nft"
    source.write_text(write.ruleset_text(ruleset), encoding="utf-8")
    with Lab([ruleset.host]) as made:
        made.load(ruleset.host, source)
        yield made


def audit(dump: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "dump.json"
    path.write_text(dump, encoding="utf-8")
    where = ["--inventory", str(CONFIG), "--host", HOST, *SITE]
    code = main(["audit", "--from", "nftables", str(path), *where])
    printed = capsys.readouterr()
    assert printed.err == ""
    return code, printed.out


@pytest.mark.parametrize("flags", [(), ("-n",), ("-a",), ("-n", "-a")])
def test_an_untouched_host_is_clean_in_every_dump_form(
    lab: Lab,
    ruleset: HostRuleset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...],
) -> None:
    """docs/on-prem.md says `nft -n -j`: the old reader found 6 differences in it."""
    dump = lab.exec(ruleset.host, "nft", *flags, "-j", "list", "ruleset")
    code, out = audit(dump, tmp_path, capsys)
    assert code == 0, out
    assert "\nclean: " in out


def ssh_handle(lab: Lab, ruleset: HostRuleset) -> str:
    listed = lab.exec(ruleset.host, "nft", "-a", "list", "chain", "inet", "hasg", "input")
    (handle,) = re.findall(r"@role_bastion_ipv4 tcp dport 22 accept .*# handle (\d+)", listed)
    return handle


@pytest.mark.parametrize("name", sorted(EDITS))
@pytest.mark.parametrize("flags", [(), ("-n",)])
def test_each_repro_is_drift_naming_why(
    lab: Lab,
    ruleset: HostRuleset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    flags: tuple[str, ...],
) -> None:
    commands, said = EDITS[name]
    handle = ssh_handle(lab, ruleset)
    for command in commands:
        lab.exec(ruleset.host, "nft", command.replace("{ssh}", handle))
    dump = lab.exec(ruleset.host, "nft", *flags, "-j", "list", "ruleset")
    code, out = audit(dump, tmp_path, capsys)
    assert code == 2, out
    assert re.search(said, out), out
