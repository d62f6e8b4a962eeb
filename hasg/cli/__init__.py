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
from typing import TYPE_CHECKING, NoReturn

from hasg.cli.aws import add_commands as add_aws_commands
from hasg.cli.aws import aws_options
from hasg.errors import ExitCode, HasgError, UsageError

if TYPE_CHECKING:
    from hasg.core.blueprint import Blueprint
    from hasg.core.report import Report
    from hasg.policy.model import Policy

Command = Callable[[argparse.Namespace], ExitCode]


def load_policy(args: argparse.Namespace) -> Policy:
    """The policy named by --policy, or the built-in Chef Automate HA policy."""
    path: Path | None = getattr(args, "policy", None)
    if path is None:
        from hasg.catalog import chef_automate_ha

        return chef_automate_ha()
    from hasg.policy.file import load_policy_file

    return load_policy_file(path)


def compiled(args: argparse.Namespace) -> Blueprint:
    from hasg.core.compile import compile_policy

    return compile_policy(load_policy(args))


def _emit_hcl(args: argparse.Namespace) -> ExitCode:
    from hasg.backends.terraform.hcl import to_hcl, to_hcl_module

    blueprint = compiled(args)
    if args.out is None:
        sys.stdout.write(to_hcl(blueprint))
        return ExitCode.OK
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in to_hcl_module(blueprint).items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(sorted(to_hcl_module(blueprint)))} to {out}", file=sys.stderr)
    return ExitCode.OK


