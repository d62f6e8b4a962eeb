"""The `hasg` command: a thin shell over the library.

Each command parses its arguments, calls one library function and prints.
Heavy imports (boto3, python-hcl2) stay inside the commands that need them so
that `hasg --help` and `hasg emit-hcl` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeAlias

from hasg.cli.aws import COMMANDS as AWS_COMMANDS
from hasg.cli.aws import aws_options, check_map_options, map_options
from hasg.cli.aws import declare as declare_aws
from hasg.cli.notes import warn_lockouts
from hasg.cli.output import write_out
from hasg.errors import ExitCode, HasgError, UsageError

if TYPE_CHECKING:
    from hasg.backends.base import Backend
    from hasg.core.blueprint import Blueprint
    from hasg.core.report import Report
    from hasg.policy.model import Policy

Command = Callable[[argparse.Namespace], ExitCode]
# argparse's class is generic only to type checkers.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def load_policy(args: argparse.Namespace, inventory: object = None) -> Policy:
    """The policy named by --policy, or the built-in Chef Automate HA policy:
    with an inventory that says which port the hosts' sshd listens on
    (config.toml's `ssh_port`), the built-in policy opens that one. A policy
    file is taken as it is: one whose port differs is refused with the fix."""
    path: Path | None = getattr(args, "policy", None)
    if path is None:
        from hasg.catalog import chef_automate_ha

        ssh_port = None if inventory is None else _inventory_ssh_port(inventory)
        return chef_automate_ha() if ssh_port is None else chef_automate_ha(ssh_port=ssh_port)
    from hasg.policy.file import load_policy_file

    return load_policy_file(path)


def _inventory_ssh_port(inventory: object) -> int | None:
    from hasg.hosts.inventory import Inventory, load_inventory

    if not isinstance(inventory, Inventory):
        inventory = load_inventory(Path(str(inventory)))
    return inventory.ssh_port


def compiled(args: argparse.Namespace) -> Blueprint:
    from hasg.core.compile import compile_policy

    return compile_policy(load_policy(args))


def _emit(args: argparse.Namespace) -> ExitCode:
    from hasg.backends.base import load_backend

    backend = load_backend(args.target)
    parsed = target_parser(backend).parse_args(args.target_arguments)
    extension = _TARGET_EXTENSIONS.get(backend.name)
    return (emit_files if extension is None else extension.run)(backend, parsed)


_IMPORT_OPTIONS = ("region", "profile", "endpoint_url", "json")


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import-from-vpc",
        metavar="VPC",
        help="also write imports.tf (Terraform 1.5+ import blocks of the groups and rules "
        "the VPC already holds) and terraform.tfvars; reads AWS only; needs --out",
    )
    aws_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="with --import-from-vpc: the report as JSON"
    )


def _emit_terraform(backend: Backend, args: argparse.Namespace) -> ExitCode:
    if args.import_from_vpc is None:
        given = [f"--{o.replace('_', '-')}" for o in _IMPORT_OPTIONS if getattr(args, o)]
        if given:
            verb = "goes" if len(given) == 1 else "go"
            raise UsageError(f"{', '.join(given)} {verb} with --import-from-vpc")
        return emit_files(backend, args)
    from hasg.backends.terraform.imports import IMPORTS_FILE
    from hasg.workflows import import_from_vpc

    if args.out is None:
        raise UsageError(
            f"--import-from-vpc writes {IMPORTS_FILE} beside the module: give --out DIR"
        )
    from hasg.core.compile import compile_policy

    policy = load_policy(args)
    adopted = import_from_vpc(
        policy,
        args.import_from_vpc,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
    )
    write_files(adopted.files, args.out)
    print(f"{adopted.imports} import blocks in {args.out / IMPORTS_FILE}", file=sys.stderr)
    warn_lockouts(compile_policy(policy))
    return _reported(adopted.report, args)


class _TargetExtension(NamedTuple):
    """What the command adds to one target's `hasg emit`: options and a run
    that read AWS, which the Backend seam never does (backends write files)."""

    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Backend, argparse.Namespace], ExitCode]


# `hasg emit terraform --import-from-vpc` (hasg.workflows.import_from_vpc).
_TARGET_EXTENSIONS = {"terraform": _TargetExtension(_import_arguments, _emit_terraform)}


def _emit_hcl(args: argparse.Namespace) -> ExitCode:
    """`hasg emit-hcl` is `hasg emit terraform`, kept for the scripts that call it."""
    from hasg.backends.base import load_backend

    return emit_files(load_backend("terraform"), args)


def target_parser(backend: Backend) -> argparse.ArgumentParser:
    """`hasg emit NAME`'s options: --policy, --out, and the backend's own."""
    parser = Parser(prog=f"hasg emit {backend.name}", description=backend.summary)
    policy_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the files to DIR"
        + ("" if backend.as_one_text is None else " (default: print them as one text)"),
    )
    backend.add_arguments(parser)
    extension = _TARGET_EXTENSIONS.get(backend.name)
    if extension is not None:
        extension.add_arguments(parser)
    return parser


def emit_files(backend: Backend, args: argparse.Namespace) -> ExitCode:
    """Compile, emit every file, and only then write: a refusal writes nothing."""
    from hasg.core.compile import compile_policy

    if args.out is None and backend.as_one_text is None:
        raise UsageError(f"the {backend.name} target writes several files: give --out DIR")
    options = {name: getattr(args, name) for name in backend.option_defaults() if name in args}
    policy = load_policy(args, options.get("inventory"))
    blueprint = compile_policy(policy)
    files = backend.emit(blueprint, {**options, "ssh_port": policy.ssh_port})
    if args.out is None:
        assert backend.as_one_text is not None  # refused above
        write_out(backend.as_one_text(files))
    else:
        write_files(files, args.out)
    # Once it has worked: a command that fails says one thing, why.
    warn_lockouts(blueprint)
    return ExitCode.OK


def write_files(files: dict[str, str], out: Path) -> None:
    """Write every file under `out` (made if missing), all or none, and say
    which on stderr (`hasg.cli.files.write_all`)."""
    from hasg.cli.files import write_all

    write_all(files, out)
    # A host target writes a directory per host: name the hosts, not every file.
    written = sorted({name.split("/")[0] + ("/" if "/" in name else "") for name in files})
    print(f"wrote {', '.join(written)} to {out}", file=sys.stderr)
    stale = _not_written(out, written)
    if stale:
        print(
            f"note: {out} also holds {', '.join(stale)}, which this run did not write: "
            "remove what is stale",
            file=sys.stderr,
        )


def _not_written(out: Path, written: Sequence[str]) -> list[str]:
    """What `out` holds of the kinds just written (host directories, files with
    the same suffixes) that this run did not write. A host dropped from the
    inventory, or an imports.tf of an earlier run, would otherwise still be
    deployed or loaded by Terraform; hasg deletes nothing it did not write."""
    directories = any(name.endswith("/") for name in written)
    suffixes = {Path(name).suffix for name in written if not name.endswith("/")}
    return sorted(
        entry.name + ("/" if entry.is_dir() else "")
        for entry in out.iterdir()
        if entry.name + ("/" if entry.is_dir() else "") not in written
        and not entry.name.startswith(".")
        and (entry.is_dir() if directories else entry.suffix in suffixes)
    )


class _TargetsHelp(argparse.Action):
    """`hasg emit --help` lists the targets: only then are the backends imported."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from hasg.backends.base import load_backend, target_names

        parser.epilog = "targets (`hasg emit TARGET --help` for a target's options):\n" + "\n".join(
            f"  {name:<11} {load_backend(name).summary}" for name in target_names()
        )
        parser.print_help()
        parser.exit()


def _declare_emit(sub: SubParsers) -> None:
    # A target's options are parsed once the target is known (`target_parser`),
    # so that `hasg --help` imports no backend and a new target needs no edit here.
    emit = sub.add_parser(
        "emit",
        # Named here, not found: `hasg --help` imports no backend (tests/test_cli.py
        # checks that every target is named).
        help="write the policy as a target's files: Terraform, CloudFormation, nftables, firewalld",
        description="Write the policy as the files of one target.\n"
        "Each target takes --policy FILE and --out DIR, and options of its own.",
        formatter_class=RawDescriptionHelpFormatter,
        add_help=False,
    )
    emit.add_argument("-h", "--help", action=_TargetsHelp, nargs=0, help="list the targets")
    emit.add_argument("target", metavar="TARGET", help="what to write for: listed below")
    emit.add_argument(
        "target_arguments",
        nargs=argparse.REMAINDER,
        metavar="...",
        help="the target's options (hasg emit TARGET --help)",
    )
    emit.set_defaults(run=_emit)


def _declare_emit_hcl(sub: SubParsers) -> None:
    hcl = sub.add_parser("emit-hcl", help="print the policy as Terraform HCL (emit terraform)")
    policy_option(hcl)
    hcl.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write a module (versions.tf, variables.tf, main.tf, outputs.tf) to DIR",
    )
    hcl.set_defaults(run=_emit_hcl)


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
            restrict_default_group=args.restrict_default_group,
        )
    except PolicyError as error:
        raise validation_error(error, "hasg init") from None
    text = dump_policy(policy, args.format)
    if args.out is None:
        write_out(text)
        return ExitCode.OK
    out: Path = args.out
    # An edited policy is worth more than a fresh copy: never overwrite it unasked.
    try:
        with out.open("w" if args.force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise UsageError(f"{out} exists: give --force to overwrite it") from None
    print(f"wrote {out}", file=sys.stderr)
    return ExitCode.OK


def _schema(args: argparse.Namespace) -> ExitCode:
    import json

    from hasg.policy.schema import policy_json_schema

    write_out(json.dumps(policy_json_schema(), indent=2) + "\n")
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.reachability import verify_policy

    check_map_options(args)
    policy = load_policy(args)
    if args.groups_json:
        from hasg.workflows import verify_dumps

        _no_aws_with_dumps(args)
        report = verify_dumps(
            policy,
            args.groups_json,
            vpc_id=args.vpc,
            role_map=args.role_map,
            map_tag=args.map_tag,
        )
    elif args.vpc is None:
        report = verify_policy(policy)
    else:
        from hasg.workflows import verify_vpc

        report = verify_vpc(
            policy,
            args.vpc,
            region=args.region,
            profile=args.profile,
            endpoint_url=args.endpoint_url,
            role_map=args.role_map,
            map_tag=args.map_tag,
        )
    return _reported(report, args, report_source(args))


def _audit(args: argparse.Namespace) -> ExitCode:
    from hasg.workflows import audit_dumps, audit_vpc

    check_map_options(args)
    source = _audit_source(args)
    if source is not None and args.groups_json:
        raise UsageError("--groups-json is what to audit: not with --from, --hcl or --nft")
    if source is None and not (args.vpc or args.groups_json):
        raise UsageError("one of the arguments --vpc --from --hcl --nft --groups-json is required")
    if source is None:
        _no_extra(args, "--vpc" if args.vpc else "--groups-json")
        if args.groups_json:
            _no_aws_with_dumps(args)
            report = audit_dumps(
                load_policy(args),
                args.groups_json,
                vpc_id=args.vpc,
                known_clusters=args.known_clusters or (),
                role_map=args.role_map,
                map_tag=args.map_tag,
            )
        else:
            report = audit_vpc(
                load_policy(args),
                args.vpc,
                known_clusters=args.known_clusters or (),
                region=args.region,
                profile=args.profile,
                endpoint_url=args.endpoint_url,
                role_map=args.role_map,
                map_tag=args.map_tag,
            )
        return _reported(report, args, report_source(args))
    from hasg.workflows import audit_from

    target, path = source
    unused = [
        flag
        for flag, value in (
            ("--known-cluster", args.known_clusters),
            ("--region", args.region),
            ("--profile", args.profile),
            ("--endpoint-url", args.endpoint_url),
        )
        if value
    ]
    if unused:
        raise UsageError(f"{', '.join(unused)} read AWS: not with --from {target}")
    options = vars(audit_source_parser(target).parse_args(args.extra))
    report = audit_from(load_policy(args, options.get("inventory")), target, path, **options)
    return _reported(report, args, str(path))


def report_source(args: argparse.Namespace) -> str:
    """What a check read, for its SARIF run: the Terraform path, or the VPC
    (live or dumped: one VPC, one category of results)."""
    if getattr(args, "hcl", None) is not None:
        return str(args.hcl)
    if getattr(args, "audit_from", None) is not None:
        return str(args.audit_from[1])
    if args.vpc is None and args.groups_json:
        return ",".join(str(f) for f in args.groups_json)
    return str(args.vpc or "")


def _no_aws_with_dumps(args: argparse.Namespace) -> None:
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("region", "profile", "endpoint_url")
        if getattr(args, name)
    ]
    if given:
        raise UsageError(f"{', '.join(given)}: --groups-json reads files, not AWS")


