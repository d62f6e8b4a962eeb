"""What a new user met with plan, apply and destroy (issue 17): a bastion nobody
can reach is said on stderr, with the flag that fixes it; destroy counts what
it lists and says when there is nothing to destroy; the library's Plan and
ApplyResult print the short text the command prints.

The command runs as a subprocess against a moto server on 127.0.0.1 (the
end-to-end tests' `world`); the library against the same server.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import hasg
from hasg.backends.aws.planner import Plan

from .test_cli_e2e import World, server, world

__all__ = ["server", "world"]

LOCKED_OUT = "hasg: warning: nobody can reach bastion on tcp/22: the policy's admin_cidrs is empty"


def warnings_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("hasg: warning: ")]


def admin_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    policy = hasg.chef_automate_ha(admin_cidrs=["203.0.113.7/32"])
    path.write_text(json.dumps(policy.model_dump(mode="json", exclude_none=True)))
    return path


def test_plan_and_apply_warn_that_nobody_can_reach_the_bastion(
    world: World, tmp_path: Path
) -> None:
    for args in (["plan"], ["plan", "--json"], ["apply", "--yes"]):
        done = world.hasg(*args, "--vpc", world.vpc)
        assert done.returncode == 0, done.stderr
        (warning,) = warnings_of(done)
        assert warning.startswith(LOCKED_OUT), warning
        assert "--admin-cidr" in warning
        assert "warning" not in done.stdout
    policy = str(admin_policy(tmp_path))
    for args in (["plan"], ["apply", "--yes"]):
        done = world.hasg(*args, "--vpc", world.vpc, "--policy", policy)
        assert done.returncode == 0, done.stderr
        assert warnings_of(done) == []


def test_destroy_counts_the_rules_it_lists_and_then_has_nothing_to_destroy(
    world: World,
) -> None:
    # The cluster to destroy, applied through the library.
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    hasg.apply(blueprint, vpc_id=world.vpc, endpoint_url=world.env["AWS_ENDPOINT_URL"])

    destroyed = world.hasg("destroy", "--vpc", world.vpc, "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    listed = [line for line in destroyed.stdout.splitlines() if line.startswith("    - ")]
    groups = [line for line in destroyed.stdout.splitlines() if line.startswith("- group ")]
    rules = blueprint.rule_count()
    assert (len(groups), len(listed)) == (5, rules)
    assert f"Plan: 0 group(s) to create, 5 to delete, 0 rule(s) to add, {rules} to remove" in (
        destroyed.stdout
    )
    assert f"Destroy complete: 0 group(s) created, 5 deleted, 0 rule(s) added, {rules} removed" in (
        destroyed.stdout
    )
    assert warnings_of(destroyed) == []  # nothing is left to reach

    again = world.hasg("destroy", "--vpc", world.vpc, "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"Nothing to destroy: cluster chef-automate-ha has no group in {world.vpc} "
        "(10.20.0.0/16).\n"
    )
    assert (
        json.loads(world.hasg("destroy", "--vpc", world.vpc, "--json", "--yes").stdout)[
            "changes_pending"
        ]
        is False
    )


def test_plan_and_apply_result_print_what_the_command_prints(world: World) -> None:
    endpoint = world.env["AWS_ENDPOINT_URL"]
    blueprint = hasg.compile_policy(hasg.chef_automate_ha())
    pending = hasg.plan(blueprint, vpc_id=world.vpc, endpoint_url=endpoint)
    assert isinstance(pending, Plan) and pending.changes_pending
    command = world.hasg("plan", "--vpc", world.vpc)
    assert str(pending) == command.stdout
    assert str(pending.changes) == pending.changes.summary()

    result = hasg.apply(blueprint, vpc_id=world.vpc, endpoint_url=endpoint)
    assert result.changes_pending
    text = str(result)
    assert text.startswith("Apply complete: 5 group(s) created, 0 deleted, 102 rule(s) added")
    for role, group_id in result.group_ids.items():
        assert re.search(rf"^  {role} +{group_id}  chef-automate-ha-", text, re.M), role
    assert len(text) < 1000  # what `print(result)` shows, not a repr of every rule

    again = hasg.apply(blueprint, vpc_id=world.vpc, endpoint_url=endpoint)
    assert not again.changes_pending
    command = world.hasg("apply", "--vpc", world.vpc, "--yes")
    assert str(again) == command.stdout
    assert str(again).startswith("No changes: the 5 group(s) of cluster chef-automate-ha")
