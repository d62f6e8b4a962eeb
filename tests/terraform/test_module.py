"""The committed module is what hasg generates now, reads back as the built-in
policy, and the example root module that calls it is valid Terraform."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasg import chef_automate_ha, compile_policy
from hasg.backends.terraform.hcl import MODULE_FILES
from hasg.backends.terraform.read import read_hcl_dir
from hasg.cli import main
from hasg.docs.terraform_module import GENERATED, README, REFRESH_COMMAND, module_files
from terraform.tooling import (
    EXAMPLE,
    EXAMPLE_TFVARS,
    MODULE,
    REPO,
    cidr_list_values,
    declared,
    hcl_values,
    policy_for,
    terraform_diagnostics,
    terraform_fmt_diff,
)


@pytest.mark.parametrize("path", sorted(GENERATED))
def test_committed_module_is_what_the_generator_writes_now(path: str) -> None:
    committed = REPO / path
    assert committed.is_file(), f"{path} is missing: run `{REFRESH_COMMAND}`"
    assert committed.read_text(encoding="utf-8") == GENERATED[path](), (
        f"{path} is stale: run `{REFRESH_COMMAND}` and commit the result"
    )


def test_committed_module_is_what_emit_hcl_out_writes(tmp_path: Path) -> None:
    assert main(["emit-hcl", "--out", str(tmp_path)]) == 0
    for name in MODULE_FILES:
        assert (tmp_path / name).read_text(encoding="utf-8") == (MODULE / name).read_text(
            encoding="utf-8"
        ), name


def test_module_directory_holds_only_generated_files() -> None:
    assert sorted(p.name for p in MODULE.iterdir()) == sorted(module_files())


def test_readme_names_the_refresh_command_and_documents_every_input_and_output() -> None:
    readme = (MODULE / README).read_text(encoding="utf-8")
    assert f"`{REFRESH_COMMAND}`" in readme
    for name in [*declared(MODULE, "variable"), *declared(MODULE, "output")]:
        assert f"| `{name}` |" in readme, name


def test_committed_module_reads_back_as_the_builtin_policy() -> None:
    assert read_hcl_dir(MODULE).rule_set() == compile_policy(chef_automate_ha()).rule_set()


def test_example_values_read_back_as_the_policy_with_those_cidrs() -> None:
    values = hcl_values(EXAMPLE_TFVARS)
    blueprint = read_hcl_dir(MODULE, variables=cidr_list_values(values))
    assert blueprint.rule_set() == compile_policy(policy_for(values)).rule_set()


@pytest.mark.parametrize("directory", [MODULE, EXAMPLE], ids=["module", "example"])
def test_terraform_fmt_leaves_it_as_it_is(directory: Path) -> None:
    assert terraform_fmt_diff(directory) == ""


def test_the_fmt_check_can_fail(tmp_path: Path) -> None:
    """`terraform fmt -check -diff` (run in this process) shows a badly laid out file."""
    (tmp_path / "main.tf").write_text('variable "v" {\ntype=string\n}\n', encoding="utf-8")
    diff = terraform_fmt_diff(tmp_path)
    assert "-type=string" in diff and "+  type = string" in diff


@pytest.mark.parametrize("directory", [MODULE, EXAMPLE], ids=["module", "example"])
def test_terraform_validate_has_no_diagnostics(directory: Path) -> None:
    assert terraform_diagnostics(directory) == []


def test_example_calls_the_module_with_every_input_from_its_own_variables() -> None:
    variables = declared(MODULE, "variable")
    example = declared(EXAMPLE, "variable")
    main_tf = hcl_values(EXAMPLE / "main.tf")
    call = main_tf["module"][0]["security_groups"]
    assert call.pop("source") == "../../modules/chef-automate-ha-security-groups"
    assert call == {name: f"${{var.{name}}}" for name in variables}
    for name, variable in variables.items():
        assert example[name]["type"] == variable["type"], name
    assert main_tf["provider"][0]["aws"]["region"] == "${var.region}"
    assert set(declared(EXAMPLE, "output")) >= {"security_group_ids"}


def test_example_tfvars_give_every_list_a_value_so_every_for_each_expands() -> None:
    """checkov checks a for_each over an empty or unknown map as one unexpanded
    resource: the checkov proof needs a CIDR in every list."""
    values = hcl_values(EXAMPLE_TFVARS)
    assert set(values) == set(declared(EXAMPLE, "variable"))
    assert all(values[name] for name in values if name.endswith(("_ipv4", "_ipv6")))
