"""Two applies of DIFFERENT policies to one cluster at once: at most one exits 0,
and the one that does leaves exactly its policy; never both, and never 0 on a
state that matches neither (docs/aws.md, "Concurrent applies")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import pytest

import hasg
from hasg.backends.aws import applier as applier_module
from hasg.backends.aws import apply
from hasg.backends.aws.read import live_state
from hasg.core.blueprint import Blueprint
from hasg.errors import ConcurrentChangeError, HasgError

from .conftest import MUTATING, CallLog, Cloud, assert_holds, expected, new_session

BASE = hasg.compile_policy(hasg.chef_automate_ha())
# Same roles, names and descriptions; different admin networks: different rules.
POLICY_A = hasg.compile_policy(hasg.chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))
POLICY_B = hasg.compile_policy(hasg.chef_automate_ha(admin_cidrs=["198.51.100.9/32"]))


# How long an apply waits at a meeting point for the other: far beyond what a
# loaded machine needs to bring both there, and a broken meeting fails the test.
MEETING_TIMEOUT = 20


@dataclass
class Meetings:
    """The meeting points of one race, shared by its applies: at each, an apply
    waits until the other has come too, so that both go on at once. A meeting
    that breaks (the other never came, or stopped first) is noted, and the race
    fails: a race whose applies did not meet proves nothing."""

    parties: int
    names: tuple[str, ...]
    broken: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.barriers = {
            name: threading.Barrier(self.parties, timeout=MEETING_TIMEOUT) for name in self.names
        }
        self.lock = threading.Lock()

    def meet(self, name: str) -> None:
        try:
            self.barriers[name].wait()
        except threading.BrokenBarrierError:
            with self.lock:
                self.broken.append(name)

    def release(self) -> None:
        """An apply has ended: whoever still waits for it waits no longer."""
        for barrier in self.barriers.values():
            barrier.abort()


FIRST_CHANGE = "first change"
Hook = Callable[[boto3.session.Session, Meetings], None]


def at_first_change(session: boto3.session.Session, meetings: Meetings) -> None:
    """Both have planned before either changes anything."""
    seen: list[str] = []

    def wait(model: Any, **_: Any) -> None:
        if model.name in MUTATING and not seen:
            seen.append(model.name)
            meetings.meet(FIRST_CHANGE)

    session.events.register("before-call.ec2", wait)


def at_each_create(session: boto3.session.Session, meetings: Meetings) -> None:
    """Every group's two creates, one per apply, land at once: one wins the name in EC2."""

    def wait(params: dict[str, Any], **_: Any) -> None:
        meetings.meet(params["GroupName"])

    session.events.register("provide-client-params.ec2.CreateSecurityGroup", wait)


@dataclass
class Race:
    """How each apply of a race ended (None: exit 0), and the EC2 calls each made."""

    outcomes: dict[int, BaseException | None]
    calls: dict[int, CallLog]


def race(cloud: Cloud, hook: Hook, *blueprints: Blueprint) -> Race:
    meetings = Meetings(len(blueprints), (FIRST_CHANGE, *(g.name for g in BASE)))
    outcomes: dict[int, BaseException | None] = {}
    calls = {index: CallLog() for index in range(len(blueprints))}

    def run(index: int, blueprint: Blueprint) -> None:
        session = new_session()
        session.events.register("before-call.ec2", calls[index].record)
        hook(session, meetings)
        try:
            apply(blueprint, vpc_id=cloud.vpc_id, session=session)
            outcomes[index] = None
        except BaseException as error:
            outcomes[index] = error
        finally:
            meetings.release()

    threads = [
        threading.Thread(target=run, args=(i, b), daemon=True) for i, b in enumerate(blueprints)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(blueprints), "an apply hung"
    assert not meetings.broken, f"the applies did not meet at {meetings.broken}: {outcomes}"
    return Race(outcomes, calls)


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

    outcomes = race(cloud, at_first_change, POLICY_A, POLICY_B).outcomes

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
    other policy's digest and stops there, before it changes a rule."""
    raced = race(cloud, at_each_create, POLICY_A, POLICY_B)

    judge(cloud, raced.outcomes, POLICY_A, POLICY_B)
    losers = [i for i, error in raced.outcomes.items() if error is not None]
    assert losers, raced.outcomes
    for loser in losers:
        error = raced.outcomes[loser]
        assert isinstance(error, ConcurrentChangeError), repr(error)
        assert "now holds policy digest" in str(error), str(error)
        assert raced.calls[loser].mutating == ["CreateSecurityGroup"] * len(BASE.groups)


def test_without_the_read_back_both_exit_0_on_the_union(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: without the read-back, the race of the issue is back."""
    monkeypatch.setattr(applier_module, "check_read_back", lambda *_: None)
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)

    outcomes = race(cloud, at_first_change, POLICY_A, POLICY_B).outcomes

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


def test_a_description_edited_by_hand_during_its_update_is_another_writer(cloud: Cloud) -> None:
    """A description update the read-back finds undone reads as 'not done' only
    while the rule holds the description the plan saw: a third text is a writer."""
    apply(BASE, vpc_id=cloud.vpc_id, session=cloud.session)
    edited = BASE.replace(
        groups=tuple(
            g.replace(
                rules=tuple(
                    replace(r, description="SSH for the operators")
                    if r.peer.kind == "group" and r.covers("tcp", 22)
                    else r
                    for r in g.rules
                )
            )
            for g in BASE
        )
    )
    session = new_session()
    update = "ec2.UpdateSecurityGroupRuleDescriptionsIngress"
    call = threading.local()  # each call of a wave runs in a thread of its own

    def sent(params: dict[str, Any], **_: Any) -> None:
        call.params = params

    def meddle(**_: Any) -> None:
        # Right after each of hasg's updates of ingress rules, a person's own.
        permissions = [
            {**p, "UserIdGroupPairs": [{**pair, "Description": "by hand"}]}
            for p in call.params["IpPermissions"]
            for pair in p["UserIdGroupPairs"]
        ]
        cloud.ec2.update_security_group_rule_descriptions_ingress(
            GroupId=call.params["GroupId"], IpPermissions=permissions
        )

    session.events.register(f"provide-client-params.{update}", sent)
    session.events.register(f"after-call.{update}", meddle)
    with pytest.raises(ConcurrentChangeError, match="changed under this apply") as raised:
        apply(edited, vpc_id=cloud.vpc_id, session=session)
    assert "description 'by hand'" in str(raised.value)
