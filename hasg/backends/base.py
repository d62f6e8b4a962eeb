"""The seam every target plugs into: a Backend, and the registry of them.

A backend turns a Blueprint into files (`emit`) and, where it can, files back
into a Blueprint (`read`). It declares what it can express (`Capabilities`:
peer kinds, the VPC's default group, enforced egress, ICMP types and codes)
and which transforms must run first; one mechanism, `refuse_unsupported`,
refuses anything else before a file is written, naming it, in one message
form: a target never does less than asked in silence. A target with an
`AuditSource` can be audited (`hasg audit --from NAME PATH`): it says what
PATH is read into (a Blueprint, or a host's view) and which options that takes.

Backends are found by name: each module or package under `hasg/backends/`
that defines `BACKEND` is a target, loaded only when asked for, so
`hasg --help` imports none of them. Adding a target is one file defining
`BACKEND` (its options included: `add_arguments`), plus its test;
tests/test_backend_contract.py checks every registered backend against this
contract, and `hasg emit TARGET` finds it with no edit to the CLI.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from hasg.core.blueprint import Blueprint, PeerKind
from hasg.core.protocols import ALL_PORTS, ICMP_PROTOCOLS
from hasg.errors import UsageError
from hasg.hosts.options import (
    HOST_PEER_KINDS,
    add_inventory_arguments,
    enforces_egress,
    host_rulesets_of,
)

if TYPE_CHECKING:
    from hasg.core.findings import Located
    from hasg.hosts.probes import HostView
    from hasg.hosts.resolve import HostRuleset

Files = dict[str, str]
Options = Mapping[str, Any]
# A Blueprint -> Blueprint step a backend needs before it can write, given the options.
Transform = Callable[[Blueprint, Options], Blueprint]

ALL_PEER_KINDS: frozenset[PeerKind] = frozenset(get_args(PeerKind))
# Facts of the policy that its Blueprint does not carry, which `hasg emit`
# passes to every target (a target may ignore them): a host firewall must
# open the SSH port the hosts really listen on, or lock the operator out.
POLICY_OPTIONS = ("ssh_port",)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


@dataclass(frozen=True)
class Capabilities:
    """What a target can express; `Backend.refuse_unsupported` refuses the rest.

    `default_group`: the VPC's default group (`restrict_default_group`), not
    at all, only without rules, or any. `enforce_egress`: a host target's
    `--egress enforce`. `icmp_codes`: a rule on one ICMP code. `icmp_types`:
    per ICMP protocol, the types it can name (None: every type)."""

    peer_kinds: frozenset[PeerKind]
    default_group: Literal["none", "without_rules", "any"] = "any"
    enforce_egress: bool = True
    icmp_codes: bool = True
    icmp_types: Mapping[str, frozenset[int]] | None = None
    # What to use instead, said with every refusal.
    instead: str = ""


@dataclass(frozen=True)
class AuditSource:
    """How `hasg audit --from NAME PATH` reads PATH.

    `read` gives a Blueprint (compared with the policy's; `Located` with where
    its groups and rules are) or, for a host firewall, a view of the host
    (`hasg.hosts.probes.HostView`) that the host audit tries connections on;
    `add_arguments` declares the options that reading takes (their `dest`s
    are `read`'s option names)."""

    what: str  # what PATH is, for help and errors
    read: Callable[[Path, Options], Blueprint | Located | HostView]
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)
    # Whether `read` gives one host's view (then the audit needs --inventory and --host).
    of_a_host: bool = False
    # Where the files take the policy's CIDR lists as inputs (Terraform's list
    # variables): PATH read again with the lists given these values. A rule
    # made once per CIDR of a list has no instance while the list is empty,
    # so the audit judges every valuation it needs, not only the given one
    # (`hasg.workflows.list_valuations`).
    with_lists: Callable[[Path, Options, Mapping[str, tuple[str, ...]]], Located] | None = None


