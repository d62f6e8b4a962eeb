"""The seam every target plugs into: a Backend, and the registry of them.

A backend turns a Blueprint into files (`emit`) and, where it can, files back
into a Blueprint (`read`). It says which peer kinds it can express and which
transforms must run first; `emit` refuses a Blueprint holding any other peer
kind, naming the rule, before anything is written.

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
from typing import TYPE_CHECKING, Any, Protocol, get_args

from hasg.core.blueprint import Blueprint, PeerKind
from hasg.errors import UsageError
from hasg.hosts.options import (
    HOST_PEER_KINDS,
    add_inventory_arguments,
    enforces_egress,
    host_rulesets_of,
)

if TYPE_CHECKING:
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
class Backend:
    """One kind of target: Terraform, nftables, firewalld, ..."""

    name: str
    summary: str  # one line, for `hasg emit --help`
    peer_kinds: frozenset[PeerKind]
    write: Callable[[Blueprint, Options], Files]
    parse: Callable[[Mapping[str, str], Options], Blueprint] | None = None
    transforms: tuple[Transform, ...] = ()
    # The options `hasg emit NAME` takes beyond --policy and --out; their
    # `dest`s are the option names the library takes (`hasg.emit(..., name=value)`).
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)
    # How the files print as one text when no --out is given; None: the
    # target writes a directory (one file per host) and needs --out.
    as_one_text: Callable[[Files], str] | None = None

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

    def prepare(self, blueprint: Blueprint, options: Options) -> Blueprint:
        """The Blueprint after the backend's transforms, checked for what it can express."""
        for transform in self.transforms:
            blueprint = transform(blueprint, options)
        self.refuse_unsupported(blueprint)
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

    def refuse_unsupported(self, blueprint: Blueprint) -> None:
        for group in blueprint:
            for rule in (*group.rules, *group.list_rules):
                if rule.peer.kind not in self.peer_kinds:
                    raise UsageError(
                        f"{self.name} cannot express {group.role}'s rule `{rule}` "
                        f"(peer kind {rule.peer.kind}; it takes "
                        f"{', '.join(sorted(self.peer_kinds))})"
                    )


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
) -> Backend:
    """A target that writes host firewalls: it takes the inventory options and
    resolves every host's rules (`host_rulesets_of`) before `emit` writes them."""

    def write(blueprint: Blueprint, options: Options) -> Files:
        return emit(host_rulesets_of(blueprint, options), enforce_egress=enforces_egress(options))

    return Backend(
        name=name,
        summary=summary,
        peer_kinds=HOST_PEER_KINDS,
        write=write,
        parse=parse,
        add_arguments=add_inventory_arguments,
    )
