"""Bad input and a hostile environment: a one-line HasgError, and nothing changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from hasg.aws import apply, destroy, plan
from hasg.aws.session import make_client
from hasg.blueprint import Blueprint
from hasg.errors import AwsError, HasgError

from .conftest import REGION, Cloud, assert_holds, new_session

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
    assert cloud.calls.names in ([], ["DescribeVpcs"])


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
    assert re.search(r"unknown AWS region|region", one_line(raised))


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


def actions_in_the_docs() -> dict[str, object]:
    """The actions of the IAM policy docs/aws.md gives, allowed on any resource:
    moto matches actions, but neither resource ARNs nor conditions."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    assert block, "docs/aws.md has no ```json block"
    actions = set()
    for statement in json.loads(block.group(1))["Statement"]:
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


# IAM calls are free for the first 6 (two users, their policies and keys); then
# moto checks every call against IAM.
@set_initial_no_auth_action_count(6)
def test_the_documented_iam_policy_is_enough_and_less_is_denied(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    iam = new_session().client("iam")

    def user(name: str, document: dict[str, object]) -> boto3.session.Session:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="hasg", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name=REGION,
        )

    reader = user("reader", READ_ONLY)
    allowed = user("hasg", actions_in_the_docs())
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
