"""hasg: compile a port policy into AWS security groups.

    import hasg
    policy = hasg.chef_automate_ha(cluster="prod", admin_cidrs=["203.0.113.7/32"])
    blueprint = hasg.compile_policy(policy)
    print(hasg.to_hcl(blueprint))
    files = hasg.emit(blueprint, "terraform")  # or "nftables", "firewalld": {name: text}
    result = hasg.apply(blueprint, vpc_id="vpc-123")

The AWS functions (plan, apply, destroy) are loaded on first use, so that
importing hasg never imports boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from hasg.backends.aws import ApplyResult, apply, destroy, plan
    from hasg.backends.base import emit
    from hasg.backends.terraform.hcl import to_hcl, to_hcl_module
    from hasg.backends.terraform.read import read_hcl, read_hcl_dir
    from hasg.catalog import DOCUMENTED_TABLE, chef_automate_ha
    from hasg.checks.audit import AuditReport, audit_blueprint
    from hasg.checks.coverage import check_coverage
    from hasg.checks.graph import to_dot, to_mermaid
    from hasg.checks.probe import ProbeReport, probe
    from hasg.checks.reachability import Reachability, VerifyReport, reachability, verify
    from hasg.core.blueprint import Blueprint, Peer, Rule, SecurityGroup
    from hasg.core.compile import compile_policy
    from hasg.core.lockouts import lockouts
    from hasg.errors import (
        AwsError,
        ConcurrentChangeError,
        ExitCode,
        HasgError,
        HclReadError,
        OwnershipError,
        PolicyError,
        PolicyFileError,
        QuotaError,
        UsageError,
    )
    from hasg.policy.file import dump_policy, load_policy_file, load_policy_text
    from hasg.policy.model import (
        CidrListPeer,
        CidrPeer,
        Flow,
        Policy,
        Port,
        PrefixListPeer,
        Role,
        RolePeer,
        VpcPeer,
    )
    from hasg.policy.schema import policy_json_schema
    from hasg.workflows import (
        audit_dumps,
        audit_from,
        audit_hcl,
        audit_vpc,
        import_from_vpc,
        verify_dumps,
        verify_vpc,
    )

from hasg.core.version import __version__ as __version__

# Where each public name lives. Loading on first use keeps `hasg --help` from
# importing pydantic and `hasg emit-hcl` from importing boto3.
_HOMES = {
    "hasg.checks.audit": ("AuditReport", "audit_blueprint"),
    "hasg.workflows": (
        "audit_dumps",
        "audit_from",
        "audit_hcl",
        "audit_vpc",
        "import_from_vpc",
        "verify_dumps",
        "verify_vpc",
    ),
    "hasg.backends.aws": ("ApplyResult", "apply", "destroy", "plan"),
    "hasg.backends.base": ("emit",),
    "hasg.core.blueprint": ("Blueprint", "Peer", "Rule", "SecurityGroup"),
    "hasg.catalog": ("DOCUMENTED_TABLE", "chef_automate_ha"),
    "hasg.core.compile": ("compile_policy",),
    "hasg.core.lockouts": ("lockouts",),
    "hasg.checks.coverage": ("check_coverage",),
    "hasg.errors": (
        "AwsError",
        "ConcurrentChangeError",
        "ExitCode",
        "HasgError",
        "HclReadError",
        "OwnershipError",
        "PolicyError",
        "PolicyFileError",
        "QuotaError",
        "UsageError",
    ),
    "hasg.checks.graph": ("to_dot", "to_mermaid"),
    "hasg.checks.probe": ("ProbeReport", "probe"),
    "hasg.backends.terraform.hcl": ("to_hcl", "to_hcl_module"),
    "hasg.backends.terraform.read": ("read_hcl", "read_hcl_dir"),
    "hasg.policy.model": (
        "CidrListPeer",
        "CidrPeer",
        "Flow",
        "Policy",
        "Port",
        "PrefixListPeer",
        "Role",
        "RolePeer",
        "VpcPeer",
    ),
    "hasg.policy.file": ("dump_policy", "load_policy_file", "load_policy_text"),
    "hasg.policy.schema": ("policy_json_schema",),
    "hasg.checks.reachability": ("Reachability", "VerifyReport", "reachability", "verify"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'hasg' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME_OF])


__all__ = [
    "DOCUMENTED_TABLE",
    "ApplyResult",
    "AuditReport",
    "AwsError",
    "Blueprint",
    "CidrListPeer",
    "CidrPeer",
    "ConcurrentChangeError",
    "ExitCode",
    "Flow",
    "HasgError",
    "HclReadError",
    "OwnershipError",
    "Peer",
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "Port",
    "PrefixListPeer",
    "ProbeReport",
    "QuotaError",
    "Reachability",
    "Role",
    "RolePeer",
    "Rule",
    "SecurityGroup",
    "UsageError",
    "VerifyReport",
    "VpcPeer",
    "apply",
    "audit_blueprint",
    "audit_dumps",
    "audit_from",
    "audit_hcl",
    "audit_vpc",
    "check_coverage",
    "chef_automate_ha",
    "compile_policy",
    "destroy",
    "dump_policy",
    "emit",
    "import_from_vpc",
    "load_policy_file",
    "load_policy_text",
    "lockouts",
    "plan",
    "policy_json_schema",
    "probe",
    "reachability",
    "read_hcl",
    "read_hcl_dir",
    "to_dot",
    "to_hcl",
    "to_hcl_module",
    "to_mermaid",
    "verify",
    "verify_dumps",
    "verify_vpc",
]
