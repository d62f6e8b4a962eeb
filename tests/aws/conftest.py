"""Fixtures for the AWS backend: moto's EC2 in-process, call counting, read-back.

Everything here talks to moto only: fake credentials, no profile, no config
file, no instance metadata. Tests read the result back with
DescribeSecurityGroups, never from hasg's own state.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

import hasg
from hasg.backends.aws.read import live_state
from hasg.backends.aws.session import sharing_models
from hasg.catalog import DOCUMENTED_TABLE
from hasg.core.blueprint import Blueprint
from hasg.core.digest import with_digest
from hasg.core.tags import CLUSTER_TAG
from hasg.core.transforms import resolve_vpc_peers

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
VPC_CIDR = "10.20.0.0/16"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
MUTATING = frozenset(
    {
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
        "CreateTags",
        "DeleteTags",
    }
)


def tcp(port: int, peer: str, description: str = "") -> list[Any]:
    """The IpPermissions of one tcp rule, from or to a CIDR or a group id, as a
    person would write it by hand."""
    item: dict[str, str] = {"GroupId": peer} if peer.startswith("sg-") else {"CidrIp": peer}
    if description:
        item["Description"] = description
    key = "UserIdGroupPairs" if peer.startswith("sg-") else "IpRanges"
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, key: [item]}]


def fake_aws_environment(tmp: Path) -> dict[str, str]:
    """The environment for code under test: only fake AWS settings, no ~/.aws."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_ENV)
    env["AWS_CONFIG_FILE"] = str(tmp / "aws-config-absent")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp / "aws-credentials-absent")
    return env


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in fake_aws_environment(tmp_path).items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def _moto_matches_group_references_like_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto compares a rule that references a group together with its description,
    so it can neither revoke such a rule without the description nor update the
    description. AWS ignores descriptions when it matches rules; make moto do so."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    original = SecurityGroupRule.__eq__

    def without_description(source_group: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in source_group.items() if k != "Description"}

    def undescribed(rule: Any) -> Any:
        # A shallow copy: other threads may be reading the rule itself.
        bare = copy.copy(rule)
        bare.source_group = without_description(rule.source_group)
        return bare

    def __eq__(self: Any, other: Any) -> bool:
        if original(self, other):
            return True
        # moto compares the group references whole: if they differ even without
        # their descriptions, the rules differ. Most comparisons end here, before
        # the copies (moto compares a new rule with each of its group's rules).
        if without_description(self.source_group) != without_description(other.source_group):
            return False
        return bool(original(undescribed(self), undescribed(other)))

    monkeypatch.setattr(SecurityGroupRule, "__eq__", __eq__)


# What EC2 answers for an IpProtocol it was given: the four names it knows for
# what they are, every other protocol as its decimal number, all traffic as
# "-1" (EC2 API reference, IpPermission.IpProtocol). Written out here, apart
# from hasg's own table, so that tests judge hasg's reading against EC2's.
EC2_PROTOCOL_NAMES = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6"}
EC2_NAMED = frozenset(EC2_PROTOCOL_NAMES.values())


def ec2_protocol_answer(sent: str) -> str:
    text = str(sent).strip().lower()
    if text in ("-1", "all"):
        return "-1"
    if text in EC2_NAMED:
        return text
    return EC2_PROTOCOL_NAMES.get(str(int(text)), str(int(text)))


