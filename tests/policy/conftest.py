"""A VPC of one's own in moto's in-process EC2, with the built-in policy applied
by hasg's own AWS backend: what `hasg audit` and `hasg verify --vpc` read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import hasg

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client

REGION = "us-east-1"
VPC_CIDR = "10.42.0.0/16"


@dataclass
class Deployed:
    """The built-in policy applied to a fresh VPC, and ways to drift it by hand."""

    session: boto3.session.Session
    ec2: EC2Client
    vpc_id: str
    group_ids: dict[str, str]
    calls: list[str] = field(default_factory=list)

    def authorize(self, role: str, direction: str, permission: dict[str, Any]) -> None:
        self._change("authorize", role, direction, permission)

    def revoke(self, role: str, direction: str, permission: dict[str, Any]) -> None:
        self._change("revoke", role, direction, permission)

    def _change(self, verb: str, role: str, direction: str, permission: dict[str, Any]) -> None:
        call = getattr(self.ec2, f"{verb}_security_group_{direction}")
        call(GroupId=self.group_ids[role], IpPermissions=[permission])

    def stranger(self, name: str, tags: dict[str, str] | None = None) -> str:
        """A group hasg does not manage, in the same VPC."""
        spec = [
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            }
        ]
        return self.ec2.create_security_group(
            GroupName=name,
            Description=name,
            VpcId=self.vpc_id,
            **({"TagSpecifications": spec} if tags else {}),  # type: ignore[arg-type]
        )["GroupId"]


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployed]:
    import boto3
    from moto import mock_aws

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        ec2 = session.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        result = hasg.apply(
            hasg.compile_policy(hasg.chef_automate_ha()), vpc_id=vpc_id, session=session
        )
        made = Deployed(session, ec2, vpc_id, dict(result.group_ids))
        session.events.register("before-call.ec2", lambda model, **_: made.calls.append(model.name))
        yield made
