"""The options every host target takes (`--inventory`, `--bastion`,
`--network`, `--egress`), and the one way they become each host's rules.

`hasg emit nftables|firewalld`, `hasg audit --from nftables|firewalld` and
`hasg probe` all read a site the same way through here.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hasg.core.blueprint import Blueprint, PeerKind
from hasg.errors import UsageError

if TYPE_CHECKING:
    from hasg.hosts.resolve import HostRuleset

Options = Mapping[str, Any]

# A host firewall names addresses: a role's hosts, the `vpc` networks, CIDRs.
# A policy CIDR list is already expanded into the rules it stands for; a
# prefix list lives in AWS, and no host can resolve it.
HOST_PEER_KINDS: frozenset[PeerKind] = frozenset(
    {"group", "cidr_ipv4", "cidr_ipv6", "vpc", "cidr_list"}
)
EGRESS_CHOICES = ("open", "enforce")
Egress = Literal["open", "enforce"]


def add_inventory_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The options of every host target, and of `hasg audit --nft`."""
    parser.add_argument(
        "--inventory",
        type=Path,
        required=required,
        metavar="FILE",
        help="who plays which role: Chef Automate HA's config.toml, or a YAML/JSON inventory",
    )
    parser.add_argument(
        "--bastion",
        action="append",
        metavar="ADDRESS",
        help="the bastion's address (config.toml does not list it); repeatable",
    )
    parser.add_argument(
        "--network",
        dest="networks",
        action="append",
        metavar="CIDR",
        help="what the policy's `vpc` peer stands for on this site; repeatable",
    )
    parser.add_argument(
        "--egress",
        choices=EGRESS_CHOICES,
        default="open",
        help="open (default: as firewalld leaves it) or enforce the role's egress rules",
    )


def add_host_audit_arguments(parser: argparse.ArgumentParser) -> None:
    """`hasg audit --from nftables|firewalld`: the site, and which host PATH is."""
    parser.add_argument(
        "--host",
        metavar="ADDRESS",
        required=True,
        help="the host whose firewall PATH holds (one of its addresses)",
    )
    add_inventory_arguments(parser)


def enforces_egress(options: Options) -> bool:
    egress = options.get("egress") or "open"
    if egress not in EGRESS_CHOICES:
        raise UsageError(f"egress must be one of {', '.join(EGRESS_CHOICES)}, not {egress!r}")
    return bool(egress == "enforce")


def host_rulesets_of(blueprint: Blueprint, options: Options) -> tuple[HostRuleset, ...]:
    """The transform of every host target: each host's rules, every role and
    `vpc` peer resolved to addresses from the inventory the options name."""
    # Here, not at the top: `hasg --help` declares these options without
    # paying for the inventory readers (YAML, TOML).
    from hasg.hosts.inventory import Inventory, load_inventory
    from hasg.hosts.resolve import host_rulesets

    inventory = options.get("inventory")
    if inventory is None:
        raise UsageError("a host firewall needs an inventory (--inventory FILE)")
    if not isinstance(inventory, Inventory):
        inventory = load_inventory(Path(inventory))
    inventory = inventory.with_options(
        bastion=listed(options.get("bastion")), networks=listed(options.get("networks"))
    )
    return host_rulesets(
        blueprint, inventory, egress=enforces_egress(options), ssh_port=options.get("ssh_port")
    )


def listed(value: object) -> Sequence[str]:
    """A repeatable option's values: None (not given) is none; one string is one."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence):
        raise UsageError(f"{value!r} is not a list of addresses or networks")
    return tuple(str(v) for v in value)