@pytest.fixture(autouse=True)
def _moto_answers_protocols_like_ec2(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto keeps the IpProtocol as sent ("58", "ESP" stay so) and compares the
    ports of every protocol but -1. EC2 answers the canonical form and ignores
    the ports of protocols other than tcp/udp/icmp/icmpv6: make moto do so."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    original = SecurityGroupRule.__init__

    def __init__(
        self: Any,
        ec2_backend: Any,
        ip_protocol: str,
        group_id: str,
        from_port: Any,
        to_port: Any,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        protocol = ec2_protocol_answer(ip_protocol)
        if protocol not in EC2_NAMED:
            from_port = to_port = -1
        original(self, ec2_backend, protocol, group_id, from_port, to_port, *args, **kwargs)
        if protocol == "-1":
            self.from_port = self.to_port = None

    monkeypatch.setattr(SecurityGroupRule, "__init__", __init__)


@pytest.fixture(autouse=True)
def _moto_describes_rules_like_ec2(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's DescribeSecurityGroupRules leaves out GroupOwnerId, and the
    Description of a rule whose peer is a group or a prefix list; EC2 answers
    both (EC2 API reference, SecurityGroupRule). Make moto answer them."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    def description(self: Any) -> str | None:
        return (
            self.ip_range.get("Description")
            or self.source_group.get("Description")
            or getattr(self, "prefix_list_description", None)
        )

    monkeypatch.setattr(SecurityGroupRule, "description", property(description))
    owner = property(lambda self: self.owner_id)
    monkeypatch.setattr(SecurityGroupRule, "group_owner_id", owner, raising=False)


@pytest.fixture(autouse=True)
def _moto_creates_group_names_atomically_like_ec2(monkeypatch: pytest.MonkeyPatch) -> None:
    """EC2 makes a group name unique in its VPC atomically; moto checks, then
    creates, so two CreateSecurityGroup at once in two threads may both succeed
    (seen under load: "2 groups are tagged as hasg's ..."). Not a hasg bug: a
    lock gives moto EC2's guarantee."""
    from moto.ec2.models.security_groups import SecurityGroupBackend

    original = SecurityGroupBackend.create_security_group
    lock = threading.Lock()

    def create_security_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(SecurityGroupBackend, "create_security_group", create_security_group)


@dataclass
class CallLog:
    """Every EC2 API call a session's clients make (botocore's before-call event)."""

    names: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.names.append(model.name)

    @property
    def mutating(self) -> list[str]:
        return [n for n in self.names if n in MUTATING]

    def clear(self) -> None:
        self.names.clear()


# How long Timeline holds each call: long beside moto's own work and beside how
# late a loaded machine starts a thread, so that calls of one wave overlap. At
# 0.4 s, one run on a loaded 2-core machine split five concurrent creates in
# two waves: a thread started after another's call had ended.
TIMELINE_LATENCY = 1.0


@dataclass
class Timeline:
    """When each EC2 call of a session starts and ends, each held `latency`
    seconds before it is sent, as a far-away region would hold it. What it
    tells is the calls' dependency structure, not a time: a call that starts
    only after another has ended waited for it."""

    latency: float
    calls: list[tuple[str, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def attach(self, session: boto3.session.Session) -> Timeline:
        session.events.register("before-call.ec2", self._start)
        session.events.register("after-call.ec2", self._end)
        return self

    def _start(self, model: Any, **_: Any) -> None:
        self.local.started = time.monotonic()
        time.sleep(self.latency)

    def _end(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, self.local.started, time.monotonic()))

    def waves(self) -> list[list[str]]:
        """The calls by wave: a call is in the wave after the latest wave of the
        calls that had ended before it started (round trips, one per wave)."""
        wave_of: list[int] = []
        ordered = sorted(self.calls, key=lambda call: call[1])
        for _, started, _ in ordered:
            # wave_of holds the waves of the calls before this one, in order.
            done = zip(ordered, wave_of, strict=False)
            waited = [w for (_, _, ended), w in done if ended <= started]
            wave_of.append(max(waited, default=-1) + 1)
        waves: list[list[str]] = [[] for _ in range(max(wave_of, default=-1) + 1)]
        for (name, _, _), wave in zip(ordered, wave_of, strict=True):
            waves[wave].append(name)
        return [sorted(wave) for wave in waves]


@dataclass
class Cloud:
    """A moto EC2 with one VPC: the session hasg is given, and a separate
    client for the test's own looks and hand-made drift."""

    session: boto3.session.Session
    ec2: EC2Client
    vpc_id: str
    calls: CallLog
    vpcs: list[str] = field(default_factory=list)

    def new_vpc(self, cidr: str = VPC_CIDR, *, ipv6: bool = False) -> str:
        vpc = self.ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]
        self.vpcs.append(vpc["VpcId"])
        return vpc["VpcId"]

    def make_group(
        self, name: str, *, vpc_id: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """A group made by someone else than hasg (with whatever tags they chose)."""
        extra: dict[str, Any] = {}
        if tags:
            pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
            extra["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": pairs}]
        made = self.ec2.create_security_group(
            GroupName=name, Description="not hasg's", VpcId=vpc_id or self.vpc_id, **extra
        )
        return made["GroupId"]

    def groups(self, vpc_id: str | None = None) -> list[Any]:
        filters = [{"Name": "vpc-id", "Values": [vpc_id or self.vpc_id]}]
        return self.ec2.describe_security_groups(Filters=filters)["SecurityGroups"]  # type: ignore[arg-type]

    def read_back(self, cluster: str, vpc_id: str | None = None) -> Blueprint:
        """The cluster's groups as moto holds them, by DescribeSecurityGroups."""
        return _cluster_of(cluster, self.groups(vpc_id))

    def group_id(self, name: str, vpc_id: str | None = None) -> str:
        return next(g["GroupId"] for g in self.groups(vpc_id) if g["GroupName"] == name)


def new_session() -> boto3.session.Session:
    """A fresh boto3 session (its own event hooks) that reads botocore's models
    through hasg's loader, as the sessions hasg makes do: the EC2 model, a few
    megabytes of JSON, is parsed once per process, not per test."""
    return sharing_models(boto3.session.Session(region_name=REGION))


@pytest.fixture(scope="session")
def _moto() -> Iterator[EC2Client]:
    """One moto for the whole run: each test works in a VPC of its own, and hasg
    reads and writes by VPC, so tests cannot see each other's groups."""
    with mock_aws():
        yield new_session().client("ec2")


def forget(vpc_ids: list[str]) -> None:
    """Drop the VPCs' groups and their tags from moto, which finds a resource's tags
    by scanning every tag it holds: a run that kept them all would slow down
    quadratically. (Resetting moto instead costs 0.15 s: it re-creates its AMIs.)"""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    for vpc_id in vpc_ids:
        for group_id in backend.groups.pop(vpc_id, {}):
            backend.tags.pop(group_id, None)
    vpc_ids.clear()


@pytest.fixture
def cloud(_moto: EC2Client) -> Iterator[Cloud]:
    session = new_session()
    calls = CallLog()
    session.events.register("before-call.ec2", calls.record)
    made = Cloud(session, _moto, "", calls)
    made.vpc_id = made.new_vpc()
    yield made
    forget(made.vpcs)


@pytest.fixture(scope="session")
def blueprint() -> Blueprint:
    return hasg.compile_policy(hasg.chef_automate_ha())


def expected(blueprint: Blueprint, vpc_cidr: str = VPC_CIDR) -> Blueprint:
    """What AWS holds once `blueprint` is applied: the VPC's CIDR for "vpc", and
    the policy digest tag on every group."""
    return resolve_vpc_peers(with_digest(blueprint), vpc_cidr)


def _cluster_of(cluster: str, groups: list[Any]) -> Blueprint:
    mine = [
        g
        for g in groups
        if any(t["Key"] == CLUSTER_TAG and t["Value"] == cluster for t in g.get("Tags", []))
    ]
    state = live_state(cluster, mine)
    assert not state.blockers, state.blockers
    return state.blueprint


def assert_holds(
    cloud: Cloud, blueprint: Blueprint, vpc_id: str | None = None, cidr: str = VPC_CIDR
) -> None:
    """moto holds exactly `blueprint`: one group per role, with its name,
    description, tags and rules (descriptions too), and nothing else of the cluster.
    For the built-in policy's PostgreSQL group, one permission is also read raw."""
    groups = cloud.groups(vpc_id)
    want = expected(blueprint, cidr)
    live = _cluster_of(blueprint.cluster, groups)
    assert live.roles == want.roles
    for have, should in zip(live, want, strict=True):
        assert (have.name, have.description) == (should.name, should.description)
        assert dict(have.tags) == dict(should.tags)
    assert live.rule_set() == want.rule_set()
    names = [g["GroupName"] for g in groups]
    assert len(names) == len(set(names)), "duplicate groups"
    built_in = blueprint.cluster == BUILT_IN.cluster and "postgresql" in blueprint.roles
    if built_in and blueprint["postgresql"] == BUILT_IN["postgresql"]:
        assert_raw_postgresql_5432(groups)


BUILT_IN = hasg.compile_policy(hasg.chef_automate_ha())
# The built-in PostgreSQL group's inbound 5432, as DescribeSecurityGroups answers
# it, written out by hand (Chef's ports table; hasg's descriptions): it judges
# what apply sent without hasg's own reader. (group name, description) per pair.
POSTGRESQL_5432_FROM = [
    (
        "chef-automate-ha-automate",
        "Chef Automate to PostgreSQL: 5432 SQL, 6432 leader check, "
        "7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)",
    ),
    (
        "chef-automate-ha-chef-server",
        "Chef Infra Server to PostgreSQL: 5432 SQL, 6432 leader check, "
        "7432 HAProxy (deprecated), 9631 Habitat API (Chef HA Firewall Checks)",
    ),
    (
        "chef-automate-ha-postgresql",
        "PostgreSQL ring: replication 5432, leader check 6432, HAProxy 7432, "
        "Habitat API 9631 and gossip 9638 TCP and UDP (Chef HA Firewall Checks)",
    ),
]
ACCOUNT = "123456789012"  # moto's account


def assert_raw_postgresql_5432(groups: list[Any]) -> None:
    ids = {g["GroupName"]: g["GroupId"] for g in groups}
    (postgresql,) = [g for g in groups if g["GroupName"] == "chef-automate-ha-postgresql"]
    (permission,) = [p for p in postgresql["IpPermissions"] if p.get("FromPort") == 5432]
    pairs = sorted(permission["UserIdGroupPairs"], key=lambda pair: pair["GroupId"])
    assert {**permission, "UserIdGroupPairs": pairs} == {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "UserIdGroupPairs": sorted(
            (
                {"Description": why, "GroupId": ids[name], "UserId": ACCOUNT}
                for name, why in POSTGRESQL_5432_FROM
            ),
            key=lambda pair: pair["GroupId"],
        ),
        "IpRanges": [],
        "Ipv6Ranges": [],
        "PrefixListIds": [],
    }


def assert_documented_cells_open(live: Blueprint) -> None:
    """Every cell of Chef's documented port table is open on its role's group, in
    its direction (errata applied)."""
    for cell in DOCUMENTED_TABLE:
        rules = live[cell.role].rules
        inbound = [r for r in rules if r.direction == "ingress"]
        outbound = [r for r in rules if r.direction == "egress"]
        port = cell.effective_port
        if cell.direction == "incoming":
            assert any(r.covers(cell.protocol, port) for r in inbound), cell
        else:
            # Security groups are stateful: a port a role only answers on is
            # covered by the replies to the inbound flow.
            assert any(r.covers(cell.protocol, port) for r in outbound + inbound), cell
