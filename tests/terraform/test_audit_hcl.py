"""`hasg audit --hcl`: a Terraform file or module, as emitted or edited by hand,
compared with the policy. Exit 0 when they match, 2 on any difference, 1 when
the file cannot be read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hasg.backends.terraform.hcl import to_hcl
from hasg.backends.terraform.read import read_hcl_dir
from hasg.cli import main
from hasg.docs.terraform_module import builtin_blueprint
from terraform.tooling import (
    EXAMPLE_TFVARS,
    MODULE,
    bastion_ssh_block,
    hcl_values,
    with_flows,
)

Run = tuple[int, str, str]


@pytest.fixture
def hasg(capsys: pytest.CaptureFixture[str]) -> Any:
    def run(*argv: str) -> Run:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def findings(out: str) -> set[tuple[str, str, str]]:
    return {(f["kind"], f["role"], f["detail"]) for f in json.loads(out)["findings"]}


def example_policy_file(hasg: Any, directory: Path) -> Path:
    """`hasg init` for the CIDRs of the example's tfvars: the policy they stand for."""
    values = hcl_values(EXAMPLE_TFVARS)
    flags = [
        f"--{flag}={cidr}"
        for name, flag in (("user_cidrs", "user-cidr"), ("admin_cidrs", "admin-cidr"))
        for family in ("ipv4", "ipv6")
        for cidr in values[f"{name}_{family}"]
    ]
    policy = directory / "policy.yaml"
    assert hasg("init", "--out", str(policy), *flags)[0] == 0
    return policy


def test_the_committed_module_matches_the_builtin_policy(hasg: Any) -> None:
    code, out, _ = hasg("audit", "--hcl", str(MODULE))
    assert code == 0
    assert "clean" in out
    assert f"{builtin_blueprint().rule_count()} rules" in out


def test_the_module_with_the_example_values_matches_the_policy_with_those_cidrs(
    hasg: Any, tmp_path: Path
) -> None:
    policy = example_policy_file(hasg, tmp_path)
    code, out, _ = hasg(
        "audit", "--hcl", str(MODULE), "--var-file", str(EXAMPLE_TFVARS), "--policy", str(policy)
    )
    assert code == 0, out
    assert "clean" in out


def test_values_the_policy_does_not_name_are_extra_rules(hasg: Any, tmp_path: Path) -> None:
    """The check checkov cannot make: SSH from ::/0 through a tfvars file."""
    policy = example_policy_file(hasg, tmp_path)
    values = {**hcl_values(EXAMPLE_TFVARS), "admin_cidrs_ipv6": ["::/0"]}
    tfvars = tmp_path / "open.tfvars.json"
    tfvars.write_text(json.dumps(values), encoding="utf-8")
    code, out, _ = hasg(
        "audit", "--hcl", str(MODULE), "--var-file", str(tfvars), "--policy", str(policy), "--json"
    )
    assert code == 2
    about_admins = "(Administrators SSH to the bastion on 22, the only way in for operators)"
    assert findings(out) == {
        ("missing_rule", "bastion", f"ingress tcp/22 from 2001:db8:2::7/128 {about_admins}"),
        ("extra_rule", "bastion", f"ingress tcp/22 from ::/0 {about_admins}"),
    }


def edit_block(text: str, name: str, edit: Any) -> str:
    """Apply `edit` to the text of the resource block called `name`."""
    match = re.search(rf'^resource "[a-z_]+" "{name}" {{\n.*?^}}\n', text, re.S | re.M)
    assert match, name
    return text[: match.start()] + edit(match.group(0)) + text[match.end() :]


def test_hand_edits_are_reported_as_missing_extra_and_changed_rules(
    hasg: Any, tmp_path: Path
) -> None:
    text = to_hcl(builtin_blueprint())
    text = edit_block(text, "postgresql_tcp_5432_from_automate", lambda _: "")
    text = edit_block(
        text, "opensearch_tcp_9300_from_opensearch", lambda b: b.replace("9300", "9301")
    )
    text = edit_block(
        text,
        "automate_tcp_443_from_chef_server",
        lambda b: re.sub(r'description( +)= ".*"', r'description\1= "opened by hand"', b),
    )
    text += """
resource "aws_vpc_security_group_ingress_rule" "postgresql_ssh_from_anywhere" {
  security_group_id = aws_security_group.postgresql.id
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = "0.0.0.0/0"
}
"""
    edited = tmp_path / "security-groups.tf"
    edited.write_text(text, encoding="utf-8")

    code, out, _ = hasg("audit", "--hcl", str(edited), "--json")
    assert code == 2
    kinds = sorted((kind, role) for kind, role, _ in findings(out))
    assert kinds == [
        ("changed_rule", "automate"),
        ("changed_rule", "opensearch"),
        ("extra_rule", "postgresql"),
        ("missing_rule", "postgresql"),
    ]
    details = "\n".join(detail for *_, detail in findings(out))
    assert "ingress tcp/5432 from group automate" in details
    assert "ports are tcp/9301, the policy says tcp/9300" in details
    assert "description is 'opened by hand'" in details
    assert "ingress tcp/22 from 0.0.0.0/0" in details

    code, text_out, _ = hasg("audit", "--hcl", str(edited))
    assert code == 2
    assert text_out.splitlines()[-1] == "drift: 4 finding(s)"


