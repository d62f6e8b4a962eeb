"""Roles nobody can reach: a policy CIDR list left empty lets nobody in.

The built-in policy's `admin_cidrs` is empty unless given, and it is the only
way to the bastion (Chef's tables give the bastion no incoming port): nobody
can SSH to it, which is safe and often not what was meant. `emit`, `plan` and
`apply` say so on stderr; library callers ask `lockouts`.
"""

from __future__ import annotations

from hasg.core.blueprint import Blueprint
from hasg.core.peers import VPC_FALLBACK_LISTS


def lockouts(blueprint: Blueprint) -> tuple[str, ...]:
    """One sentence per role and empty CIDR list its ingress names: who cannot
    reach what, and the `hasg init` option that fills the list. A list that
    falls back to the VPC (`user_cidrs`) always lets someone in."""
    empty = {n for n, cidrs in blueprint.cidr_lists.items() if not cidrs} - VPC_FALLBACK_LISTS
    found: dict[tuple[str, str], list[str]] = {}
    for group in blueprint:
        for rule in group.list_rules:
            if rule.direction == "ingress" and rule.peer.value in empty:
                ports = found.setdefault((group.role, rule.peer.value), [])
                ports.append(rule.ports_text())
    return tuple(
        f"nobody can reach {role} on {', '.join(ports)}: the policy's {name} is empty; "
        f"add the CIDRs that may reach it (`hasg init {init_option(name)} CIDR` writes a "
        "policy with them)"
        for (role, name), ports in sorted(found.items())
    )


def init_option(name: str) -> str:
    """`hasg init`'s option that fills a CIDR list: `admin_cidrs` -> `--admin-cidr`."""
    return "--" + name.removesuffix("s").replace("_", "-")
