"""The import graph is the pipeline: policy -> compile -> Blueprint -> {backends, checks}.

Every `import` in hasg/ (at module level, inside functions, and under
TYPE_CHECKING alike) is checked against the layers of docs/architecture.md:

- core (hasg.errors, hasg.core, hasg.policy, hasg.catalog) imports only the core;
- hosts (hasg.hosts: inventories, host rulesets, the probe space) imports the core;
- a backend (hasg.backends.NAME) imports the core, hasg.hosts, hasg.backends.base and
  its own package, never the compiler: backends speak the Blueprint;
- a check (hasg.checks) imports the core, hasg.hosts and other checks, no backend;
- the top (hasg itself, hasg.cli, hasg.docs, hasg.workflows) may import anything,
  and nothing below it imports the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "hasg"

CORE = ("hasg.errors", "hasg.core", "hasg.policy", "hasg.catalog")
TOP = ("hasg.cli", "hasg.docs", "hasg.workflows")
# Backends speak the Blueprint; turning a policy into one is the caller's job.
NOT_FOR_BACKENDS = ("hasg.core.compile",)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_of(module: str) -> str:
    if module == "hasg" or _within(module, TOP):
        return "top"
    if _within(module, CORE):
        return "core"
    if _within(module, ("hasg.hosts",)):
        return "hosts"
    if _within(module, ("hasg.checks",)):
        return "checks"
    if _within(module, ("hasg.backends",)):
        return "backends"
    return "unknown"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, root: Path) -> Iterator[tuple[int, str]]:
    """Every hasg module `path` imports, with the line: absolute and relative,
    `from hasg import x` counted as the package `hasg` (the top)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "hasg" or alias.name.startswith("hasg."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "hasg":
                # `from hasg import core` names a subpackage; anything else is the top.
                for alias in node.names:
                    sub = f"hasg.{alias.name}"
                    is_package = (root / alias.name).is_dir() or (
                        root / f"{alias.name}.py"
                    ).exists()
                    yield node.lineno, sub if is_package else "hasg"
            elif target.startswith("hasg."):
                yield node.lineno, target


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        mine = layer_of(module)
        if mine == "unknown":
            found.append(f"{path}: {module} belongs to no layer")
            continue
        for line, target in imports_of(path, module, root):
            theirs = layer_of(target)
            where = f"{path.relative_to(root.parent)}:{line}: {module} imports {target}"
            if theirs == "top" and mine != "top":
                found.append(f"{where} (nothing below the top imports the CLI or hasg itself)")
            elif mine == "core" and theirs != "core":
                found.append(f"{where} (the core imports only the core)")
            elif mine == "hosts" and theirs not in ("core", "hosts"):
                found.append(f"{where} (hosts import the core only)")
            elif mine == "checks" and theirs not in ("core", "hosts", "checks"):
                found.append(f"{where} (checks import the core and hosts, no backend)")
            elif mine == "backends":
                own = ".".join(module.split(".")[:3])
                allowed = theirs in ("core", "hosts") or _within(
                    target, ("hasg.backends.base", own)
                )
                if target == "hasg.backends":
                    allowed = True
                if not allowed:
                    found.append(f"{where} (a backend imports the core and itself only)")
                elif _within(target, NOT_FOR_BACKENDS):
                    found.append(f"{where} (backends speak the Blueprint, not the policy)")
            elif theirs == "unknown":
                found.append(f"{where} (no layer)")
    return found


def test_every_import_follows_the_pipeline() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("core/blueprint.py", "from hasg.backends.aws import read\n", "the core imports only"),
        ("core/compile.py", "def f():\n    import hasg.checks.coverage\n", "the core imports only"),
        ("checks/audit.py", "from hasg.backends.aws.read import x\n", "checks import the core"),
        ("backends/terraform/hcl.py", "from hasg.core.compile import f\n", "speak the Blueprint"),
        ("backends/aws/read.py", "from hasg.backends.terraform import hcl\n", "itself only"),
        ("backends/aws/session.py", "from hasg import __version__\n", "nothing below the top"),
        ("policy/model.py", "from ..checks import graph\n", "the core imports only"),
        ("core/networks.py", "from hasg.hosts import resolve\n", "the core imports only"),
        ("hosts/resolve.py", "from hasg.checks import audit\n", "hosts import the core only"),
        ("hosts/options.py", "from hasg.backends import base\n", "hosts import the core only"),
    ],
)
def test_a_crossing_import_is_caught(tmp_path: Path, module: str, source: str, why: str) -> None:
    """The checker can fail: each planted import across a line is reported."""
    root = tmp_path / "hasg"
    for package in (
        "",
        "core",
        "checks",
        "backends",
        "backends/aws",
        "backends/terraform",
        "policy",
        "hosts",
    ):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("", encoding="utf-8")
    (root / module).write_text(source, encoding="utf-8")
    found = violations(root)
    assert len(found) == 1 and why in found[0], found
