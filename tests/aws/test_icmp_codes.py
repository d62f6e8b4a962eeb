"""ICMP codes, judged by the mapped audit and `verify --map`: a policy that
asks for `icmp/3:4` (fragmentation needed) is not met by a group that opens
every code of type 3, nor the other way round. Both said clean: PortSet kept
only the ICMP type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hasg.cli import main
from hasg.errors import ExitCode

from .conftest import Cloud


def icmp_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    document = {
        "cluster": "icmp",
        "roles": [{"id": "app", "description": "app"}, {"id": "db", "description": "db"}],
        "flows": [
            {
                "source": "app",
                "destination": "db",
                "ports": ["icmp/3:4"],
                "description": "path MTU discovery",
            }
        ],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def icmp(code: int, group_id: str) -> list[Any]:
    """EC2's form of an ICMP type 3 rule naming a group; code -1 is every code."""
    pair = {"GroupId": group_id, "Description": "path MTU discovery"}
    return [{"IpProtocol": "icmp", "FromPort": 3, "ToPort": code, "UserIdGroupPairs": [pair]}]


def groups_with(cloud: Cloud, code: int) -> str:
    """Two groups hasg did not build, holding the flow app -> db on ICMP type 3
    with `code`, and nothing else; the map of them to the policy's roles."""
    app, db = cloud.make_group(f"app-{code}"), cloud.make_group(f"db-{code}")
    for group_id in (app, db):  # AWS's allow-all egress is not the test's subject
        everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        cloud.ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=everything)
    cloud.ec2.authorize_security_group_egress(GroupId=app, IpPermissions=icmp(code, db))
    cloud.ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=icmp(code, app))
    return f"app={app},db={db}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err
    return code, printed.out


@pytest.mark.parametrize(
    ("live_code", "audit", "verify"),
    [
        # every code of the type: more than the policy asks
        (
            -1,
            [
                "ingress icmp/3:0-3 icmp/3:5-255 from group",
                "egress icmp/3:0-3 icmp/3:5-255 to group",
            ],
            ["app -> db may open icmp/3:0-3 icmp/3:5-255, which no flow of the policy asks for"],
        ),
        # another code: the policy's is missing
        (1, ["lacks icmp/3:4"], ["app -> db icmp/3:4 is blocked"]),
        # exactly the policy's code: clean
        (4, [], []),
    ],
)
def test_the_live_code_is_judged_against_the_policys(
    cloud: Cloud,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    live_code: int,
    audit: list[str],
    verify: list[str],
) -> None:
    policy, mapped = str(icmp_policy(tmp_path)), groups_with(cloud, live_code)
    for command, expected, drift in (
        ("audit", audit, ExitCode.CHANGES),
        ("verify", verify, ExitCode.ERROR),
    ):
        code, out = run(capsys, command, "--policy", policy, "--vpc", cloud.vpc_id, "--map", mapped)
        assert code == (drift if expected else ExitCode.OK), out
        assert all(line in out for line in expected), out