@dataclass(frozen=True)
class Backend:
    """One kind of target: Terraform, nftables, firewalld, ..."""

    name: str
    summary: str  # one line, for `hasg emit --help`
    capabilities: Capabilities
    write: Callable[[Blueprint, Options], Files]
    parse: Callable[[Mapping[str, str], Options], Blueprint] | None = None
    transforms: tuple[Transform, ...] = ()
    # The options `hasg emit NAME` takes beyond --policy and --out; their
    # `dest`s are the option names the library takes (`hasg.emit(..., name=value)`).
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)
    # How the files print as one text when no --out is given; None: the
    # target writes a directory (one file per host) and needs --out.
    as_one_text: Callable[[Files], str] | None = None
    # `hasg audit --from NAME PATH`; None: the target cannot be audited.
    audit: AuditSource | None = None

    @property
    def peer_kinds(self) -> frozenset[PeerKind]:
        return self.capabilities.peer_kinds

    def option_defaults(self) -> dict[str, Any]:
        """Every option this backend takes, with its default."""
        parser = argparse.ArgumentParser(add_help=False)
        self.add_arguments(parser)
        defaults: dict[str, Any] = {name: None for name in POLICY_OPTIONS}
        defaults.update((a.dest, a.default) for a in parser._actions)
        return defaults

    def options(self, given: Options | None = None) -> dict[str, Any]:
        """`given` with every default filled in; an option the backend does
        not take is refused (a misspelt option must not be silently ignored)."""
        known = self.option_defaults()
        unknown = sorted(set(given or {}) - set(known))
        if unknown:
            raise UsageError(
                f"the {self.name} target takes no option {', '.join(unknown)} "
                f"(it takes: {', '.join(sorted(known))})"
            )
        return {**known, **(given or {})}

    def audit_options(self, given: Options | None = None) -> dict[str, Any]:
        """`hasg audit --from NAME` options, defaults filled in, each given one
        checked: unknown ones and missing required ones are refused, as the
        command refuses them."""
        if self.audit is None:
            raise UsageError(f"the {self.name} target has no reader to audit")
        parser = argparse.ArgumentParser(add_help=False)
        self.audit.add_arguments(parser)
        known = {a.dest: a for a in parser._actions}
        unknown = sorted(set(given or {}) - set(known))
        if unknown:
            raise UsageError(
                f"hasg audit --from {self.name} takes no option {', '.join(unknown)} "
                f"(it takes: {', '.join(sorted(known))})"
            )
        missing = [
            a.option_strings[0]
            for name, a in known.items()
            if a.required and (given or {}).get(name) is None
        ]
        if missing:
            raise UsageError(f"hasg audit --from {self.name} needs {' and '.join(missing)}")
        return {**{name: a.default for name, a in known.items()}, **(given or {})}

    def prepare(self, blueprint: Blueprint, options: Options) -> Blueprint:
        """The Blueprint after the backend's transforms, checked for what it can express."""
        for transform in self.transforms:
            blueprint = transform(blueprint, options)
        self.refuse_unsupported(blueprint, options)
        return blueprint

    def emit(self, blueprint: Blueprint, options: Options | None = None) -> Files:
        """{file name: text}. Deterministic: equal Blueprints give equal bytes.

        Every file is computed before this returns, so a caller that writes
        only after it returns writes nothing when anything is refused."""
        resolved = self.options(options)
        files = self.write(self.prepare(blueprint, resolved), resolved)
        for name in files:
            check_file_name(self.name, name)
        return dict(sorted(files.items()))

    def read(self, files: Mapping[str, str], options: Options | None = None) -> Blueprint:
        if self.parse is None:
            raise UsageError(f"the {self.name} target writes files but cannot read them back")
        return self.parse(files, self.options(options))

    def refuse_unsupported(self, blueprint: Blueprint, options: Options | None = None) -> None:
        """Refuse, before anything is written, what this target cannot express."""
        able = self.capabilities
        if options is not None and options.get("egress") == "enforce" and not able.enforce_egress:
            self._refuse("--egress enforce", "it cannot enforce a host's egress")
        if blueprint.default_group is not None:
            if able.default_group == "none":
                self._refuse(
                    "restrict_default_group (the VPC's default group without rules)",
                    "it has no resource for a VPC's default group",
                )
            if able.default_group == "without_rules" and blueprint.default_group:
                count = len(blueprint.default_group)
                self._refuse(
                    f"the VPC's default group with {count} rule(s)",
                    "it writes the default group only without rules (restrict_default_group)",
                )
        for group in blueprint:
            for rule in (*group.rules, *group.list_rules):
                what = f"{group.role}'s rule `{rule}`"
                if rule.peer.kind not in able.peer_kinds:
                    kinds = ", ".join(sorted(able.peer_kinds))
                    self._refuse(what, f"peer kind {rule.peer.kind}; it takes {kinds}")
                if rule.protocol not in ICMP_PROTOCOLS:
                    continue
                if not able.icmp_codes and rule.to_port != ALL_PORTS:
                    self._refuse(what, "it cannot match one ICMP code")
                types = (able.icmp_types or {}).get(rule.protocol)
                if (
                    types is not None
                    and rule.from_port != ALL_PORTS
                    and rule.from_port not in types
                ):
                    self._refuse(what, f"it names no {rule.protocol} type {rule.from_port}")

    def _refuse(self, what: str, why: str) -> None:
        instead = f"; {self.capabilities.instead}" if self.capabilities.instead else ""
        raise UsageError(f"{self.name} cannot express {what} ({why}{instead})")