def _reported(report: Report, args: argparse.Namespace, source: str = "") -> ExitCode:
    """A checker's report in the format asked for (--format, or --json), and
    the exit code it calls for. SARIF names the check and `source`, what it read."""
    chosen = getattr(args, "report_format", "json" if getattr(args, "json", False) else "text")
    if chosen == "sarif":
        from hasg.core.sarif import to_sarif

        write_out(to_sarif(report, check=args.command, source=source, root=Path.cwd()))
    else:
        write_out(report.to_json() if chosen == "json" else report.to_text())
    return report.exit_code


REPORT_FORMATS = ("text", "json", "sarif")


def report_format_options(parser: argparse.ArgumentParser) -> None:
    """--format text|json|sarif, and --json, its old spelling of --format json."""
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--format",
        dest="report_format",
        choices=REPORT_FORMATS,
        default="text",
        help="text (default); json; sarif: SARIF 2.1.0, for CI code scanning",
    )
    chosen.add_argument(
        "--json",
        dest="report_format",
        action="store_const",
        const="json",
        default="text",
        help="the same as --format json",
    )


def _audit_source(args: argparse.Namespace) -> tuple[str, Path] | None:
    """(target, path) of `--from TARGET PATH` and its aliases `--hcl`, `--nft`."""
    if args.audit_from is not None:
        target, path = args.audit_from
        return target, Path(path)
    if args.hcl is not None:
        return "terraform", args.hcl
    if args.nft is not None:
        return "nftables", args.nft
    return None


