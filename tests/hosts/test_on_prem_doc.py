"""docs/on-prem.md's Python examples run as written, on the committed config.toml."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import hasg
from hasg.backends import nftables
from hasg.core.hosts import HostRuleset, host_rulesets
from hasg.core.inventory import load_inventory, load_inventory_text
from tests.guard import require
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, missing_capability

DOC = (Path(__file__).resolve().parents[2] / "docs" / "on-prem.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)
YAML_EXAMPLE = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) == 2 and len(YAML_EXAMPLE) == 1


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(FIXTURES / "config.toml", tmp_path / "config.toml")
    # The audit example reads a host's `nft -j` output: the kernel's, from a
    # namespace holding the generated ruleset.
    inventory = load_inventory(tmp_path / "config.toml").with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    (ruleset,) = [
        r
        for r in host_rulesets(hasg.compile_policy(hasg.chef_automate_ha()), inventory)
        if r.host.name == "198.18.0.10"
    ]
    (tmp_path / "198.18.0.10.json").write_text(nft_json_of(ruleset, tmp_path), encoding="utf-8")
    namespace: dict[str, object] = {}
    exec(compile(EXAMPLES[index], f"on-prem.md example {index}", "exec"), namespace)
    if "exit_code" in namespace:
        assert namespace["exit_code"] == hasg.ExitCode.OK


def nft_json_of(ruleset: HostRuleset, directory: Path) -> str:
    """What `nft -j list ruleset` answers once the host's file is loaded."""
    require(missing_capability())  # a network namespace makes the real `nft -j` output
    path = directory / "host.nft"
    path.write_text(nftables.ruleset_text(ruleset), encoding="utf-8")
    with Lab([ruleset.host]) as lab:
        lab.load(ruleset.host, path)
        return lab.nft_json(ruleset.host)


def test_yaml_example_is_an_inventory() -> None:
    inventory = load_inventory_text(YAML_EXAMPLE[0], name="on-prem.md")
    assert inventory.roles == ("automate", "bastion", "postgresql")
    assert inventory.ssh_port == 22
