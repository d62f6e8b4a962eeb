"""The `hasg` command: a thin shell over the library.

Each command parses its arguments, calls one library function and prints.
Heavy imports (boto3, python-hcl2) stay inside the commands that need them so
that `hasg --help` and `hasg emit-hcl` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hasg.errors import HasgError

if TYPE_CHECKING:
    from hasg.blueprint import Blueprint
    from hasg.model import Policy

Command = Callable[[argparse.Namespace], int]


def load_policy(args: argparse.Namespace) -> Policy:
    """The policy named by --policy, or the built-in Chef Automate HA policy."""
    path: Path | None = getattr(args, "policy", None)
    if path is None:
        from hasg.catalog import chef_automate_ha

        return chef_automate_ha()
    from hasg.policy_file import load_policy_file

    return load_policy_file(path)


def compiled(args: argparse.Namespace) -> Blueprint:
    from hasg.compiler import compile_policy

    return compile_policy(load_policy(args))


def _emit_hcl(args: argparse.Namespace) -> int:
    from hasg.hcl import to_hcl, to_hcl_module

    blueprint = compiled(args)
    if args.out is None:
        sys.stdout.write(to_hcl(blueprint))
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in to_hcl_module(blueprint).items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(sorted(to_hcl_module(blueprint)))} to {out}", file=sys.stderr)
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from hasg.coverage import check_coverage, coverage_json, coverage_table

    policy = load_policy(args)
    from hasg.compiler import compile_policy

    report = check_coverage(compile_policy(policy), ssh_port=policy.ssh_port)
    sys.stdout.write(coverage_json(report) if args.json else coverage_table(report))
    return 0 if report.complete else 1


def policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="policy file (YAML or JSON); default: the built-in Chef Automate HA policy",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hasg",
        description="Compile a port policy into AWS security groups (built in: Chef Automate HA).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emit = sub.add_parser("emit-hcl", help="print the policy as Terraform HCL")
    policy_option(emit)
    emit.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write a module (versions.tf, variables.tf, main.tf, outputs.tf) to DIR",
    )
    emit.set_defaults(run=_emit_hcl)

    cover = sub.add_parser(
        "coverage", help="show how the policy covers Chef's documented port table"
    )
    policy_option(cover)
    cover.add_argument("--json", action="store_true", help="machine-readable output")
    cover.set_defaults(run=_coverage)

    _add_aws_commands(sub)
    return parser


def _add_aws_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """plan, apply, destroy: the AWS backend (hasg.aws)."""
    try:
        from hasg.aws.commands import add_commands  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # the AWS backend is not built yet
        return
    add_commands(sub, policy_option=policy_option, compiled=compiled)


def _version() -> str:
    from hasg import __version__

    return f"hasg {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except HasgError as error:
        print(f"hasg: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"hasg: error: {error.strerror or error}: {error.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hasg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