def _no_extra(args: argparse.Namespace, source: str) -> None:
    if args.extra:
        raise UsageError(f"{' '.join(args.extra)}: not an option of audit {source}")


def audit_source_parser(target: str) -> argparse.ArgumentParser:
    """The options `hasg audit --from TARGET PATH` takes: the target's own."""
    from hasg.backends.base import load_backend

    backend = load_backend(target)
    if backend.audit is None:
        raise UsageError(f"--from {target}: the {target} target has no reader to audit")
    parser = _OptionsParser(prog=f"hasg audit --from {target} PATH", add_help=False)
    backend.audit.add_arguments(parser)
    return parser


class _OptionsParser(argparse.ArgumentParser):
    """A target's audit options, parsed after the command's: a mistake is the
    command's one-line usage error, raised like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see `hasg audit --help`)")


class _AuditHelp(argparse.Action):
    """`hasg audit --help` lists what `--from` reads and each target's options."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from hasg.backends.base import load_backend, target_names

        lines = ["--from TARGET PATH (each target's own options):"]
        for name in target_names():
            source = load_backend(name).audit
            if source is None:
                continue
            usage = " ".join(audit_source_parser(name).format_usage().split(" PATH", 1)[1].split())
            lines.append(f"  {name:<15} PATH: {source.what}")
            if usage:
                lines.append(f"  {'':<15} {usage}")
        parser.epilog = "\n".join(lines)
        parser.print_help()
        parser.exit()


