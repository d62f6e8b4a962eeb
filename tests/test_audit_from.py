"""`hasg audit --from TARGET PATH` for every target that has a reader.

Each target's own output, as a user holds it (a Terraform file, a
CloudFormation template, the kernel's `nft -j list ruleset` of a loaded
file, a firewalld directory), is clean (exit 0); an edit that opens more, and
one that opens less, is drift (exit 2). The edits are made on the files, in
each format's own terms, not on hasg's structures.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from terraform.tooling import bastion_ssh_block

import hasg
from hasg.backends.base import load_backend, target_names
from hasg.backends.nftables import write
from hasg.cli import main
from hasg.hosts.inventory import load_inventory
from hasg.hosts.resolve import host_rulesets
from tests.hosts.conftest import FIXTURES
from tests.hosts.lab import Lab, require_lab

CONFIG = FIXTURES / "config.toml"
HOST = "198.18.0.10"  # automate: the bastion reaches it on tcp/22
SITE = ["--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]
HOST_ARGS = ["--inventory", str(CONFIG), "--host", HOST, *SITE]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    printed = capsys.readouterr()
    assert printed.err == "", printed.err
    return code, printed.out


# --------------------------------------------------------------------------- each target's files


def terraform_file(directory: Path) -> Path:
    """`hasg emit-hcl > sg.tf`: the one file, with the policy's values."""
    path = directory / "sg.tf"
    with path.open("w", encoding="utf-8") as out, contextlib.redirect_stdout(out):
        assert main(["emit-hcl"]) == 0
    return path


def terraform_more(path: Path) -> None:
    """The bastion's SSH rule to automate widened to 22-23."""
    text = path.read_text(encoding="utf-8")
    block = bastion_ssh_block(text)
    path.write_text(
        text.replace(block, re.sub(r"to_port(\s*)= 22", r"to_port\1= 23", block)),
        encoding="utf-8",
    )


def terraform_less(path: Path) -> None:
    """The bastion's SSH rule to automate removed."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(bastion_ssh_block(text), ""), encoding="utf-8")


def cloudformation_file(directory: Path) -> Path:
    assert main(["emit", "cloudformation", "--format", "json", "--out", str(directory)]) == 0
    return directory / "template.json"


def _cfn_edit(path: Path, edit: Callable[[dict[str, object], str], None]) -> None:
    template = json.loads(path.read_text(encoding="utf-8"))
    resources = template["Resources"]
    edit(resources, "AutomateTcp22FromBastion")
    path.write_text(json.dumps(template, indent=2), encoding="utf-8")


def cloudformation_more(path: Path) -> None:
    _cfn_edit(path, lambda resources, name: resources[name]["Properties"].update(ToPort=23))  # type: ignore[index]


def cloudformation_less(path: Path) -> None:
    _cfn_edit(path, lambda resources, name: resources.pop(name))


def nftables_file(directory: Path) -> Path:
    """The kernel's dump of hasg's file for HOST, loaded in a namespace."""
    require_lab()
    inventory = load_inventory(CONFIG).with_options(
        bastion=["198.18.0.5"], networks=["198.18.0.0/24"]
    )
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    (ruleset,) = [
        r for r in host_rulesets(blueprint, inventory, ssh_port=22) if r.host.name == HOST
    ]
    source = directory / f"{HOST}.nft"
    source.write_text(write.ruleset_text(ruleset), encoding="utf-8")
    with Lab([ruleset.host]) as lab:
        lab.load(ruleset.host, source)
        dump = lab.nft_json(ruleset.host)
    path = directory / f"{HOST}.json"
    path.write_text(dump, encoding="utf-8")
    return path


def _nft_ssh_rule(document: dict[str, list[dict[str, dict[str, object]]]]) -> dict[str, object]:
    """The match of the rule that lets the bastion in on tcp/22."""
    (match,) = [
        expression["match"]
        for item in document["nftables"]
        if "rule" in item
        for expression in item["rule"]["expr"]  # type: ignore[attr-defined]
        if "match" in expression
        and "dport" in json.dumps(expression)
        and expression["match"]["right"] == 22
    ]
    return match  # type: ignore[no-any-return]


def nftables_more(path: Path) -> None:
    """`tcp dport 22` made `tcp dport { 22, 2222 }`."""
    document = json.loads(path.read_text(encoding="utf-8"))
    _nft_ssh_rule(document)["right"] = {"set": [22, 2222]}
    path.write_text(json.dumps(document), encoding="utf-8")


def nftables_less(path: Path) -> None:
    """The bastion's SSH rule removed."""
    document = json.loads(path.read_text(encoding="utf-8"))
    match = _nft_ssh_rule(document)
    document["nftables"] = [
        item
        for item in document["nftables"]
        if "rule" not in item or {"match": match} not in item["rule"]["expr"]
    ]
    path.write_text(json.dumps(document), encoding="utf-8")


def firewalld_file(directory: Path) -> Path:
    assert (
        main(["emit", "firewalld", "--inventory", str(CONFIG), *SITE, "--out", str(directory)]) == 0
    )
    return directory / HOST


def firewalld_more(path: Path) -> None:
    """A port open to every source, as `firewall-cmd --add-port=2222/tcp` writes it."""
    zone = path / "zones" / "hasg.xml"
    text = zone.read_text(encoding="utf-8")
    zone.write_text(
        text.replace("</zone>", '  <port protocol="tcp" port="2222"/>\n</zone>'), encoding="utf-8"
    )


def firewalld_less(path: Path) -> None:
    """The rich rule of the bastion's SSH removed."""
    zone = path / "zones" / "hasg.xml"
    text = zone.read_text(encoding="utf-8")
    rules = re.findall(r"  <rule [^>]*>.*?</rule>\n", text, re.S)
    (ssh,) = [r for r in rules if "hasg-r-bastion" in r and 'port="22"' in r]
    zone.write_text(text.replace(ssh, ""), encoding="utf-8")


TARGETS: dict[
    str, tuple[Callable[[Path], Path], Callable[[Path], None], Callable[[Path], None], list[str]]
] = {
    "terraform": (terraform_file, terraform_more, terraform_less, []),
    "cloudformation": (cloudformation_file, cloudformation_more, cloudformation_less, []),
    "nftables": (nftables_file, nftables_more, nftables_less, HOST_ARGS),
    "firewalld": (firewalld_file, firewalld_more, firewalld_less, HOST_ARGS),
}


def test_every_target_with_a_reader_is_here() -> None:
    readers = {name for name in target_names() if load_backend(name).audit is not None}
    assert readers == set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("edit", ["none", "more", "less"])
def test_audit_from_is_clean_on_own_output_and_drift_on_an_edit(
    name: str, edit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made, more, less, extra = TARGETS[name]
    path = made(tmp_path)
    capsys.readouterr()
    before = snapshot(path)
    if edit != "none":
        (more if edit == "more" else less)(path)
        assert snapshot(path) != before, "the edit changed nothing"
    code, out = run(["audit", "--from", name, str(path), *extra], capsys)
    if edit == "none":
        assert code == 0, out
        assert "\nclean: " in out
        return
    assert code == 2, out
    assert re.search(r"drift: \d+ finding\(s\)\n$", out), out
    said = {
        "more": r"  (beyond the policy|changed rule|extra rule) ",
        "less": r"  (missing flow|missing rule) ",
    }
    assert re.search(said[edit], out), out


def snapshot(path: Path) -> dict[str, str]:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return {str(f): f.read_text(encoding="utf-8") for f in files if f.is_file()}
