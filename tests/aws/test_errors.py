"""Bad input and a hostile environment: a one-line HasgError, and nothing changed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from hasg.backends.aws import apply, destroy, plan
from hasg.backends.aws.session import make_client
from hasg.core.blueprint import Blueprint
from hasg.errors import AwsError, HasgError

from .conftest import REGION, Cloud, assert_holds, new_session, tcp

DOCS = Path(__file__).resolve().parents[2] / "docs" / "aws.md"


def one_line(error: pytest.ExceptionInfo[HasgError]) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("vpc_id", "expected"),
    [
        ("vpc-xyz", "'vpc-xyz' is not a VPC id"),
        ("subnet-0123456789abcdef0", "is not a VPC id"),
        ("vpc-0123456789abcdef0", "VPC vpc-0123456789abcdef0 not found in us-east-1"),
    ],
)
def test_a_bad_vpc_is_reported_before_anything_else(
    cloud: Cloud, blueprint: Blueprint, vpc_id: str, expected: str
) -> None:
    with pytest.raises(HasgError) as raised:
        apply(blueprint, vpc_id=vpc_id, session=cloud.session)
    assert expected in one_line(raised)
    # Nothing but the two first reads, which go out at once.
    assert set(cloud.calls.names) <= {"DescribeVpcs", "DescribeSecurityGroups"}


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, blueprint: Blueprint) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(HasgError) as raised:
        plan(blueprint, vpc_id="vpc-0123456789abcdef0", session=boto3.session.Session())
    assert "no usable AWS credentials" in one_line(raised)


def test_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(HasgError, match="no AWS region: pass --region or set AWS_REGION"):
        make_client(boto3.session.Session())


@pytest.mark.parametrize("region", ["xx-nowhere-1", "moon-base-1", "us_east_1"])
def test_an_unknown_region_is_refused_without_a_call(region: str) -> None:
    with pytest.raises(HasgError) as raised:
        make_client(region=region)
    assert one_line(raised) == (
        f"unknown AWS region {region!r}: check --region / AWS_REGION "
        "(for a local EC2 such as moto, pass --endpoint-url)"
    )


def test_a_region_newer_than_botocore_still_passes() -> None:
    # Shaped like AWS's regions, just not in botocore's list (yet).
    assert make_client(region="eu-north-9").meta.region_name == "eu-north-9"


def test_a_custom_endpoint_accepts_any_region() -> None:
    client = make_client(region="local-1", endpoint_url="http://127.0.0.1:1")
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_an_unknown_profile(blueprint: Blueprint) -> None:
    with pytest.raises(HasgError) as raised:
        plan(blueprint, vpc_id="vpc-0123456789abcdef0", profile="nobody")
    assert "nobody" in one_line(raised) and "--profile" in str(raised.value)


def test_an_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, blueprint: Blueprint) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(AwsError) as raised:
        plan(blueprint, vpc_id="vpc-0123456789abcdef0", endpoint_url="http://127.0.0.1:9")
    assert "cannot reach http://127.0.0.1:9" in one_line(raised)  # type: ignore[arg-type]


def documented_iam_policy() -> dict[str, Any]:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    assert block, "docs/aws.md has no ```json block"
    policy: dict[str, Any] = json.loads(block.group(1))
    return policy


def actions_in_the_docs() -> dict[str, object]:
    """The actions of the IAM policy docs/aws.md gives, allowed on any resource:
    moto matches actions, but neither resource ARNs nor conditions (the test
    after this one judges those)."""
    actions = set()
    for statement in documented_iam_policy()["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}],
    }


READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}],
}


def iam_user(name: str, document: dict[str, object]) -> boto3.session.Session:
    """A session of a new IAM user whose one policy is `document` (three IAM calls)."""
    iam = new_session().client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="hasg", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


# IAM calls are free for the first 6 (two users, their policies and keys); then
# moto checks every call against IAM.
@set_initial_no_auth_action_count(6)
def test_the_documented_iam_policy_is_enough_and_less_is_denied(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    reader = iam_user("reader", READ_ONLY)
    allowed = iam_user("hasg", actions_in_the_docs())
    look = Cloud(reader, reader.client("ec2"), cloud.vpc_id, cloud.calls)

    assert not plan(blueprint, vpc_id=cloud.vpc_id, session=reader).empty
    with pytest.raises(AwsError) as raised:
        apply(blueprint, vpc_id=cloud.vpc_id, session=reader)
    message = one_line(raised)  # type: ignore[arg-type]
    assert message.startswith("access denied: CreateSecurityGroup")
    assert "docs/aws.md" in message
    assert look.read_back(blueprint.cluster).groups == ()

    apply(blueprint, vpc_id=cloud.vpc_id, session=allowed)
    assert_holds(look, blueprint)
    destroy(blueprint, vpc_id=cloud.vpc_id, session=allowed)
    assert look.read_back(blueprint.cluster).groups == ()


@set_initial_no_auth_action_count(0)
def test_credentials_aws_rejects(cloud: Cloud, blueprint: Blueprint) -> None:
    stranger = boto3.session.Session(
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region_name=REGION,
    )
    with pytest.raises(AwsError) as raised:
        plan(blueprint, vpc_id=cloud.vpc_id, session=stranger)
    assert one_line(raised).startswith("AWS rejected the credentials")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Request:
    """What IAM authorizes for one part of an EC2 call: an action on a resource, with
    the condition keys the call carries (EC2's Actions, resources, and condition
    keys page lists which apply to which action and resource type)."""

    action: str
    resource: str
    keys: dict[str, str] = field(default_factory=dict)


def allowed(policy: dict[str, Any], request: Request) -> bool:
    """IAM's evaluation for Allow-only policies: some statement names the action and
    the resource, and every condition holds; a condition on a key the request
    does not carry does not hold (StringEquals is the only operator the docs use)."""
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])

    def matches(patterns: str | list[str], value: str) -> bool:
        listed = [patterns] if isinstance(patterns, str) else patterns
        return any(fnmatchcase(value, p) for p in listed)

    def holds(conditions: dict[str, dict[str, str]]) -> bool:
        assert set(conditions) <= {"StringEquals"}, conditions
        wanted = conditions.get("StringEquals", {})
        return all(request.keys.get(key) == value for key, value in wanted.items())

    return any(
        matches(s["Action"], request.action)
        and matches(s["Resource"], request.resource)
        and holds(s.get("Condition", {}))
        for s in policy["Statement"]
    )


ACCOUNT = "123456789012"  # moto's default account


def group_arn(group_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group_id}"


def requests_of(operation: str, params: dict[str, Any], cloud: Cloud) -> list[Request]:
    """The authorizations one EC2 call needs. CreateSecurityGroup is authorized on
    the VPC and on the new group (with the request's tags), and its tags as
    ec2:CreateTags with ec2:CreateAction; a call on a group, on that group with
    its tags as they are when the call is made."""
    action = f"ec2:{operation}"
    if operation.startswith("Describe"):
        return [Request(action, "*")]
    if operation == "CreateSecurityGroup":
        tags = {
            f"aws:RequestTag/{t['Key']}": t["Value"]
            for spec in params.get("TagSpecifications", [])
            for t in spec["Tags"]
        }
        new_group = group_arn("*")
        return [
            Request(action, f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{params['VpcId']}"),
            Request(action, new_group, tags),
            Request("ec2:CreateTags", new_group, {**tags, "ec2:CreateAction": operation}),
        ]
    group_ids = params["Resources"] if operation == "CreateTags" else [params["GroupId"]]
    requests = []
    for group_id in group_ids:
        (group,) = cloud.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        tags = {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in group.get("Tags", [])}
        requests.append(Request(action, group_arn(group_id), tags))
    return requests


def test_the_documented_iam_resources_and_conditions_allow_every_call_hasg_makes(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    """moto checks actions only: judge each call's resources and condition keys
    against the documented statements, through apply, drift repair and destroy."""
    policy = documented_iam_policy()
    judged: list[tuple[Request, bool]] = []

    def judge(params: dict[str, Any], model: Any, **_: Any) -> None:
        for request in requests_of(model.name, params, cloud):
            judged.append((request, allowed(policy, request)))

    cloud.session.events.register("before-parameter-build.ec2", judge)
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    postgresql = cloud.group_id("chef-automate-ha-postgresql")
    cloud.ec2.authorize_security_group_ingress(
        GroupId=postgresql,
        IpPermissions=tcp(1, "1.2.3.4/32"),
    )
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    destroy(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    denied = [request for request, ok in judged if not ok]
    assert denied == []
    actions = {request.action for request, _ in judged}
    assert actions >= {
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
    }


def test_the_documented_iam_policy_denies_what_is_not_hasgs(cloud: Cloud) -> None:
    """The same judge can fail: the policy keeps hasg away from others' groups."""
    policy = documented_iam_policy()
    stranger = cloud.make_group("web", tags={"managed-by": "terraform"})
    untagged = cloud.make_group("db")
    for group_id in (stranger, untagged):
        for operation in ("AuthorizeSecurityGroupIngress", "DeleteSecurityGroup", "CreateTags"):
            params = {"GroupId": group_id, "Resources": [group_id]}
            (request,) = requests_of(operation, params, cloud)
            assert not allowed(policy, request), request
    unmarked = {
        "VpcId": cloud.vpc_id,
        "TagSpecifications": [{"Tags": [{"Key": "a", "Value": "b"}]}],
    }
    verdicts = [allowed(policy, r) for r in requests_of("CreateSecurityGroup", unmarked, cloud)]
    # The VPC yes, a group without managed-by=hasg no: so the call as a whole is denied.
    assert verdicts[:2] == [True, False]
