"""`hasg plan`, `hasg apply`, `hasg destroy`: thin shells over hasg.backends.aws.

Importing this module imports neither boto3 nor botocore: `hasg --help` and
`hasg emit-hcl` must not pay for them. The commands import them when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO

from hasg.cli.notes import warn_lockouts
from hasg.cli.output import write_out
from hasg.errors import ExitCode, HasgError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

    from hasg.backends.aws.planner import Plan
    from hasg.core.blueprint import Blueprint

Compiled = Callable[[argparse.Namespace], "Blueprint"]


# The commands this module declares, in the order `hasg --help` lists them.
COMMANDS = ("plan", "apply", "destroy")
_CHANGES = {
    "apply": (
        "create or update the policy's security groups in a VPC",
        "Make the VPC hold exactly the policy's groups and rules: create missing "
        "groups, add missing rules, remove rules the policy does not have. Touches "
        "only groups tagged as hasg's for this cluster. Safe to run any number of times.",
    ),
    "destroy": (
        "delete the policy's security groups from a VPC",
        "Delete every group hasg owns for the policy's cluster in the VPC, after "
        "removing the rules that refer to them. Groups hasg does not own are left alone.",
    ),
}


def declare(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    policy_option: Callable[[argparse.ArgumentParser], None],
    compiled: Compiled,
) -> None:
    """Declare the parser of `name`, one of COMMANDS."""
    if name == "plan":
        plan = sub.add_parser(
            "plan",
            help="show what apply would change in a VPC",
            description="Read the VPC and hasg's groups in it, and show the changes that "
            "would make them match the policy: + add, - remove, ~ change. Changes nothing.",
        )
        _common_options(plan, policy_option)
        plan.add_argument(
            "--detailed-exitcode",
            action="store_true",
            help="exit 0 when nothing would change, 2 when changes are pending, 1 on error",
        )
        plan.set_defaults(run=partial(_plan, compiled=compiled))
        return
    help_text, description = _CHANGES[name]
    parser = sub.add_parser(name, help=help_text, description=description)
    _common_options(parser, policy_option)
    parser.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required when stdin is not a terminal)",
    )
    parser.set_defaults(run=partial(_apply, compiled=compiled, destroy=name == "destroy"))


def _common_options(
    parser: argparse.ArgumentParser, policy_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    parser.add_argument("--vpc", required=True, metavar="ID", help="the VPC id (vpc-...)")
    policy_option(parser)
    aws_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def aws_options(parser: argparse.ArgumentParser) -> None:
    """--region, --profile, --endpoint-url: every command that reads or changes AWS."""
    parser.add_argument(
        "--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)"
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="EC2 endpoint, e.g. a local moto server (default: AWS_ENDPOINT_URL)",
    )


def map_options(parser: argparse.ArgumentParser) -> None:
    """--map, --map-tag: `audit --vpc` and `verify --vpc` of groups hasg did not build."""
    mapped = parser.add_mutually_exclusive_group()
    mapped.add_argument(
        "--map",
        dest="role_map",
        metavar="ROLE=SG[+SG...],...",
        help="with --vpc or --groups-json: judge these groups instead of hasg's own: each "
        "role of the "
        "policy and its group ids (one group may serve several roles; a role left out "
        "has every flow missing). Reads only",
    )
    mapped.add_argument(
        "--map-tag",
        metavar="KEY",
        help="with --vpc or --groups-json: judge the VPC's groups that carry the tag KEY, "
        "whose value names "
        "the group's role (or roles, joined with +). Reads only",
    )


def check_map_options(args: argparse.Namespace) -> None:
    """--map and --map-tag are refused without --vpc or --groups-json: there is
    nothing to map."""
    mapped = args.role_map is not None or args.map_tag is not None
    if mapped and args.vpc is None and not getattr(args, "groups_json", None):
        raise UsageError(
            "--map and --map-tag name groups of a VPC: use them with --vpc or --groups-json"
        )


def _client(args: argparse.Namespace) -> EC2Client:
    from hasg.backends.aws.session import make_client

    return make_client(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)


def _read_plan(args: argparse.Namespace, blueprint: Blueprint) -> tuple[EC2Client, Plan]:
    from hasg.backends.aws.boundary import check_vpc_id
    from hasg.backends.aws.planner import make_plan
    from hasg.backends.aws.session import aws_errors

    # Before any read: the reads run at once, and each would refuse it.
    check_vpc_id(args.vpc)
    with aws_errors():
        client = _client(args)
        return client, make_plan(client, blueprint, args.vpc)


def _plan(args: argparse.Namespace, *, compiled: Compiled) -> ExitCode:
    blueprint = compiled(args)
    _, plan = _read_plan(args, blueprint)
    _show(plan, args, sys.stdout)
    plan.check()
    # Once it has worked: a command that fails says one thing, why.
    warn_lockouts(blueprint)
    if args.detailed_exitcode and not plan.empty:
        return ExitCode.CHANGES
    return ExitCode.OK


def _apply(args: argparse.Namespace, *, compiled: Compiled, destroy: bool) -> ExitCode:
    from hasg.backends.aws.applier import execute
    from hasg.backends.aws.planner import result_json
    from hasg.core.blueprint import Blueprint

    blueprint = compiled(args)
    if destroy:
        blueprint = Blueprint(blueprint.cluster, ())
    client, plan = _read_plan(args, blueprint)
    verb = "destroy" if destroy else "apply"
    if plan.blockers:
        _show(plan, args, sys.stdout)
        plan.check()
    if not plan.empty:
        if not args.yes:
            # With --json, stdout is for the result alone.
            _show_text(plan, sys.stderr if args.json else sys.stdout)
            _confirm(verb, plan)
        elif not args.json:
            _show_text(plan, sys.stdout)
    result = execute(client, plan)
    if args.json:
        _write_json(result_json(plan, result.group_ids), sys.stdout)
    else:
        write_out(str(result))
    if not destroy:
        warn_lockouts(blueprint)
    return ExitCode.OK


def _confirm(verb: str, plan: Plan) -> None:
    # A closed stdin (`hasg apply <&-`) is None in Python: no terminal either.
    if sys.stdin is None or not sys.stdin.isatty():
        # As Terraform does without -auto-approve: with no terminal to ask on, an
        # answer piped in (`echo no | hasg destroy`) is no consent; refuse.
        raise UsageError(
            f"{verb} needs confirmation and stdin is not a terminal: pass --yes to "
            f"{verb} without asking; nothing changed"
        )
    sys.stderr.write(f"\n{verb.capitalize()} these changes to {plan.vpc.id}? Type 'yes': ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("yes", "y"):
        raise HasgError(f"{verb} cancelled; nothing changed")


def _show(plan: Plan, args: argparse.Namespace, stream: TextIO) -> None:
    from hasg.backends.aws.planner import plan_json

    if args.json:
        _write_json(plan_json(plan), stream)
    else:
        _show_text(plan, stream)


def _show_text(plan: Plan, stream: TextIO) -> None:
    from hasg.backends.aws.planner import render_plan

    write_out(render_plan(plan, color=_wants_color(stream)), stream)


def _wants_color(stream: TextIO) -> bool:
    # https://no-color.org: colour only on a terminal that can show it.
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _write_json(data: dict[str, Any], stream: TextIO) -> None:
    import json  # here: every other command starts without it

    write_out(json.dumps(data, indent=2, sort_keys=False) + "\n", stream)
