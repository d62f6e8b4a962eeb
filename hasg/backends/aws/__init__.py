"""The AWS backend: plan, apply and destroy a Blueprint's groups in a VPC with boto3.

    import boto3, hasg
    from hasg.backends.aws import apply

    result = apply(hasg.compile_policy(hasg.chef_automate_ha()), vpc_id="vpc-0abc...",
                   session=boto3.Session())
    result.changes, result.group_ids["postgresql"]

The modules, one job each: `session` (the EC2 client, errors), `boundary`
(what every entry point refuses before any call), `read` (live groups ->
Blueprint, and which of them hasg owns), `dump` (the AWS CLI's JSON dumps
answered as EC2 would), `audit` (what only a live VPC tells an audit),
`permissions` (Rule <-> IpPermission), `parallel` (independent calls at
once), `planner` (plan: read, then the core's pure diff), `applier` (apply,
destroy: executes Changes), `render` (plan text and JSON). The commands are
hasg/cli/aws.py's.

Names are loaded on first use, so importing hasg.backends.aws (or the CLI) does not
import boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hasg.backends.aws.applier import ApplyResult as ApplyResult
    from hasg.backends.aws.applier import apply as apply
    from hasg.backends.aws.applier import destroy as destroy
    from hasg.backends.aws.planner import Plan as Plan
    from hasg.backends.aws.planner import plan as plan
    from hasg.core.diff import Blocker as Blocker
    from hasg.core.diff import Changes as Changes
    from hasg.core.diff import GroupChange as GroupChange
    from hasg.core.diff import RuleChange as RuleChange
    from hasg.core.diff import TagChange as TagChange
    from hasg.errors import AwsError as AwsError

_EXPORTS = {
    "apply": "hasg.backends.aws.applier",
    "destroy": "hasg.backends.aws.applier",
    "ApplyResult": "hasg.backends.aws.applier",
    "plan": "hasg.backends.aws.planner",
    "Plan": "hasg.backends.aws.planner",
    "Changes": "hasg.core.diff",
    "GroupChange": "hasg.core.diff",
    "RuleChange": "hasg.core.diff",
    "TagChange": "hasg.core.diff",
    "Blocker": "hasg.core.diff",
    "AwsError": "hasg.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hasg.backends.aws' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
