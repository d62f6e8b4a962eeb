"""`hasg probe`: ask the network itself, with real packets between the real
hosts, whether every connection the policy allows works and nothing else does.

    report = hasg.probe(policy, "config.toml", bastion=["10.0.0.5"], networks=["10.0.0.0/16"])
    print(report.to_text()); raise SystemExit(report.exit_code)

- `plan`: the probe set and what the policy expects of each probe;
- `ssh`: one session per host (OpenSSH, or a local process for this host),
  each running `agent` from memory;
- `runner`: listen everywhere, then probe from everywhere at once;
- `report`: verdicts, the truth table, text and JSON.

The probe never changes a firewall, binds only free ports, sends traffic only
between the inventory's own addresses, gives every probe a timeout, and ends
every session however it stops (docs/probe.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hasg.checks.probe.report import ProbeReport
from hasg.errors import InventoryError, UsageError

if TYPE_CHECKING:
    from hasg.hosts.inventory import Inventory
    from hasg.policy.model import Policy

DEFAULT_TIMEOUT = 2.0  # seconds: a lost SYN is sent again after 1 s (Linux's initial RTO)
MAX_TIMEOUT = 60.0

__all__ = ["DEFAULT_TIMEOUT", "ProbeReport", "probe"]


def probe(
    policy: Policy,
    inventory: Inventory | Path | str,
    *,
    bastion: Sequence[str] = (),
    networks: Sequence[str] = (),
    egress: str = "open",
    ssh_user: str | None = None,
    ssh_key: Path | str | None = None,
    ssh_port: int | None = None,
    known_hosts: Path | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    unnamed_ports: int | None = None,
) -> ProbeReport:
    """Probe every host of `inventory` (config.toml or a YAML/JSON
    inventory, with `bastion` and `networks` added as by `--bastion` and
    `--network`) against `policy`.

    SSH settings: the arguments, else the inventory's (`ssh_user`,
    `ssh_key_file`, `ssh_port`), else ssh's own defaults (and the policy's
    SSH port). `known_hosts`: the file host keys are checked against
    (default: ssh's, the user's ~/.ssh/known_hosts). `egress`: "enforce"
    where the sources' egress rules hold too (security groups: always).
    """
    from hasg.core.compile import compile_policy
    from hasg.hosts.inventory import Inventory, load_inventory, ssh_setting
    from hasg.hosts.options import enforces_egress
    from hasg.hosts.probes import DEFAULT_UNNAMED

    from . import runner, ssh
    from .plan import plan_probes

    if not isinstance(inventory, Inventory):
        inventory = load_inventory(Path(inventory))
    inventory = inventory.with_options(bastion=bastion, networks=networks)
    if not 0 < timeout <= MAX_TIMEOUT or math.isnan(timeout):
        raise UsageError(f"the timeout is more than 0 and at most {MAX_TIMEOUT:g} s, not {timeout}")
    if ssh_port is not None and not 1 <= ssh_port <= 65535:
        raise UsageError(f"--ssh-port {ssh_port} is not a port (1-65535)")
    if ssh_user is not None:
        try:
            ssh_setting("ssh_user", ssh_user)
        except ValueError as error:
            raise UsageError(f"--ssh-user: {error}") from None
    managed = frozenset(r.id for r in policy.roles if r.managed)
    plan = plan_probes(
        compile_policy(policy),
        inventory,
        enforce_egress=enforces_egress({"egress": egress}),
        ssh_port=policy.ssh_port,
        unnamed=DEFAULT_UNNAMED if unnamed_ports is None else unnamed_ports,
        managed_roles=managed,
    )
    access = ssh.Access(
        user=ssh_user or inventory.ssh_user,
        key_file=_key_file(ssh_key, inventory),
        port=ssh_port or inventory.ssh_port or policy.ssh_port,
        known_hosts=None if known_hosts is None else _known_hosts(known_hosts),
        connect_timeout=max(5, math.ceil(3 * timeout)),
    )
    return runner.run(plan, access, timeout=timeout)


def _key_file(flag: Path | str | None, inventory: Inventory) -> str | None:
    """The private key, checked readable before any host is tried."""
    written = flag if flag is not None else inventory.ssh_key_file
    if written is None:
        return None
    path = os.path.abspath(os.path.expanduser(str(written)))
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        message = f"the SSH key {written} cannot be read: {error.strerror}"
        if flag is not None:
            raise UsageError(f"--ssh-key: {message}") from None
        raise InventoryError([inventory.problem("ssh_key_file", message)]) from None
    return path


def _known_hosts(written: Path | str) -> str:
    path = os.path.abspath(os.path.expanduser(str(written)))
    if not os.path.isfile(path):
        raise UsageError(f"--known-hosts {written}: no such file")
    return path
