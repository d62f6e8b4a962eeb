"""A fault at each mutating call in turn, then a re-run: it converges.

Three faults, injected with botocore's event hooks on the session hasg uses:
- "dropped": the connection fails before the call reaches EC2;
- "lost": the call lands, then its answer is lost and the run dies;
- "retried": the call lands twice, as when botocore retries a call whose first
  answer was lost; the second try's answer (a duplicate, a missing rule) is
  what hasg sees. That one must not even fail the run.
Calls run one at a time here (max_workers=1) so that "the n-th call" is the
same call in every run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

import hasg
from hasg.backends.aws import apply, destroy
from hasg.core.blueprint import Blueprint
from hasg.errors import HasgError

from .conftest import MUTATING, Cloud, assert_holds, forget, new_session, tcp

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=28)

BUILT_IN = hasg.compile_policy(hasg.chef_automate_ha())
WITH_LOAD_BALANCER = hasg.compile_policy(hasg.chef_automate_ha(load_balancer=True))
FAKE_URL = "https://ec2.us-east-1.amazonaws.com"


class Fault:
    """Breaks the `target`-th mutating call a session makes, the `mode` way."""

    def __init__(self, session: boto3.session.Session, raw: Any, mode: str, target: int) -> None:
        self.raw, self.mode, self.target = raw, mode, target
        self.count = 0
        self.hit: str | None = None
        self.lock = threading.Lock()
        session.events.register("provide-client-params.ec2", self.remember)
        session.events.register("before-call.ec2", self.before)
        session.events.register("after-call.ec2", self.after)

    def remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["test_params"] = dict(params)

    def before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name not in MUTATING:
            return
        with self.lock:
            index, self.count = self.count, self.count + 1
        if index != self.target:
            return
        context["test_fault"] = True
        self.hit = model.name
        if self.mode == "dropped":
            raise EndpointConnectionError(endpoint_url=FAKE_URL)

    def after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if not context.get("test_fault"):
            return
        if self.mode == "lost":
            raise ReadTimeoutError(endpoint_url=FAKE_URL)
        # The retry: the same request again; its error, if any, is the answer.
        getattr(self.raw, xform_name(model.name))(**context["test_params"])


Setup = Callable[[Cloud, str], None]
Act = Callable[[boto3.session.Session, str], object]


def nothing(cloud: Cloud, vpc_id: str) -> None:
    """A fresh VPC."""


def drifted(cloud: Cloud, vpc_id: str) -> None:
    """An older policy applied (with a load balancer), then edited by hand: a rule
    removed, one added, a description and a tag changed."""
    apply(WITH_LOAD_BALANCER, vpc_id=vpc_id, session=new_session())
    bastion = cloud.group_id("chef-automate-ha-bastion", vpc_id)
    automate = cloud.group_id("chef-automate-ha-automate", vpc_id)
    cloud.ec2.revoke_security_group_egress(
        GroupId=bastion,
        IpPermissions=tcp(443, "0.0.0.0/0"),
    )
    cloud.ec2.authorize_security_group_ingress(
        GroupId=automate,
        IpPermissions=tcp(22, "0.0.0.0/0"),
    )
    cloud.ec2.update_security_group_rule_descriptions_egress(
        GroupId=bastion,
        IpPermissions=tcp(80, "0.0.0.0/0", "edited"),
    )
    cloud.ec2.delete_tags(Resources=[bastion], Tags=[{"Key": "Name"}])


def applied(cloud: Cloud, vpc_id: str) -> None:
    apply(BUILT_IN, vpc_id=vpc_id, session=new_session())


def apply_default(session: boto3.session.Session, vpc_id: str) -> object:
    return apply(BUILT_IN, vpc_id=vpc_id, session=session, max_workers=1)


def destroy_default(session: boto3.session.Session, vpc_id: str) -> object:
    return destroy("chef-automate-ha", vpc_id=vpc_id, session=session, max_workers=1)


SCENARIOS: dict[str, tuple[Setup, Act, Blueprint]] = {
    "fresh apply": (nothing, apply_default, BUILT_IN),
    "drift repair": (drifted, apply_default, BUILT_IN),
    "destroy": (applied, destroy_default, Blueprint("chef-automate-ha", ())),
}


def mutating_calls(cloud: Cloud, setup: Setup, act: Act) -> list[str]:
    vpc_id = cloud.new_vpc()
    setup(cloud, vpc_id)
    session = new_session()
    calls: list[str] = []
    session.events.register(
        "before-call.ec2",
        lambda model, **_: calls.append(model.name) if model.name in MUTATING else None,
    )
    act(session, vpc_id)
    return calls


def targets(calls: list[str], mode: str) -> list[int]:
    """Every mutating call for the faults that kill the run. A retry is answered
    by the operation, not by which group it was for: its first call of each kind."""
    if mode != "retried":
        return list(range(len(calls)))
    return sorted(
        {operation: index for index, operation in reversed(list(enumerate(calls)))}.values()
    )


@pytest.mark.parametrize(
    ("scenario", "mode"),
    [
        ("fresh apply", "dropped"),
        ("fresh apply", "lost"),
        ("fresh apply", "retried"),
        # A call dropped before it lands leaves what the previous call's "lost"
        # left (less that call's phase siblings): the fresh apply covers it.
        ("drift repair", "lost"),
        ("drift repair", "retried"),
        ("destroy", "lost"),
        ("destroy", "retried"),
    ],
)
def test_a_fault_at_any_mutating_call_then_a_rerun_converges(
    cloud: Cloud, scenario: str, mode: str
) -> None:
    setup, act, want = SCENARIOS[scenario]
    calls = mutating_calls(cloud, setup, act)
    assert len(set(calls)) >= 2, calls

    for target in targets(calls, mode):
        where = f"{mode} at call {target} ({calls[target]})"
        forget(cloud.vpcs)
        vpc_id = cloud.new_vpc()
        setup(cloud, vpc_id)
        session = new_session()
        fault = Fault(session, cloud.ec2, mode, target)
        if mode == "retried":
            act(session, vpc_id)  # the retry's answer counts as done: no error
        else:
            with pytest.raises(HasgError) as raised:
                act(session, vpc_id)
            message = str(raised.value)
            assert "\n" not in message and "run it again" in message, (where, message)
            act(new_session(), vpc_id)
        assert fault.hit == calls[target], where
        assert_holds(cloud, want, vpc_id)
