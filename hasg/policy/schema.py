"""What a policy file may say: a sentence for every field, and the JSON Schema
editors check files against.

Types, defaults and limits come from the pydantic models in `hasg.policy.model`; the
sentences live here, and a test fails when a model gains a field that has
none. `hasg init` writes them as comments, `hasg schema` as descriptions, and
docs/policy-file.md as its field tables.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from hasg.core.ports import PORT_GRAMMAR
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

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# In a file, `ssh` among a flow's ports stands for tcp/<ssh_port>.
SSH_PORT_WORD = "ssh"

PEER_MODELS: tuple[type[BaseModel], ...] = (
    RolePeer,
    CidrPeer,
    PrefixListPeer,
    CidrListPeer,
    VpcPeer,
)

# Every model a policy file is made of, in the order the docs present them.
FILE_MODELS: tuple[type[BaseModel], ...] = (Policy, Role, Flow, Port, *PEER_MODELS)

FIELD_HELP: dict[type[BaseModel], dict[str, str]] = {
    Policy: {
        "cluster": (
            "The cluster's name. Groups are named `<cluster>-<role>` (with `_` as `-`) and "
            "tagged `hasg:cluster=<cluster>`, so clusters that share a VPC need different names."
        ),
        "roles": "The kinds of machine. Each role gets one security group.",
        "flows": (
            "Who may open connections to whom, on which ports, and why. A flow between two "
            "roles becomes an egress rule on the source's group and an ingress rule on the "
            "destination's group."
        ),
        "user_cidrs": (
            "The networks (IPv4 or IPv6 CIDRs) that a flow naming `user_cidrs` means. "
            "Empty: the VPC's own CIDR."
        ),
        "admin_cidrs": (
            "The networks that a flow naming `admin_cidrs` means. Empty: nobody; the "
            "flow makes no rule until a CIDR is added."
        ),
        "ssh_port": (
            f"The SSH port (Chef supports a custom one). In a file, `{SSH_PORT_WORD}` among a "
            "flow's ports stands for it, so changing this one value moves every SSH flow."
        ),
        "restrict_default_group": (
            "`true`: hasg also empties the VPC's default security group, which it does not "
            "own, as CIS AWS Foundations 5.4 asks: `hasg plan` lists its rules apart, `hasg "
            "apply` revokes every one of them (AWS's and anyone's; the group itself cannot be "
            "deleted, and `hasg destroy` does not put them back), Terraform gets an "
            "`aws_default_security_group` without rules, and an audit reports a rule there as "
            "drift. CloudFormation cannot manage that group (docs/cloudformation.md). Default "
            "`false`: hasg never changes or judges the default group."
        ),
        "tags": (
            "Extra tags for every group, at most 45: AWS allows 50 per group and hasg sets "
            "`Name`, `managed-by`, `hasg:cluster`, `hasg:role` and `hasg:policy-digest` "
            "itself. Keys may not start with `hasg:` or `aws:` (any case). Keys 1-128 and "
            "values 0-256 characters of letters, digits, spaces and `_ . : / = + - @` (AWS's "
            "tag rules), in Unicode normal form C (Terraform normalises to it, apply would not)."
        ),
    },
    Role: {
        "id": (
            "The role's id: a lower case letter, then lower case letters, digits or `_` "
            "(at most 63). Flows name roles by it."
        ),
        "description": "What the machines of this role do; the description of its group.",
        "managed": (
            "`true` when AWS runs this role as a managed service (Amazon RDS, Amazon "
            "OpenSearch Service) and its group is attached to that service. `hasg coverage` "
            "reports the documented cells of its machines (SSH, Habitat) as n/a: managed by AWS."
        ),
    },
    Flow: {
        "source": "Who opens the connections: a peer.",
        "destination": "Who accepts them: a peer. At least one side of a flow is a role.",
        "ports": "What the connections use: one or more ports.",
        "description": (
            "Why the flow exists; the description of every rule it makes (at most 255 "
            "characters that AWS allows)."
        ),
        "public": (
            "Say `true` to open ports other than tcp/80 and tcp/443 wide: to the whole "
            "internet, or to more public addresses than a /24 (IPv4) or a /48 (IPv6) holds, "
            "judged on the union of the CIDRs the peer stands for (`0.0.0.0/1` and "
            "`128.0.0.0/1` are the whole internet); hasg refuses otherwise."
        ),
        "name": "A unique name for the flow, used in reports; default `<source>-to-<destination>`.",
    },
    Port: {
        "protocol": "`tcp`, `udp`, `icmp` or `all`.",
        "from_port": "The first port of the range; for icmp, the ICMP type (-1: any).",
        "to_port": (
            "The last port of the range (default: `from_port`); for icmp, the ICMP code (-1: any)."
        ),
    },
    RolePeer: {"role": "A role id of this policy: the rule references that role's group."},
    CidrPeer: {"cidr": "An IPv4 or IPv6 network in CIDR notation, without host bits."},
    PrefixListPeer: {
        "prefix_list_id": "The id of a customer-managed prefix list (`pl-` and hex digits).",
        "max_entries": (
            "The prefix list's max entries: AWS counts a rule that references it as this "
            "many rules against the group's quota of 60."
        ),
        "address_family": "`IPv4` or `IPv6`: which of the group's two quotas it counts against.",
    },
    CidrListPeer: {"cidr_list": "`user_cidrs` or `admin_cidrs`: one of the policy's CIDR lists."},
    VpcPeer: {"vpc": "`true`: the VPC's primary IPv4 CIDR, looked up where the VPC is known."},
}

PEER_SHORTHAND = (
    "A peer is written as a role id (`bastion`), a CIDR (`10.0.0.0/8`, `2001:db8::/32`), "
    "`vpc`, `user_cidrs`, `admin_cidrs`, or a mapping with one of the keys `role`, `cidr`, "
    "`prefix_list_id` (with `max_entries`), `cidr_list` or `vpc`."
)
PORT_SHORTHAND = (
    "A port is written as `tcp/443`, `tcp/9200-9300`, `udp/9638`, `icmp`, `icmp/8`, "
    f"`icmp/3:4`, `all`, `{SSH_PORT_WORD}` (tcp on the policy's `ssh_port`), a bare number "
    "(tcp), or a mapping with `protocol`, `from_port` and `to_port`."
)

# The model's own grammar (`hasg.core.ports.PORT_GRAMMAR`), and the SSH word a file may use.
_PORT_PATTERN = rf"^\s*(?i:{PORT_GRAMMAR}|{SSH_PORT_WORD})\s*$"


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, shorthands included (`hasg schema`)."""
    schema = copy.deepcopy(Policy.model_json_schema())
    defs: dict[str, Any] = schema["$defs"]
    for model, help_by_field in FIELD_HELP.items():
        node = schema if model is Policy else defs[model.__name__]
        for field, text in help_by_field.items():
            node["properties"][field]["description"] = text
    defs["Port"] = {
        "description": PORT_SHORTHAND,
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 65535},
            {"type": "string", "pattern": _PORT_PATTERN},
            defs["Port"],
        ],
    }
    for side in ("source", "destination"):
        prop = defs["Flow"]["properties"][side]
        alternatives = prop.pop("oneOf")
        prop["anyOf"] = [{"type": "string", "minLength": 1}, *alternatives]
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "hasg policy file",
        **{k: v for k, v in schema.items() if k != "title"},
    }