def _probe(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.probe import probe

    report = probe(
        load_policy(args, args.inventory),
        args.inventory,
        bastion=args.bastion or (),
        networks=args.networks or (),
        egress=args.egress,
        ssh_user=args.ssh_user,
        ssh_key=args.ssh_key,
        ssh_port=args.ssh_port,
        known_hosts=args.known_hosts,
        timeout=args.timeout,
        unnamed_ports=args.unnamed_ports,
    )
    return _reported(report, args, str(args.inventory))


def _graph(args: argparse.Namespace) -> ExitCode:
    from hasg.checks.graph import render_graph

    write_out(render_graph(load_policy(args), args.format))
    return ExitCode.OK


def _declare_init(sub: SubParsers) -> None:
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
        ("--restrict-default-group", "also revoke every rule of the VPC's default group"),
    ):
        init.add_argument(flag, action="store_true", help=text)
    init.set_defaults(run=_init)


def _declare_schema(sub: SubParsers) -> None:
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of policy files (for editors)",
        description="Print the JSON Schema of policy files, shorthands included.",
    )
    schema.set_defaults(run=_schema)


def _declare_verify(sub: SubParsers) -> None:
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
        help="check the groups live in this VPC instead of the compiled policy; with "
        "--groups-json, the VPC of the dumps to check",
    )
    groups_json_option(verify)
    map_options(verify)
    aws_options(verify)
    report_format_options(verify)
    verify.set_defaults(run=_verify)


