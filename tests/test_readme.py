"""The README's Python examples run as written (against moto, never AWS)."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import hasg

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) == 3


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy.yaml").write_text(
        hasg.dump_policy(hasg.chef_automate_ha(cluster="prod", admin_cidrs=["203.0.113.7/32"]))
    )
    with mock_aws():
        region = "eu-west-1" if "eu-west-1" in EXAMPLES[index] else "us-east-1"
        vpc = boto3.client("ec2", region_name=region).create_vpc(CidrBlock="10.0.0.0/16")
        code = EXAMPLES[index].replace('"vpc-0abc1234"', repr(vpc["Vpc"]["VpcId"]))
        code = code.replace('"vpc-0abc1234def567890"', repr(vpc["Vpc"]["VpcId"]))
        namespace: dict[str, object] = {}
        exec(compile(code, f"README example {index}", "exec"), namespace)
        if "result" in namespace:
            assert len(namespace["result"].group_ids) >= 5  # type: ignore[attr-defined]
