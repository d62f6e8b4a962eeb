"""Terraform and `restrict_default_group`: an `aws_default_security_group` without
rules, only with the option; read back by hasg's reader, judged by an audit,
accepted by Terraform's loader, and passing checkov's CKV2_AWS_12 (which fails
without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasg import Policy, chef_automate_ha, compile_policy
from hasg.backends.terraform.hcl import to_hcl, to_hcl_module
from hasg.backends.terraform.read import read_hcl
from hasg.core.blueprint import DEFAULT_GROUP, Peer, Rule
from hasg.errors import ExitCode, HclReadError, UsageError
from hasg.workflows import audit_hcl
from terraform.tooling import (
    Checkov,
    CheckovReport,
    declared,
    terraform_diagnostics,
    terraform_fmt_diff,
)

LEAVING = chef_automate_ha()
RESTRICTING = LEAVING.model_copy(update={"restrict_default_group": True})
# AWS's rules of a default group, as a person would keep them in Terraform.
AWS_DEFAULT_RULES = """
resource "aws_default_security_group" "default" {
  vpc_id = var.vpc_id

  ingress {
    protocol  = -1
    self      = true
    from_port = 0
    to_port   = 0
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"""


def module(policy: Policy, directory: Path) -> Path:
    for name, text in to_hcl_module(compile_policy(policy)).items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_only_the_option_emits_the_default_group_and_without_rules(tmp_path: Path) -> None:
    restricting = declared(module(RESTRICTING, tmp_path), "resource")
    assert restricting["aws_default_security_group"] == {"default": {"vpc_id": "${var.vpc_id}"}}
    assert "aws_default_security_group" not in to_hcl(compile_policy(LEAVING))


def test_terraform_loads_and_formats_it_unchanged(tmp_path: Path) -> None:
    directory = module(RESTRICTING, tmp_path)
    assert terraform_diagnostics(directory) == []
    assert terraform_fmt_diff(directory) == ""


def test_the_reader_reads_it_back_as_the_option() -> None:
    restricting = compile_policy(RESTRICTING)
    back = read_hcl(to_hcl_module(restricting))
    assert back == restricting
    assert back.default_group == ()
    assert read_hcl(to_hcl_module(compile_policy(LEAVING))).default_group is None


def test_the_reader_reads_the_rules_of_a_default_group_as_its_own() -> None:
    files = to_hcl_module(compile_policy(LEAVING))
    files["main.tf"] += AWS_DEFAULT_RULES
    back = read_hcl(files)
    assert back.default_group == (
        Rule("egress", "-1", -1, -1, Peer("cidr_ipv4", "0.0.0.0/0")),
        Rule("ingress", "-1", -1, -1, Peer("group", DEFAULT_GROUP)),
    )
    assert back.roles == compile_policy(LEAVING).roles


def test_two_default_groups_are_refused_by_file_and_line() -> None:
    files = to_hcl_module(compile_policy(RESTRICTING))
    files["extra.tf"] = 'resource "aws_default_security_group" "other" {\n  vpc_id = "vpc-1"\n}\n'
    with pytest.raises(HclReadError, match=r"several aws_default_security_group .*extra\.tf:1"):
        read_hcl(files)


def test_the_writer_refuses_a_default_group_with_rules() -> None:
    rule = Rule("egress", "-1", -1, -1, Peer("cidr_ipv4", "0.0.0.0/0"))
    blueprint = compile_policy(RESTRICTING).replace(default_group=(rule,))
    with pytest.raises(UsageError, match="default group only without rules"):
        to_hcl_module(blueprint)


@pytest.mark.parametrize(
    ("audited", "emitted", "aws_rules", "kinds"),
    [
        (RESTRICTING, RESTRICTING, False, []),
        (LEAVING, LEAVING, False, []),
        # The option on, and the module leaves the default group alone.
        (RESTRICTING, LEAVING, False, ["missing_group"]),
        # The option on, and the module keeps AWS's rules in the default group.
        (RESTRICTING, RESTRICTING, True, ["extra_rule", "extra_rule"]),
        # The option off, and the module manages the default group anyway.
        (LEAVING, RESTRICTING, False, ["extra_group"]),
    ],
)
def test_an_audit_judges_the_default_group_against_the_option(
    tmp_path: Path, audited: Policy, emitted: Policy, aws_rules: bool, kinds: list[str]
) -> None:
    directory = module(emitted, tmp_path)
    if aws_rules:
        main = (directory / "main.tf").read_text(encoding="utf-8")
        start = main.index('resource "aws_default_security_group"')
        end = main.index("\n}\n", start) + 3
        (directory / "main.tf").write_text(main[:start] + AWS_DEFAULT_RULES.lstrip() + main[end:])

    report = audit_hcl(audited, directory)

    assert sorted(f.kind for f in report.findings) == kinds
    assert all(f.group == "default" for f in report.findings)
    assert report.exit_code == (ExitCode.CHANGES if kinds else ExitCode.OK)


def vpc_and_module(policy: Policy, directory: Path) -> Path:
    """hasg's configuration beside the VPC it is for, which is how CKV2_AWS_12
    (a graph check from an aws_vpc to its aws_default_security_group) sees it."""
    text = to_hcl(compile_policy(policy)).replace("var.vpc_id", "aws_vpc.main.id")
    text += '\nresource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n'
    (directory / "main.tf").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def scanned(checkov: Checkov, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckovReport]:
    """One checkov run (scan_each: each pays checkov's start-up), a report for
    each directory: hasg's configuration beside its VPC with the option
    ("on") and without it ("off"), and the module with the option ("module")."""
    parent = tmp_path_factory.mktemp("checkov")
    for name in ("on", "off", "module"):
        (parent / name).mkdir()
    vpc_and_module(RESTRICTING, parent / "on")
    vpc_and_module(LEAVING, parent / "off")
    module(RESTRICTING, parent / "module")
    return checkov.scan_each(parent)


def test_checkov_ckv2_aws_12_passes_with_the_option_and_fails_without(
    scanned: dict[str, CheckovReport],
) -> None:
    restricting, leaving = scanned["on"], scanned["off"]

    assert restricting.outcomes("CKV2_AWS_12") == {"aws_vpc.main": "PASSED"}
    assert leaving.outcomes("CKV2_AWS_12") == {"aws_vpc.main": "FAILED"}
    failed = {(c["check_id"], c["resource"]) for c in restricting.failed}
    assert failed <= {(c["check_id"], c["resource"]) for c in leaving.failed}


def test_checkov_passes_the_module_with_the_option(scanned: dict[str, CheckovReport]) -> None:
    report = scanned["module"]
    assert report.resource_count > 0 and not report.parsing_errors
    assert report.failed == ()