def _declare_audit(sub: SubParsers) -> None:
    audit = sub.add_parser(
        "audit",
        help="report drift between the policy and a VPC or a target's files "
        "(Terraform, CloudFormation, a host's nftables or firewalld)",
        description="Read the VPC and report missing, extra and changed groups and rules, "
        "rules of other groups that refer to the policy's groups, and groups tagged for a "
        "hasg cluster the policy does not name. Or read a target's files with --from: a "
        "Terraform module or a CloudFormation template (compared with the policy's groups "
        "and rules), a host's `nft -j list ruleset` or firewalld directory (every connection "
        "of the probe space tried: what is open must be exactly what the policy gives the "
        "host). With --vpc and --map or --map-tag, judge groups hasg did not build, by "
        "role: grants beyond the policy (world open, any node to any node, allow-all "
        "egress), missing flows, undescribed rules. Reads only. Exit 0 when clean, 2 on drift.",
        formatter_class=RawDescriptionHelpFormatter,
        add_help=False,
    )
    audit.add_argument("-h", "--help", action=_AuditHelp, nargs=0, help="show this help")
    # One of --vpc, --hcl, --nft and --groups-json (checked in _audit: --vpc
    # also names the VPC of --groups-json).
    audited = audit.add_mutually_exclusive_group()
    audited.add_argument(
        "--vpc",
        metavar="ID",
        help="the VPC id (vpc-...); with --groups-json, the VPC of the dumps to audit",
    )
    groups_json_option(audit)
    audited.add_argument(
        "--from",
        dest="audit_from",
        nargs=2,
        metavar=("TARGET", "PATH"),
        help="a target's files: terraform, cloudformation, nftables, firewalld (below)",
    )
    audited.add_argument(
        "--hcl", type=Path, metavar="PATH", help="the same as --from terraform PATH"
    )
    audited.add_argument(
        "--nft", type=Path, metavar="FILE", help="the same as --from nftables FILE"
    )
    policy_option(audit)
    audit.add_argument(
        "--known-cluster",
        dest="known_clusters",
        action="append",
        metavar="NAME",
        help="another hasg cluster that shares the VPC on purpose; repeatable",
    )
    map_options(audit)
    aws_options(audit)
    report_format_options(audit)
    # The target's own options (`--from TARGET --help`) are parsed once it is known.
    audit.set_defaults(run=_audit, takes_extra=True)


