"""The seam every target plugs into.

A backend turns a Blueprint into files (`emit`) and, where it can, files back
into a Blueprint (`read`). It says which peer kinds it can express and which
transforms must run first; `emit_files` refuses a Blueprint holding any
other peer kind, naming the rule, before anything is written.

Backends are found by name: each module or package under `hasg/backends/`
that defines `BACKEND` is a target, loaded only when asked for, so
`hasg --help` imports none of them. Adding a target is one file defining
`BACKEND`, plus its test; tests/test_backend_contract.py checks every
registered backend against this contract.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hasg.core.blueprint import Blueprint, PeerKind
from hasg.errors import UsageError

Files = dict[str, str]
Options = Mapping[str, Any]
# A Blueprint -> Blueprint step a backend needs before it can write (resolve
# the `vpc` peer, resolve role peers to host addresses...), given the options.
Transform = Callable[[Blueprint, Options], Blueprint]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


@dataclass(frozen=True)
class Backend:
    """One kind of target: Terraform, CloudFormation, nftables, ..."""

    name: str
    summary: str  # one line, for `hasg emit --help`
    peer_kinds: frozenset[PeerKind]
    write: Callable[[Blueprint, Options], Files]
    parse: Callable[[Mapping[str, str], Options], Blueprint] | None = None
    transforms: tuple[Transform, ...] = ()
    # The options `hasg emit NAME` takes beyond --policy and --out.
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)

    def emit(self, blueprint: Blueprint, options: Options | None = None) -> Files:
        """{file name: text}. Deterministic: equal Blueprints give equal bytes."""
        options = options or {}
        for transform in self.transforms:
            blueprint = transform(blueprint, options)
        self.refuse_unsupported(blueprint)
        return self.write(blueprint, options)

    def read(self, files: Mapping[str, str], options: Options | None = None) -> Blueprint:
        if self.parse is None:
            raise UsageError(f"the {self.name} backend writes files but cannot read them back")
        return self.parse(files, options or {})

    def refuse_unsupported(self, blueprint: Blueprint) -> None:
        for group in blueprint:
            for rule in (*group.rules, *group.list_rules):
                if rule.peer.kind not in self.peer_kinds:
                    raise UsageError(
                        f"{self.name} cannot express {group.role}: {rule} "
                        f"(peer kind {rule.peer.kind}; it takes "
                        f"{', '.join(sorted(self.peer_kinds))})"
                    )


def backend_names() -> tuple[str, ...]:
    """Every module or package under hasg/backends/, without importing any."""
    import hasg.backends

    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(hasg.backends.__path__) if m.name != "base")
    )


def load_backend(name: str) -> Backend:
    """The backend registered as `name`; a UsageError naming the targets if none is."""
    if name not in backend_names():
        raise UsageError(f"no target {name!r}; targets: {', '.join(target_names())}")
    backend = getattr(importlib.import_module(f"hasg.backends.{name}"), "BACKEND", None)
    if not isinstance(backend, Backend):
        raise UsageError(
            f"{name} is not a file target (targets: {', '.join(target_names())})"
            + ("; use hasg plan / hasg apply" if name == "aws" else "")
        )
    return backend


def target_names() -> tuple[str, ...]:
    """The backends that write files (import each: for help and errors only)."""
    names = []
    for name in backend_names():
        module = importlib.import_module(f"hasg.backends.{name}")
        if isinstance(getattr(module, "BACKEND", None), Backend):
            names.append(name)
    return tuple(names)


def emit(blueprint: Blueprint, target: str, options: Options | None = None) -> Files:
    """`hasg emit TARGET` as a function: the target's files for `blueprint`."""
    return load_backend(target).emit(blueprint, options)