def test_a_group_changed_by_hand_is_reported(hasg: Any, tmp_path: Path) -> None:
    blueprint = builtin_blueprint()
    text = to_hcl(blueprint).replace(
        '"Chef Infra Server HA frontend nodes"', '"Chef Infra Server (renamed by hand)"'
    )
    edited = tmp_path / "main.tf"
    edited.write_text(text, encoding="utf-8")
    code, out, _ = hasg("audit", "--hcl", str(edited), "--json")
    assert code == 2
    assert {(kind, role) for kind, role, _ in findings(out)} == {("changed_group", "chef_server")}


def test_another_policy_is_drift(hasg: Any, tmp_path: Path) -> None:
    """The module of the default policy against a policy with one more flow."""
    from hasg import chef_automate_ha
    from hasg.policy.file import dump_policy

    policy = with_flows(
        chef_automate_ha(),
        {
            "source": "automate",
            "destination": "opensearch",
            "ports": ["tcp/9300"],
            "description": "a flow the module does not have",
        },
    )
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(dump_policy(policy, "yaml"), encoding="utf-8")
    code, out, _ = hasg("audit", "--hcl", str(MODULE), "--policy", str(policy_file), "--json")
    assert code == 2
    assert {(kind, role) for kind, role, _ in findings(out)} == {
        ("missing_rule", "automate"),
        ("missing_rule", "opensearch"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('resource "aws_security_group" "x" {', "not valid HCL"),
        (
            'resource "aws_vpc_security_group_ingress_rule" "r" {\n'
            '  security_group_id = "sg-123"\n  ip_protocol = "tcp"\n}\n',
            "is not a security group of this configuration",
        ),
    ],
)
def test_unreadable_terraform_is_an_error_not_drift(
    hasg: Any, tmp_path: Path, text: str, message: str
) -> None:
    broken = tmp_path / "broken.tf"
    broken.write_text(text, encoding="utf-8")
    code, out, err = hasg("audit", "--hcl", str(broken))
    assert (code, out) == (1, "")
    assert str(broken) in err
    assert message in err


def test_var_file_needs_hcl(hasg: Any) -> None:
    code, _, err = hasg("audit", "--vpc", "vpc-0123456789abcdef0", "--var-file", "x.tfvars")
    assert code == 1
    assert "--var-file" in err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.tfvars.json", "{not json", "not valid JSON"),
        ("list.tfvars.json", "[]", "holds one object"),
        ("bad.tfvars", "admin_cidrs_ipv4 = [", "not valid HCL"),
    ],
)
def test_unreadable_var_file_is_an_error(
    hasg: Any, tmp_path: Path, name: str, text: str, message: str
) -> None:
    var_file = tmp_path / name
    var_file.write_text(text, encoding="utf-8")
    code, _, err = hasg("audit", "--hcl", str(MODULE), "--var-file", str(var_file))
    assert code == 1
    assert str(var_file) in err
    assert message in err


def test_a_file_edited_between_two_reads_in_one_process_is_read_again(tmp_path: Path) -> None:
    """The reader parses each text once per process (hasg.backends.terraform.read):
    a file changed in place is read as it is now, and a second read of the same
    text gives the same Blueprint (nothing reading the parsed tree changed it)."""
    shutil.copytree(MODULE, tmp_path / "module")
    main_tf = tmp_path / "module" / "main.tf"
    first = read_hcl_dir(tmp_path / "module")
    assert read_hcl_dir(tmp_path / "module") == first
    text = main_tf.read_text(encoding="utf-8")
    main_tf.write_text(text.replace(bastion_ssh_block(text), ""), encoding="utf-8")
    edited = read_hcl_dir(tmp_path / "module")
    assert edited.rule_count() == first.rule_count() - 1