def _coverage(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.coverage import check_coverage

    policy = load_policy(args)
    from hasg.core.compile import compile_policy

    managed = {role.id for role in policy.roles if role.managed}
    report = check_coverage(compile_policy(policy), ssh_port=policy.ssh_port, managed_roles=managed)
    return _reported(report, args)


def _init(args: argparse.Namespace) -> ExitCode:
    from hasg.catalog import chef_automate_ha
    from hasg.errors import PolicyError
    from hasg.policy.file import dump_policy, validation_error

    try:
        policy = chef_automate_ha(
            args.cluster,
            args.user_cidrs,
            args.admin_cidrs,
            ssh_port=args.ssh_port,
            internet_egress_ports=() if args.no_internet_egress else (80, 443),
            load_balancer=args.load_balancer,
            http_redirect=not args.no_http_redirect,
            legacy_haproxy_from_frontends=not args.no_legacy_haproxy,
            managed_postgresql=args.managed_postgresql or args.managed_backends,
            managed_opensearch=args.managed_opensearch or args.managed_backends,
        )
    except PolicyError as error:
        raise validation_error(error, "hasg init") from None
    text = dump_policy(policy, args.format)
    if args.out is None:
        sys.stdout.write(text)
        return ExitCode.OK
    out: Path = args.out
    # An edited policy is worth more than a fresh copy: never overwrite it unasked.
    with out.open("w" if args.force else "x", encoding="utf-8") as file:
        file.write(text)
    print(f"wrote {out}", file=sys.stderr)
    return ExitCode.OK


def _schema(args: argparse.Namespace) -> ExitCode:
    import json

    from hasg.policy.schema import policy_json_schema

    sys.stdout.write(json.dumps(policy_json_schema(), indent=2) + "\n")
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.reachability import verify_policy

    policy = load_policy(args)
    if args.vpc is None:
        report = verify_policy(policy)
    else:
        from hasg.workflows import verify_vpc

        report = verify_vpc(
            policy,
            args.vpc,
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
        )
    return _reported(report, args)


def _audit(args: argparse.Namespace) -> ExitCode:
    from hasg.workflows import audit_hcl, audit_vpc

    if args.hcl is not None:
        report = audit_hcl(load_policy(args), args.hcl, var_file=args.var_file)
    elif args.var_file is not None:
        raise UsageError("--var-file gives values to Terraform variables: use it with --hcl")
    else:
        report = audit_vpc(
            load_policy(args),
            args.vpc,
            known_clusters=args.known_clusters or (),
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
        )
    return _reported(report, args)


def _reported(report: Report, args: argparse.Namespace) -> ExitCode:
    """A checker's report as `--json` asks, and the exit code it calls for."""
    sys.stdout.write(report.to_json() if args.json else report.to_text())
    return report.exit_code


def _graph(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.graph import render_graph

    sys.stdout.write(render_graph(load_policy(args), args.format))
    return ExitCode.OK


def _add_policy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """init, schema, verify, graph, audit: policy files, what a policy allows, drift."""
    init = sub.add_parser(
        "init",
        help="print the built-in policy as an editable, commented policy file",
        description="Print the built-in Chef Automate HA policy as a YAML file to edit and "
        "pass back with --policy. The options choose the built-in policy's variant.",
    )
    init.add_argument("--out", type=Path, metavar="FILE", help="write FILE instead of stdout")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    init.add_argument("--format", choices=("yaml", "json"), default="yaml", help="default: yaml")
    init.add_argument(
        "--cluster", default="chef-automate-ha", help="cluster name (default: chef-automate-ha)"
    )
    init.add_argument(
        "--user-cidr",
        dest="user_cidrs",
        action="append",
        metavar="CIDR",
        help="who may reach the UI/API on 443 and 80; repeatable (default: the VPC's CIDR)",
    )
    init.add_argument(
        "--admin-cidr",
        dest="admin_cidrs",
        action="append",
        metavar="CIDR",
        help="who may SSH to the bastion; repeatable (default: nobody)",
    )
    init.add_argument("--ssh-port", type=int, default=22, metavar="PORT", help="default: 22")
    for flag, text in (
        ("--load-balancer", "users reach a load balancer role only"),
        ("--no-http-redirect", "drop port 80 (the redirect to 443)"),
        ("--no-legacy-haproxy", "drop 7432 from the frontends (deprecated by Chef in 2025)"),
        ("--no-internet-egress", "air-gapped bastion: no 80/443 out"),
        ("--managed-postgresql", "PostgreSQL is Amazon RDS (5432)"),
        ("--managed-opensearch", "OpenSearch is an Amazon OpenSearch Service domain (443)"),
        ("--managed-backends", "both of the above"),
    ):
        init.add_argument(flag, action="store_true", help=text)
    init.set_defaults(run=_init)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of policy files (for editors)",
        description="Print the JSON Schema of policy files, shorthands included.",
    )
    schema.set_defaults(run=_schema)

    verify = sub.add_parser(
        "verify",
        help="show which roles may reach which, and check it against the policy",
        description="Intersect every role's egress with every role's ingress and print the "
        "allowed connections as a matrix. Check that every flow of the policy is allowed, "
        "that no other role-to-role connection is, and that no port is open to a CIDR the "
        "policy does not name. Exit 1 on any breach.",
    )
    policy_option(verify)
    verify.add_argument(
        "--vpc",
        metavar="ID",
        help="check the groups live in this VPC instead of the compiled policy",
    )
    aws_options(verify)
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(run=_verify)

    audit = sub.add_parser(
        "audit",
        help="report drift between the policy and its groups in a VPC or a Terraform file",
        description="Read the VPC and report missing, extra and changed groups and rules, "
        "rules of other groups that refer to the policy's groups, and groups tagged for a "
        "hasg cluster the policy does not name. Or read a Terraform file or module "
        "(emitted by hasg, or edited by hand) and report how its groups and rules differ "
        "from the policy's. Reads only. Exit 0 when clean, 2 on drift.",
    )
    audited = audit.add_mutually_exclusive_group(required=True)
    audited.add_argument("--vpc", metavar="ID", help="the VPC id (vpc-...)")
    audited.add_argument(
        "--hcl",
        type=Path,
        metavar="PATH",
        help="a Terraform file, or a module directory (its *.tf files)",
    )
    audit.add_argument(
        "--var-file",
        type=Path,
        metavar="FILE",
        help="with --hcl: values of the Terraform variables (.tfvars or .tfvars.json), "
        "as for terraform -var-file; default: the variables' defaults",
    )
    policy_option(audit)
    audit.add_argument(
        "--known-cluster",
        dest="known_clusters",
        action="append",
        metavar="NAME",
        help="another hasg cluster that shares the VPC on purpose; repeatable",
    )
    aws_options(audit)
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.set_defaults(run=_audit)

    graph = sub.add_parser(
        "graph",
        help="draw the policy's flows (Mermaid or Graphviz DOT)",
        description="Print the flow diagram: roles and networks, edges labelled with ports.",
    )
    policy_option(graph)
    graph.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid"
    )
    graph.set_defaults(run=_graph)


def policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="policy file (YAML or JSON); default: the built-in Chef Automate HA policy",
    )


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 with one line, as every other error does:
    exit 2 means "changes pending" (`plan --detailed-exitcode`) or "drift" (`audit`),
    and a script must not read a typo as either. Subcommand parsers are this class too
    (argparse makes them of the parent's type)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.ERROR, f"hasg: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
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

    _add_policy_commands(sub)
    # plan, apply, destroy: hasg.cli.aws imports boto3 only when one runs.
    add_aws_commands(sub, policy_option=policy_option, compiled=compiled)
    return parser


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
    except OSError as error:
        print(f"hasg: error: {error.strerror or error}: {error.filename or ''}", file=sys.stderr)
    except KeyboardInterrupt:
        print("hasg: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report it
    return ExitCode.ERROR


if __name__ == "__main__":
    sys.exit(main())
