"""Terraform: the Blueprint as HCL, and HCL read back into a Blueprint.

`hasg emit terraform` (and its alias `hasg emit-hcl`): a module with --out,
or the same files as one configuration on stdout. The emitter and the
python-hcl2 reader load only when used.
"""

from __future__ import annotations

from collections.abc import Mapping

from hasg.backends.base import ALL_PEER_KINDS, Backend, Files, Options
from hasg.core.blueprint import Blueprint


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


BACKEND = Backend(
    name="terraform",
    summary="a Terraform module (aws_vpc_security_group_*_rule); stdout without --out",
    # Every peer kind: groups by reference, the VPC's CIDR through data.aws_vpc,
    # prefix lists by id, policy CIDR lists as variables.
    peer_kinds=ALL_PEER_KINDS,
    write=_write,
    parse=_parse,
    as_one_text=_one_configuration,
)
