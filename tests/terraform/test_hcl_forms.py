"""`hasg audit --hcl` fails closed: every form in which Terraform can write a
security group rule is read (exit 2 when it differs from the policy), and what
cannot be read or evaluated is an error naming file and line (exit 1)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hasg.backends.terraform.hcl import to_hcl
from hasg.backends.terraform.read import read_hcl, read_hcl_dir
from hasg.cli import main
from hasg.docs.terraform_module import builtin_blueprint
from hasg.errors import HclReadError
from terraform.tooling import MODULE

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=10)

ADMIN_RULE = "bastion_tcp_22_from_admin_cidrs_ipv4"


def audit(directory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(["audit", "--hcl", str(directory), "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def module_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "module"
    shutil.copytree(MODULE, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def world_ssh_findings(report: Any) -> list[dict[str, str]]:
    return [
        f
        for f in report["findings"]
        if f["kind"] == "extra_rule" and "tcp/22 from 0.0.0.0/0" in f["detail"]
    ]


def open_admin_rule(main_tf: Path, value: str) -> None:
    """The bastion's admin SSH rule given `value` for cidr_ipv4 (and a key)."""
    edit(
        main_tf, "admin_cidrs_ipv4 = zipmap(", 'admin_cidrs_ipv4 = { x = "0" }\n  unused = zipmap('
    )
    text = main_tf.read_text(encoding="utf-8")
    block = re.search(rf'resource "[a-z_]+" "{ADMIN_RULE}" {{\n.*?\n}}\n', text, re.S)
    assert block
    main_tf.write_text(
        text.replace(block[0], block[0].replace("cidr_ipv4         = each.value", value)),
        encoding="utf-8",
    )


def test_the_committed_module_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = audit(MODULE, capsys)
    assert code == 0 and report["findings"] == []


@pytest.mark.parametrize(
    "value",
    [
        'cidr_ipv4         = "0.0.0.0/0"',
        'cidr_ipv4         = cidrsubnet("0.0.0.0/0", 0, 0)',
        'cidr_ipv4         = "0.0.0.0/${0}"',
    ],
)
def test_a_rule_opened_to_the_world_in_the_module_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    module = module_copy(tmp_path)
    open_admin_rule(module / "main.tf", value)
    code, report, _ = audit(module, capsys)
    assert code == 2
    assert world_ssh_findings(report)


@pytest.mark.parametrize(
    ("local", "shown"),
    [
        ('{ world = "0.0.0.0/0" }', "tcp/22 from 0.0.0.0/0"),
        ('{ a = cidrsubnet("203.0.113.0/24", 8, 1) }', "tcp/22 from 203.0.113.1/32"),
    ],
)
def test_an_edited_locals_block_is_evaluated_and_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], local: str, shown: str
) -> None:
    module = module_copy(tmp_path)
    edit(
        module / "main.tf",
        "admin_cidrs_ipv4 = zipmap(var.admin_cidrs_ipv4, var.admin_cidrs_ipv4)",
        f"admin_cidrs_ipv4 = {local}",
    )
    code, report, _ = audit(module, capsys)
    assert code == 2
    assert any(f["kind"] == "extra_rule" and shown in f["detail"] for f in report["findings"])


SSH_FROM_WORLD = {
    "ip_protocol": "tcp",
    "from_port": 22,
    "to_port": 22,
    "cidr_ipv4": "0.0.0.0/0",
}