def _declare_probe(sub: SubParsers) -> None:
    from hasg.hosts.options import add_inventory_arguments

    probe = sub.add_parser(
        "probe",
        help="probe the real hosts with real packets: every flow open, nothing else",
        description="From the bastion (or any machine that reaches every host over SSH), run "
        "a small agent on each host of the inventory, streamed over SSH with the host's own "
        "Python 3, nothing installed. Each listens on every probed port that is free, then "
        "every host tries every other one: every TCP and UDP port the policy names, and a "
        "few it never names. Prints the truth table by role pair and service and each "
        "mismatch. Changes no firewall. Exit 0 when all is as the policy says, 2 when "
        "anything is wrong, 1 when something could not be probed. With security groups "
        "(AWS), give --egress enforce: they enforce egress.",
    )
    add_inventory_arguments(probe)
    policy_option(probe)
    probe.add_argument(
        "--ssh-user", metavar="USER", help="log in as USER (default: the inventory's ssh_user)"
    )
    probe.add_argument(
        "--ssh-key",
        type=Path,
        metavar="FILE",
        help="the private key (default: the inventory's ssh_key_file, else ssh's)",
    )
    probe.add_argument(
        "--ssh-port",
        type=int,
        metavar="PORT",
        help="default: the inventory's ssh_port, else the policy's SSH port",
    )
    probe.add_argument(
        "--known-hosts",
        type=Path,
        metavar="FILE",
        help="check host keys against FILE (default: ssh's, ~/.ssh/known_hosts); "
        "an unknown host is refused",
    )
    probe.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long each probe waits for an answer (default: 2)",
    )
    probe.add_argument(
        "--unnamed-ports",
        type=int,
        metavar="N",
        help="how many ports the policy never names to probe too (default: 5)",
    )
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    probe.set_defaults(run=_probe)


def _declare_graph(sub: SubParsers) -> None:
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


def groups_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--groups-json",
        action="append",
        type=Path,
        metavar="FILE",
        help="read the VPC from `aws ec2 describe-security-groups --output json` output "
        "instead of AWS (no credentials): with `describe-vpcs` output (the VPC's CIDRs) "
        "and, for rule ids, `describe-security-group-rules`; repeatable, one or several "
        "documents per file",
    )


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.ERROR, f"hasg: error: {message} (see `{self.prog} --help`)\n")


