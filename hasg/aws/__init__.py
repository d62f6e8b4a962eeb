"""The AWS backend: plan, apply and destroy a Blueprint's groups in a VPC with boto3.

    import boto3, hasg
    from hasg.aws import apply

    result = apply(hasg.compile_policy(hasg.chef_automate_ha()), vpc_id="vpc-0abc...",
                   session=boto3.Session())
    result.changes, result.group_ids["postgresql"]

The modules, one job each: `session` (the EC2 client, errors), `boundary`
(what every entry point refuses before any call), `read` (live groups ->
Blueprint, and which of them hasg owns), `permissions` (Rule <-> IpPermission), `diff` (pure:
Blueprint x Blueprint -> Changes), `parallel` (independent calls at once),
`planner` (plan), `applier` (apply, destroy: executes Changes), `render`
(plan text and JSON), `commands` (the CLI).

Names are loaded on first use, so importing hasg.aws (or the CLI) does not
import boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hasg.aws.applier import ApplyResult as ApplyResult
    from hasg.aws.applier import apply as apply
    from hasg.aws.applier import destroy as destroy
    from hasg.aws.diff import Blocker as Blocker
    from hasg.aws.diff import Changes as Changes
    from hasg.aws.diff import GroupChange as GroupChange
    from hasg.aws.diff import RuleChange as RuleChange
    from hasg.aws.diff import TagChange as TagChange
    from hasg.aws.planner import Plan as Plan
    from hasg.aws.planner import plan as plan
    from hasg.errors import AwsError as AwsError

_EXPORTS = {
    "apply": "hasg.aws.applier",
    "destroy": "hasg.aws.applier",
    "ApplyResult": "hasg.aws.applier",
    "plan": "hasg.aws.planner",
    "Plan": "hasg.aws.planner",
    "Changes": "hasg.aws.diff",
    "GroupChange": "hasg.aws.diff",
    "RuleChange": "hasg.aws.diff",
    "TagChange": "hasg.aws.diff",
    "Blocker": "hasg.aws.diff",
    "AwsError": "hasg.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hasg.aws' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