FORMS = {
    "tf.json": (
        "extra.tf.json",
        json.dumps(
            {
                "resource": {
                    "aws_vpc_security_group_ingress_rule": {
                        "by_json": {
                            "security_group_id": "${aws_security_group.bastion.id}",
                            **SSH_FROM_WORLD,
                        }
                    }
                }
            },
            indent=2,
        ),
    ),
    "legacy": (
        "extra.tf",
        'resource "aws_security_group_rule" "legacy" {\n'
        '  type              = "ingress"\n'
        "  security_group_id = aws_security_group.bastion.id\n"
        '  protocol          = "6"\n'
        "  from_port         = 22\n"
        "  to_port           = 22\n"
        '  cidr_blocks       = ["10.0.0.0/8", "0.0.0.0/0"]\n'
        "}\n",
    ),
    "another resource name": (
        "extra.tf",
        'resource "aws_vpc_security_group_ingress_rule" "harmless" {\n'
        "  security_group_id = aws_security_group.postgresql.id\n"
        '  ip_protocol       = "tcp"\n'
        "  from_port         = 22\n"
        "  to_port           = 22\n"
        '  cidr_ipv4         = "0.0.0.0/0"\n'
        "}\n",
    ),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_an_extra_rule_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    module = module_copy(tmp_path)
    name, text = FORMS[form]
    (module / name).write_text(text, encoding="utf-8")
    code, report, _ = audit(module, capsys)
    assert code == 2
    assert world_ssh_findings(report)


def test_an_inline_ingress_block_in_a_hasg_group_is_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = module_copy(tmp_path)
    edit(
        module / "main.tf",
        '  name        = "chef-automate-ha-bastion"\n',
        '  name        = "chef-automate-ha-bastion"\n'
        "  ingress {\n"
        "    from_port   = 22\n"
        "    to_port     = 22\n"
        '    protocol    = "tcp"\n'
        '    cidr_blocks = ["0.0.0.0/0"]\n'
        "  }\n",
    )
    code, report, _ = audit(module, capsys)
    assert code == 2
    assert [f["role"] for f in world_ssh_findings(report)] == ["bastion"]


UNREADABLE = {
    "unknown data source": (
        "cidr_ipv4         = data.aws_subnet.x.cidr_block",
        "cidr_ipv4: cannot evaluate",
    ),
    "unknown inside a function": (
        "cidr_ipv4         = cidrsubnet(data.aws_vpc.this.cidr_block, 8, 1)",
        "cidr_ipv4: cannot evaluate",
    ),
    "variable without a value": ("cidr_ipv4         = var.nowhere", "cannot evaluate"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_what_cannot_be_evaluated_is_an_error_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    module = module_copy(tmp_path)
    value, message = UNREADABLE[case]
    if "var.nowhere" in value:
        (module / "nowhere.tf").write_text('variable "nowhere" {\n  type = string\n}\n')
    open_admin_rule(module / "main.tf", value)
    code, report, err = audit(module, capsys)
    assert (code, report) == (1, None)
    assert f"{module / 'main.tf'}: aws_vpc_security_group_ingress_rule.{ADMIN_RULE}" in err
    assert message in err and re.search(r"\(line \d+\)$", err.strip())
    assert "Traceback" not in err


def test_a_for_each_that_cannot_be_evaluated_is_an_error(tmp_path: Path) -> None:
    module = module_copy(tmp_path)
    edit(
        module / "main.tf",
        "admin_cidrs_ipv4 = zipmap(var.admin_cidrs_ipv4, var.admin_cidrs_ipv4)",
        "admin_cidrs_ipv4 = tomap({ a = data.aws_vpc.this.cidr_block })",
    )
    with pytest.raises(HclReadError, match=rf"{ADMIN_RULE}: for_each: cannot evaluate"):
        read_hcl_dir(module)


def test_a_rule_on_a_group_id_it_cannot_resolve_is_an_error() -> None:
    text = to_hcl(builtin_blueprint()) + (
        'resource "aws_security_group_rule" "elsewhere" {\n'
        '  type              = "ingress"\n'
        "  security_group_id = data.aws_security_group.other.id\n"
        '  protocol          = "tcp"\n'
        "  from_port         = 22\n"
        "  to_port           = 22\n"
        '  cidr_blocks       = ["0.0.0.0/0"]\n'
        "}\n"
    )
    with pytest.raises(HclReadError, match="elsewhere: security_group_id: cannot evaluate"):
        read_hcl(text)


def test_a_module_it_would_have_to_fetch_is_an_error(tmp_path: Path) -> None:
    module = module_copy(tmp_path)
    (module / "more.tf").write_text(
        'module "sg" {\n  source = "terraform-aws-modules/security-group/aws"\n}\n'
    )
    with pytest.raises(HclReadError, match=r"more.tf: module.sg: source: .* not a local"):
        read_hcl_dir(module)


def test_non_utf8_terraform_is_an_error_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = module_copy(tmp_path)
    (module / "latin1.tf").write_bytes(b'locals {\n  x = "caf\xe9"\n}\n')
    code, report, err = audit(module, capsys)
    assert (code, report) == (1, None)
    assert f"{module / 'latin1.tf'}: not valid HCL: Invalid character encoding (line 2)" in err


def test_duplicate_resource_names_are_refused_as_terraform_does(tmp_path: Path) -> None:
    module = module_copy(tmp_path)
    text = (module / "main.tf").read_text(encoding="utf-8")
    block = re.search(r'resource "aws_security_group" "bastion" \{\n.*?\n\}\n', text, re.S)
    assert block
    (module / "again.tf").write_text("\n\n" + block[0], encoding="utf-8")
    with pytest.raises(
        HclReadError, match=r"aws_security_group.bastion: declared twice; first at .*\.tf line \d+"
    ):
        read_hcl_dir(module)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    form=st.sampled_from(["vpc_rule", "legacy", "inline", "json"]),
    protocol=st.sampled_from(["tcp", "6", "TCP", "-1", "all", "udp", "17", "50", "esp"]),
    port=st.integers(0, 65535),
    cidr=st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "203.0.113.0/24"]),
    role=st.sampled_from(["bastion", "postgresql", "automate"]),
)
def test_an_extra_rule_in_any_form_is_never_clean(
    form: str, protocol: str, port: int, cidr: str, role: str
) -> None:
    """However the rule is written, the reader sees one more rule than the policy."""
    expected = builtin_blueprint()
    files = {"main.tf": to_hcl(expected)}
    group = f"aws_security_group.{role}.id"
    if form == "vpc_rule":
        files["x.tf"] = (
            f'resource "aws_vpc_security_group_ingress_rule" "x" {{\n'
            f'  security_group_id = {group}\n  ip_protocol = "{protocol}"\n'
            f'  from_port = {port}\n  to_port = {port}\n  cidr_ipv4 = "{cidr}"\n}}\n'
        )
    elif form == "legacy":
        files["x.tf"] = (
            f'resource "aws_security_group_rule" "x" {{\n  type = "ingress"\n'
            f'  security_group_id = {group}\n  protocol = "{protocol}"\n'
            f'  from_port = {port}\n  to_port = {port}\n  cidr_blocks = ["{cidr}"]\n}}\n'
        )
    elif form == "json":
        files["x.tf.json"] = json.dumps(
            {
                "resource": {
                    "aws_vpc_security_group_egress_rule": {
                        "x": {
                            "security_group_id": "${" + group + "}",
                            "ip_protocol": protocol,
                            "from_port": port,
                            "to_port": port,
                            "cidr_ipv4": cidr,
                        }
                    }
                }
            }
        )
    else:
        files["main.tf"] = files["main.tf"].replace(
            f'resource "aws_security_group" "{role}" {{\n',
            f'resource "aws_security_group" "{role}" {{\n  egress {{\n'
            f'    protocol = "{protocol}"\n    from_port = {port}\n    to_port = {port}\n'
            f'    cidr_blocks = ["{cidr}"]\n  }}\n',
        )
    actual = read_hcl(files)
    assert len(actual.rule_set() - expected.rule_set()) == 1
    assert actual.rule_set() > expected.rule_set()
