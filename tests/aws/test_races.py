"""Two applies of DIFFERENT policies to one cluster at once: at most one exits 0,
and the one that does leaves exactly its policy; never both, and never 0 on a
state that matches neither (docs/aws.md, "Concurrent applies")."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

import hasg
from hasg.backends.aws import applier as applier_module
from hasg.backends.aws import apply
from hasg.backends.aws.read import live_state
from hasg.core.blueprint import Blueprint
from hasg.errors import ConcurrentChangeError, HasgError

from .conftest import MUTATING, Cloud, assert_holds, expected, new_session

BASE = hasg.compile_policy(hasg.chef_automate_ha())
# Same roles, names and descriptions; different admin networks: different rules.
POLICY_A = hasg.compile_policy(hasg.chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))
POLICY_B = hasg.compile_policy(hasg.chef_automate_ha(admin_cidrs=["198.51.100.9/32"]))


Hook = Callable[[boto3.session.Session, threading.Barrier], None]


def at_first_change(session: boto3.session.Session, barrier: threading.Barrier) -> None:
    """Both have planned before either changes anything."""
    seen: list[str] = []

    def wait(model: Any, **_: Any) -> None:
        if model.name in MUTATING and not seen:
            seen.append(model.name)
            meet(barrier)

    session.events.register("before-call.ec2", wait)


def at_each_create(session: boto3.session.Session, barrier: threading.Barrier) -> None:
    """Every group's two creates land at once: one wins the name in EC2."""
    barriers = {g.name: threading.Barrier(2, timeout=20) for g in BASE}

    def wait(params: dict[str, Any], **_: Any) -> None:
        meet(barriers[params["GroupName"]])

    session.events.register("provide-client-params.ec2.CreateSecurityGroup", wait)


def meet(barrier: threading.Barrier) -> None:
    # Broken: the other apply has stopped already; go on alone.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


def race(cloud: Cloud, hook: Hook, *blueprints: Blueprint) -> dict[int, BaseException | None]:
    barrier = threading.Barrier(len(blueprints), timeout=20)
    outcomes: dict[int, BaseException | None] = {}

    def run(index: int, blueprint: Blueprint) -> None:
        session = new_session()
        hook(session, barrier)
        try:
            apply(blueprint, vpc_id=cloud.vpc_id, session=session)
            outcomes[index] = None
        except BaseException as error:
            outcomes[index] = error
        finally:
            barrier.abort()

    threads = [
        threading.Thread(target=run, args=(i, b), daemon=True) for i, b in enumerate(blueprints)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(blueprints), "an apply hung"
    return outcomes


def holds(cloud: Cloud, blueprint: Blueprint) -> bool:
    mine = [
        g for g in cloud.groups() if any(t["Value"] == blueprint.cluster for t in g.get("Tags", []))
    ]
    state = live_state(blueprint.cluster, mine)
    want = expected(blueprint)
    return not state.blockers and (
        state.blueprint.rule_set(),
        [dict(g.tags) for g in state.blueprint],
    ) == (want.rule_set(), [dict(g.tags) for g in want])


def judge(cloud: Cloud, outcomes: dict[int, BaseException | None], *policies: Blueprint) -> int:
    winners = [i for i, error in outcomes.items() if error is None]
    for error in outcomes.values():
        assert error is None or isinstance(error, HasgError), repr(error)
        assert error is None or "\n" not in str(error)
    assert len(winners) <= 1, "both applies exited 0"
    for winner in winners:
        assert holds(cloud, policies[winner]), "exited 0 on a state that is not its policy"
    return len(winners)


@pytest.mark.parametrize("rounds", range(3))
def test_two_policies_applied_to_existing_groups_at_once(cloud: Cloud, rounds: int) -> None:
    """Each plans from the same groups and adds its own rules: the union, more open
    than either, is what EC2 holds; both read it back and say so."""
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)

    outcomes = race(cloud, at_first_change, POLICY_A, POLICY_B)

    assert judge(cloud, outcomes, POLICY_A, POLICY_B) == 0
    assert not holds(cloud, POLICY_A) and not holds(cloud, POLICY_B)
    for error in outcomes.values():
        assert isinstance(error, ConcurrentChangeError)
        assert "changed under this apply" in str(error) or "policy digest" in str(error)
    # Once the other is done, a re-run converges.
    apply(POLICY_A, vpc_id=cloud.vpc_id, session=cloud.session)
    assert_holds(cloud, POLICY_A)


@pytest.mark.parametrize("rounds", range(3))
def test_two_policies_applied_to_a_fresh_vpc_at_once(cloud: Cloud, rounds: int) -> None:
    """Both create every group; whoever loses a name finds the group holding the
    other policy's digest and stops there."""
    outcomes = race(cloud, at_each_create, POLICY_A, POLICY_B)

    judge(cloud, outcomes, POLICY_A, POLICY_B)
    assert any(isinstance(e, ConcurrentChangeError) for e in outcomes.values()), outcomes


def test_without_the_read_back_both_exit_0_on_the_union(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: without the read-back, the race of the issue is back."""
    monkeypatch.setattr(applier_module, "check_read_back", lambda *_: None)
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)

    outcomes = race(cloud, at_first_change, POLICY_A, POLICY_B)

    assert list(outcomes.values()) == [None, None]
    assert not holds(cloud, POLICY_A) and not holds(cloud, POLICY_B)


def test_a_change_by_hand_during_an_apply_is_reported(cloud: Cloud) -> None:
    """Any other writer, not only hasg: a rule added while apply runs."""
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)
    session = new_session()
    done: list[str] = []

    def meddle(model: Any, **_: Any) -> None:
        if model.name == "AuthorizeSecurityGroupIngress" and not done:
            done.append(model.name)
            bastion = cloud.group_id("chef-automate-ha-bastion")
            cloud.ec2.authorize_security_group_ingress(
                GroupId=bastion,
                IpPermissions=[
                    {
                        "IpProtocol": "50",
                        "FromPort": -1,
                        "ToPort": -1,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                ],
            )

    session.events.register("after-call.ec2", meddle)
    with pytest.raises(ConcurrentChangeError) as raised:
        apply(POLICY_A, vpc_id=cloud.vpc_id, session=session)
    message = str(raised.value)
    assert "group chef-automate-ha-bastion: holds ingress proto/50 from 0.0.0.0/0" in message
    assert "\n" not in message


def test_groups_of_an_older_hasg_gain_the_digest_and_then_rest(cloud: Cloud) -> None:
    """Groups applied before the digest existed converge by a tag change only."""
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)
    for group in cloud.groups():
        cloud.ec2.delete_tags(Resources=[group["GroupId"]], Tags=[{"Key": "hasg:policy-digest"}])
    cloud.calls.clear()

    result = apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)

    assert result.changes.rules == () and result.changes.groups == ()
    assert len(result.changes.tags) == len(BASE.groups)
    assert cloud.calls.mutating == ["CreateTags"] * len(BASE.groups)
    assert_holds(cloud, BASE)
    cloud.calls.clear()
    assert apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session).changes.empty
    assert sorted(cloud.calls.names) == ["DescribeSecurityGroups", "DescribeVpcs"]
