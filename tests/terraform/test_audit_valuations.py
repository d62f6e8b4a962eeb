"""`hasg audit --hcl` judges every valuation of the policy's CIDR list
variables, not only the defaults or the given tfvars.

A rule made per CIDR of a list (`for_each = local.admin_cidrs_ipv4`) has no
instance while the list is empty: with its peer edited to `"0.0.0.0/0"` the
module opens SSH to the world as soon as someone sets `admin_cidrs_ipv4`,
and the audit said clean. And a .tf file with a byte that is not UTF-8 gave
a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hasg import chef_automate_ha
from hasg.backends.terraform.hcl import to_hcl_module
from hasg.cli import main
from hasg.core.compile import compile_policy
from hasg.docs.terraform_module import builtin_blueprint
from terraform.test_audit_hcl import edit_block

Run = tuple[int, str, str]
# Every rule block hasg writes per CIDR of a list: its name and peer field.
LIST_RULE = re.compile(
    r'resource "(aws_vpc_security_group_(?:in|e)gress_rule)" "(\w+)" \{\n'
    r"  for_each = local\.\w+\n(?:.*\n)*?  (cidr_ipv[46]) += each\.value\n"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def module(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_ssh_to_the_world_once_the_admin_list_is_set_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = to_hcl_module(builtin_blueprint())
    files["main.tf"] = edit_block(
        files["main.tf"],
        "bastion_tcp_22_from_admin_cidrs_ipv4",
        lambda block: block.replace("each.value", '"0.0.0.0/0"'),
    )
    directory = module(tmp_path / "module", files)
    code, out, err = run(capsys, "audit", "--hcl", str(directory), "--json")
    assert (code, err) == (2, "")
    details = {f["detail"] for f in json.loads(out)["findings"]}
    assert any(
        d.startswith("with every CIDR list set (admin_cidrs = 192.0.2.0/24")
        and d.endswith(
            "ingress tcp/22 from 0.0.0.0/0 (Administrators SSH to the bastion on 22, "
            "the only way in for operators)"
        )
        for d in details
    ), details


def test_the_faithful_module_is_clean_under_every_valuation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, policy in (
        ("builtin", chef_automate_ha()),
        ("lists", chef_automate_ha(admin_cidrs=["203.0.113.7/32"], user_cidrs=["2001:db8:1::/48"])),
    ):
        directory = module(tmp_path / name, to_hcl_module(compile_policy(policy)))
        policy_file = tmp_path / f"{name}.json"
        policy_file.write_text(policy.model_dump_json(exclude_none=True), encoding="utf-8")
        code, out, _ = run(capsys, "audit", "--hcl", str(directory), "--policy", str(policy_file))
        assert code == 0, out


def list_rule_blocks() -> list[tuple[str, str]]:
    files = to_hcl_module(builtin_blueprint())
    return [(m[2], m[3]) for m in LIST_RULE.finditer(files["main.tf"])]


@pytest.mark.parametrize(("name", "field"), list_rule_blocks())
def test_any_list_rule_whose_peer_is_not_its_cidr_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, field: str
) -> None:
    """Every rule hasg makes per CIDR of a list, its peer changed to a literal:
    the defaults make no instance of most of them (admin_cidrs is empty), so
    only another valuation can see it."""
    files = to_hcl_module(builtin_blueprint())
    literal = '"0.0.0.0/0"' if field == "cidr_ipv4" else '"::/0"'
    files["main.tf"] = edit_block(
        files["main.tf"], name, lambda block: block.replace("each.value", literal)
    )
    directory = module(tmp_path / "module", files)
    code, out, _ = run(capsys, "audit", "--hcl", str(directory))
    assert code == 2, out
    assert literal.strip('"') in out


def test_a_list_local_that_ignores_its_values_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = to_hcl_module(builtin_blueprint())
    local = "admin_cidrs_ipv4 = zipmap(var.admin_cidrs_ipv4, var.admin_cidrs_ipv4)"
    assert local in files["main.tf"]
    files["main.tf"] = files["main.tf"].replace(
        local,
        'admin_cidrs_ipv4 = { for c in var.admin_cidrs_ipv4 : c => "0.0.0.0/0" }',
    )
    code, out, _ = run(capsys, "audit", "--hcl", str(module(tmp_path / "m", files)))
    assert code == 2 and "from 0.0.0.0/0" in out, out


def test_a_vpc_fallback_edited_to_the_world_is_drift_though_the_defaults_never_take_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With user_cidrs set, the defaults never take the VPC fallback; the
    valuation with every list empty does."""
    policy = chef_automate_ha(user_cidrs=["198.51.100.0/24"])
    files = to_hcl_module(compile_policy(policy))
    fallback = "tomap({ vpc = data.aws_vpc.this.cidr_block })"
    assert fallback in files["main.tf"]
    files["main.tf"] = files["main.tf"].replace(fallback, 'tomap({ vpc = "0.0.0.0/0" })')
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(policy.model_dump_json(exclude_none=True), encoding="utf-8")
    directory = module(tmp_path / "m", files)
    code, out, _ = run(capsys, "audit", "--hcl", str(directory), "--policy", str(policy_file))
    assert code == 2, out
    assert "with every CIDR list empty: ingress tcp/443 from 0.0.0.0/0" in out


def test_a_tf_file_that_is_not_utf8_is_one_line_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = to_hcl_module(builtin_blueprint())
    directory = module(tmp_path / "module", files)
    with (directory / "main.tf").open("ab") as text:
        text.write(b"# caf\xe9\n")  # the evaluator reads it without a word
    lines = files["main.tf"].count("\n") + 1
    code, out, err = run(capsys, "audit", "--hcl", str(directory))
    assert (code, out) == (1, "")
    assert err == (
        f"hasg: error: {directory / 'main.tf'}:{lines}:6: is not UTF-8 text "
        f"(byte {len(files['main.tf'].encode()) + 5})\n"
    )