def check_file_name(target: str, name: str) -> None:
    """A file name stays inside --out: relative, `/`-separated, no `.`, `..`
    or empty part (so no name is written twice under two spellings)."""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in name or "\0" in name:
        raise UsageError(f"the {target} target named a file {name!r} outside its directory")


def backend_names() -> tuple[str, ...]:
    """Every module or package under hasg/backends/, without importing any."""
    import pkgutil  # here: `hasg emit NAME` finds its one backend without listing them

    import hasg.backends

    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(hasg.backends.__path__) if m.name != "base")
    )


def _is_backend(name: str) -> bool:
    """Whether hasg/backends/ holds a module or package `name` (not the seam)."""
    import importlib.util

    if not name.isidentifier() or name.startswith("_") or name == "base":
        return False
    return importlib.util.find_spec(f"hasg.backends.{name}") is not None


def load_backend(name: str) -> Backend:
    """The backend registered as `name`; a UsageError naming the targets if none is."""
    if not _is_backend(name):
        raise UsageError(f"no target {name!r}; targets: {', '.join(target_names())}")
    backend = getattr(importlib.import_module(f"hasg.backends.{name}"), "BACKEND", None)
    if not isinstance(backend, Backend):
        raise UsageError(
            f"{name} is not a file target (targets: {', '.join(target_names())})"
            + ("; use hasg plan / hasg apply" if name == "aws" else "")
        )
    return backend


def target_names() -> tuple[str, ...]:
    """The backends that write files (imports each: for help and errors only)."""
    names = []
    for name in backend_names():
        module = importlib.import_module(f"hasg.backends.{name}")
        if isinstance(getattr(module, "BACKEND", None), Backend):
            names.append(name)
    return tuple(names)


def emit(blueprint: Blueprint, target: str, **options: Any) -> Files:
    """`hasg emit TARGET` as a function: the target's {file name: text} for
    `blueprint`. `options` are the target's (`hasg emit TARGET --help`), by
    their Python names: `hasg.emit(b, "nftables", inventory="config.toml",
    bastion=["198.18.0.5"], networks=["198.18.0.0/24"], ssh_port=22)`."""
    return load_backend(target).emit(blueprint, options)


# --------------------------------------------------------------------------- host targets


class HostEmitter(Protocol):
    """A host target's writer: `nftables.emit`, `firewalld.emit`."""

    def __call__(
        self, rulesets: Sequence[HostRuleset], *, enforce_egress: bool = False
    ) -> Files: ...


def host_backend(
    name: str,
    summary: str,
    emit: HostEmitter,
    parse: Callable[[Mapping[str, str], Options], Blueprint] | None = None,
    *,
    capabilities: Capabilities | None = None,
    audit: AuditSource | None = None,
) -> Backend:
    """A target that writes host firewalls: it takes the inventory options and
    resolves every host's rules (`host_rulesets_of`) before `emit` writes them."""

    def write(blueprint: Blueprint, options: Options) -> Files:
        return emit(host_rulesets_of(blueprint, options), enforce_egress=enforces_egress(options))

    return Backend(
        name=name,
        summary=summary,
        # A site has no VPC, and so no VPC default group for restrict_default_group
        # to act on: the option asks nothing of a host firewall.
        capabilities=capabilities or Capabilities(HOST_PEER_KINDS),
        write=write,
        parse=parse,
        add_arguments=add_inventory_arguments,
        audit=audit,
    )
