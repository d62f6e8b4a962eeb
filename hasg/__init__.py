"""hasg: compile a port policy into AWS security groups.

import hasg
policy = hasg.chef_automate_ha(cluster="prod", admin_cidrs=["203.0.113.7/32"])
blueprint = hasg.compile_policy(policy)
print(hasg.to_hcl(blueprint))
"""

from hasg.blueprint import Blueprint, Peer, Rule, SecurityGroup
from hasg.catalog import DOCUMENTED_TABLE, chef_automate_ha
from hasg.compiler import compile_policy
from hasg.errors import HasgError, QuotaError
from hasg.model import (
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

__version__ = "0.1.0"

__all__ = [
    "DOCUMENTED_TABLE",
    "Blueprint",
    "CidrListPeer",
    "CidrPeer",
    "Flow",
    "HasgError",
    "Peer",
    "Policy",
    "Port",
    "PrefixListPeer",
    "QuotaError",
    "Role",
    "RolePeer",
    "Rule",
    "SecurityGroup",
    "VpcPeer",
    "chef_automate_ha",
    "compile_policy",
]
