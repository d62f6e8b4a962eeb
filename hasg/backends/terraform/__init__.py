"""Terraform: the Blueprint as HCL, and HCL read back into a Blueprint.

`hasg emit terraform` (and its alias `hasg emit-hcl`): a module with --out,
or the same files as one configuration on stdout. The emitter and the
python-hcl2 reader load only when used.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hasg.backends.base import ALL_PEER_KINDS, AuditSource, Backend, Capabilities, Files, Options
from hasg.core.blueprint import Blueprint

if TYPE_CHECKING:
    from hasg.core.findings import Located


def _write(blueprint: Blueprint, options: Options) -> Files:
    from hasg.backends.terraform.hcl import to_hcl_module

    return to_hcl_module(blueprint)


def _parse(files: Mapping[str, str], options: Options) -> Blueprint:
    from hasg.backends.terraform.read import read_hcl

    return read_hcl(files)


def _one_configuration(files: Files) -> str:
    """What `hasg emit-hcl` has always printed: the module's files, in order."""
    from hasg.backends.terraform.hcl import MODULE_FILES

    return "\n".join(files[name] for name in MODULE_FILES)


def _read_path(path: Path, options: Options) -> Located:
    """The module and where each group and rule is in it (for SARIF's locations)."""
    from hasg.backends.terraform.read import read_hcl_places
    from hasg.core.findings import Located

    return Located(*read_hcl_places(path, var_file=options.get("var_file")))


def _with_lists(path: Path, options: Options, lists: Mapping[str, tuple[str, ...]]) -> Located:
    """The module read with the policy's CIDR lists as its list variables,
    one per family (`admin_cidrs_ipv4`, ...), over `--var-file`'s values."""
    from hasg.backends.terraform.hcl import list_variable
    from hasg.backends.terraform.read import read_hcl_places
    from hasg.core.findings import Located
    from hasg.core.networks import FAMILIES, family_of

    variables = {
        list_variable(name, family): [c for c in cidrs if family_of(c) == family]
        for name, cidrs in lists.items()
        for family in FAMILIES
    }
    return Located(*read_hcl_places(path, variables=variables, var_file=options.get("var_file")))


def _audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--var-file",
        type=Path,
        metavar="FILE",
        help="values of the Terraform variables (.tfvars or .tfvars.json), as for "
        "terraform -var-file; default: the variables' defaults",
    )


BACKEND = Backend(
    name="terraform",
    summary="a Terraform module (aws_vpc_security_group_*_rule); stdout without --out",
    # Every peer kind: groups by reference, the VPC's CIDR through data.aws_vpc,
    # prefix lists by id, policy CIDR lists as variables. The VPC's default
    # group only as aws_default_security_group without rules (restrict_default_group).
    capabilities=Capabilities(ALL_PEER_KINDS, default_group="without_rules"),
    write=_write,
    parse=_parse,
    as_one_text=_one_configuration,
    audit=AuditSource(
        "a Terraform file, or a module directory",
        _read_path,
        _audit_arguments,
        with_lists=_with_lists,
    ),
)
