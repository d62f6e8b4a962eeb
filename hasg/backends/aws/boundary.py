"""What every public AWS entry point checks before it makes any call.

The library refuses exactly what the CLI and policy files refuse: a cluster
or role name the policy model would not take (`hasg.policy.model.Policy`), a VPC id
that is not one, a Blueprint whose groups hasg would not recognise as its own
once created. EC2's tag filters treat `*` and `?` as wildcards, so a cluster
named `st*` would match cluster `staging`: the name check is what keeps
`destroy("st*")` from reading, let alone deleting, another cluster's groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hasg.core.blueprint import Blueprint, group_name
from hasg.core.protocols import canonical_protocol
from hasg.core.tags import ownership_tags
from hasg.errors import PolicyError, UsageError

# EC2 ids: the prefix, then 8 hex digits (old) or 17 (since 2018).
VPC_ID = re.compile(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?")


def check_vpc_id(vpc_id: object) -> str:
    if not isinstance(vpc_id, str) or not VPC_ID.fullmatch(vpc_id):
        raise UsageError(f"{vpc_id!r} is not a VPC id (vpc- and 8 or 17 hex digits)")
    return vpc_id


def check_names(where: str, cluster: object, roles: Iterable[object] = ()) -> str:
    """The cluster name, if the policy model takes it and every role id; else a
    PolicyError that starts with `where` (the function that was called)."""
    from hasg.policy.file import validation_error
    from hasg.policy.model import Policy

    # A Policy needs a role; this one only stands in when none is given.
    role_ids = list(roles) or ["placeholder"]
    document = {
        "cluster": cluster,
        "roles": [{"id": role, "description": "role"} for role in role_ids],
    }
    try:
        Policy.model_validate(document)
    except PolicyError as error:
        raise validation_error(error, where) from None
    assert isinstance(cluster, str)  # the model took it as a cluster name
    return cluster


def check_blueprint(where: str, blueprint: object) -> Blueprint:
    """A Blueprint whose every group is one hasg would own once it exists:
    valid names, the name `group_name` gives, its ownership tags, and rules in
    canonical protocols (as `hasg.compile_policy` makes them)."""
    if not isinstance(blueprint, Blueprint):
        raise UsageError(f"{where}: expected a hasg.Blueprint, not {type(blueprint).__name__}")
    check_names(where, blueprint.cluster, [g.role for g in blueprint])
    for group in blueprint:
        want = group_name(blueprint.cluster, group.role)
        if group.name != want:
            raise PolicyError(
                f"{where}: group of role {group.role} is named {group.name!r}; hasg names it "
                f"{want!r} and owns no group with another name"
            )
        tags = ownership_tags(blueprint.cluster, group.role)
        if any(group.tags.get(key) != value for key, value in tags.items()):
            raise PolicyError(
                f"{where}: group {group.name} lacks hasg's ownership tags "
                + ", ".join(f"{k}={v}" for k, v in tags.items())
            )
        for rule in group.rules:
            try:
                canonical = canonical_protocol(rule.protocol)
            except ValueError as error:
                raise PolicyError(f"{where}: group {group.name}: {rule}: {error}") from None
            if canonical != rule.protocol:
                raise PolicyError(
                    f"{where}: group {group.name}: {rule}: write protocol "
                    f"{rule.protocol!r} as {canonical!r}"
                )
    return blueprint