def terminal_columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` finds it: COLUMNS,
    else the terminal's own, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.__stdout__ is None:
        return 80
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (ValueError, OSError):
        return 80


class _Width:
    """Gives argparse's formatters the terminal's width. Left to find it
    themselves, they import shutil, and with it zlib, bz2 and lzma, in every
    run of every command (5 ms of `hasg emit-hcl`'s start-up)."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: Any = None
    ) -> None:
        # As argparse.HelpFormatter does with the width it finds: 2 columns less.
        found = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, found)  # type: ignore[call-arg]


class HelpFormatter(_Width, argparse.HelpFormatter):
    pass


class RawDescriptionHelpFormatter(_Width, argparse.RawDescriptionHelpFormatter):
    pass


def _declare_completion(sub: SubParsers) -> None:
    completion = sub.add_parser(
        "completion",
        help="print the shell completion script: bash or zsh",
        description="Print the completion script of a shell, made from hasg's own parser "
        "(shtab): commands, options, choices, each target's options, paths. bash: "
        "`hasg completion bash > ~/.local/share/bash-completion/completions/hasg`; zsh: "
        "`hasg completion zsh > ~/.zfunc/_hasg`, with ~/.zfunc in fpath before compinit.",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: bash or zsh")
    completion.set_defaults(run=_completion)


def _completion(args: argparse.Namespace) -> ExitCode:
    from hasg.cli.completion import completion_script

    write_out(completion_script(args.shell, build_parser()))
    return ExitCode.OK


SHELLS = ("bash", "zsh")


def _declare_coverage(sub: SubParsers) -> None:
    cover = sub.add_parser(
        "coverage", help="show how the policy covers Chef's documented port table"
    )
    policy_option(cover)
    report_format_options(cover)
    cover.set_defaults(run=_coverage)


# Every command, in the order `hasg --help` lists them, with the function that
# declares its parser. plan, apply, destroy: hasg.cli.aws imports boto3 only
# when one runs.
COMMANDS: dict[str, Callable[[SubParsers], None]] = {
    "emit": _declare_emit,
    "emit-hcl": _declare_emit_hcl,
    "coverage": _declare_coverage,
    "init": _declare_init,
    "schema": _declare_schema,
    "verify": _declare_verify,
    "audit": _declare_audit,
    "probe": _declare_probe,
    "graph": _declare_graph,
    **{
        name: partial(declare_aws, name=name, policy_option=policy_option, compiled=compiled)
        for name in AWS_COMMANDS
    },
    "completion": _declare_completion,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `hasg` parser: with `command`, one that declares only that command.

    argparse checks and formats every option as it is declared, and declaring
    all the commands' options cost a run about as much as compiling the policy
    (docs/benchmarks.md). A run names one command, so it declares that one;
    `hasg --help`, `--version` or an unknown command get every command."""
    parser: argparse.ArgumentParser = Parser(
        prog="hasg",
        description="Compile a port policy into AWS security groups (built in: Chef Automate HA).",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, declare in COMMANDS.items():
        if command in (None, name):
            declare(sub)
    return parser


def _version() -> str:
    from hasg import __version__

    return f"hasg {__version__}"


# What pydantic's plugin loader gives the one module that asks for it
# (pydantic/plugin/_schema_validator.py: `from ._loader import get_plugins`).
PLUGIN_LOADER = "pydantic.plugin._loader"
_PLUGINS_OFF = ("__all__", "1", "true")  # the values pydantic reads as "none"


def _without_pydantic_plugins() -> None:
    """The command loads no pydantic plugin, unless PYDANTIC_DISABLE_PLUGINS is set.

    hasg uses none, and a plugin is third-party code run on every validation
    of the policy. With plugins off, pydantic's loader would still import
    importlib.metadata (email, zipfile, csv: about 45 ms, a tenth of
    `hasg emit-hcl`, docs/benchmarks.md) only to find nothing; the command
    gives pydantic a loader that finds nothing without it. A value the user
    set, even empty, leaves pydantic's own loader and behaviour alone."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in _PLUGINS_OFF and PLUGIN_LOADER not in sys.modules:
        import types

        loader = types.ModuleType(PLUGIN_LOADER, "No pydantic plugins: hasg.cli turned them off.")
        loader.get_plugins = tuple  # type: ignore[attr-defined]
        sys.modules[PLUGIN_LOADER] = loader


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    named = arguments[0] if arguments and arguments[0] in COMMANDS else None
    _without_pydantic_plugins()
    parser = build_parser(named)
    args, extra = parser.parse_known_args(arguments)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    run: Command = args.run
    try:
        return run(args)
    except HasgError as error:
        print(f"hasg: error: {error}", file=sys.stderr)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"hasg: error: {error.strerror or error}{where}", file=sys.stderr)
    except KeyboardInterrupt:
        print("hasg: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report it
    return ExitCode.ERROR


if __name__ == "__main__":
    sys.exit(main())
