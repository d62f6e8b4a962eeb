"""The commands docs/aws.md runs against moto, run against moto as a user runs it.

`python -m moto.server` in a subprocess, on a free port of 127.0.0.1: none of
the fixtures that make the in-process moto answer as EC2 does reach it (they
patch moto's classes in this process only). What moto as shipped still does
unlike EC2 is what docs/aws.md says it does, and these tests hold it there.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from terraform.tooling import hcl_values

import hasg
from hasg.backends.terraform.hcl import resource_instances

from .conftest import REGION, fake_aws_environment
from .test_cli_e2e import failed_with

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = hasg.compile_policy(hasg.chef_automate_ha())
# How the docs start moto; the tests start it so, on another port.
START = "python -m moto.server -H 127.0.0.1 -p 5000 &"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m moto.server -H 127.0.0.1 -p PORT` as the docs start it, once it
    answers. Another process may take the free port first: then another port."""
    for _ in range(3):
        port = free_port()
        with log.open("ab") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=5):
                    return server, url
            except OSError:
                time.sleep(0.1)
        server.kill()
        server.wait()
    raise AssertionError(f"moto.server did not start: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def stock_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, url = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield url
    server.terminate()
    server.wait(timeout=30)


def new_vpc(url: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    return ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]


def moto_walkthrough() -> tuple[str, str]:
    """The two shell blocks of docs/aws.md's "Trying it locally against moto":
    starting the server, and the walkthrough itself."""
    text = (ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    section = text.split("## Trying it locally against moto", 1)[1]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 2, "the walkthrough lost a block"
    return blocks[0], blocks[1]


def as_a_user(
    command: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """A command run in a shell of its own: no terminal, only `env`, in `cwd`."""
    return subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def group_references(blueprint: hasg.Blueprint) -> int:
    return sum(r.peer.kind == "group" for g in blueprint for r in g.rules)


def test_the_moto_walkthrough_in_the_docs_runs_as_written(stock_moto: str, tmp_path: Path) -> None:
    """Run the docs' walkthrough with bash, only pointed at this test's moto server
    instead of port 5000: AWS_REGION alone (no AWS_DEFAULT_REGION) must do."""
    start, walkthrough = moto_walkthrough()
    assert START in start
    assert "http://127.0.0.1:5000" in walkthrough and "AWS_DEFAULT_REGION" not in walkthrough
    env = {k: v for k, v in fake_aws_environment(tmp_path).items() if k != "AWS_DEFAULT_REGION"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name)  # the walkthrough sets these itself
    # `hasg` and `python` as this test run has them.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = walkthrough.replace("http://127.0.0.1:5000", stock_moto) + 'echo "VPC=$VPC"\n'
    run = as_a_user(["bash", "-c", script], env, tmp_path)
    assert run.returncode == 0, (run.stdout, run.stderr)
    out = run.stdout
    # plan: changes pending; plan: nothing to do; the import: drift (below).
    assert re.findall(r"^exit \d+$", out, re.MULTILINE) == ["exit 2", "exit 0", "exit 2"], out
    assert (
        out.index("exit 2\n")
        < out.index("Apply complete: 5 group(s) created")
        < out.index("exit 0\n")
        < out.index("Destroy complete: 0 group(s) created, 5 deleted")
    )

    # Every resource the module declares is imported: before hasg took a rule's
    # owner from its group, moto's answer without GroupOwnerId made every
    # reference to a group read as another account's, and 11 were.
    blocks = hcl_values(tmp_path / "sg" / "imports.tf")["import"]
    assert len(blocks) == len(resource_instances(BUILT_IN)) == 107
    assert f"{len(blocks)} import blocks in sg/imports.tf" in run.stderr
    # The one finding moto causes: it leaves out the description of each rule
    # that references a group, and nothing else differs.
    report = out[out.index("Audit of cluster") : out.index("\ndrift: ")].splitlines()
    assert report[0].endswith("5 groups, 102 rules.") and report[1] == ""
    findings = [line.split("  ")[1] for line in report[2:]]
    assert findings == ["changed rule"] * group_references(BUILT_IN), out
    assert out.count("the live description '' is not the module's") == len(findings) == 96
    assert f"drift: {len(findings)} finding(s)" in out

    vpc = re.findall(r"^VPC=(vpc-[0-9a-f]+)$", out, re.MULTILINE)[-1]
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=stock_moto)
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    assert [g["GroupName"] for g in groups["SecurityGroups"]] == ["default"]


def test_a_changed_description_of_a_role_to_role_flow_is_reported_as_not_done(
    stock_moto: str, tmp_path: Path
) -> None:
    """moto matches a rule that references a group with its description, so its
    UpdateSecurityGroupRuleDescriptions* answers as done and changes nothing:
    apply says so, and names no other writer. A rule to a CIDR is updated."""
    env = {**fake_aws_environment(tmp_path), "AWS_ENDPOINT_URL": stock_moto}

    def hasg_command(*args: str) -> subprocess.CompletedProcess[str]:
        return as_a_user([sys.executable, "-m", "hasg.cli", *args], env, tmp_path)

    vpc = new_vpc(stock_moto)
    built_in = tmp_path / "built-in.yaml"
    assert hasg_command("init", "--out", str(built_in)).returncode == 0
    assert hasg_command("apply", "--vpc", vpc, "--yes").returncode == 0

    to_a_cidr = tmp_path / "cidr.yaml"
    to_a_cidr.write_text(
        built_in.read_text().replace("Bastion downloads Chef", "The bastion downloads Chef"),
    )
    updated = hasg_command("apply", "--vpc", vpc, "--policy", str(to_a_cidr), "--yes")
    assert updated.returncode == 0, updated.stderr
    assert "0 rule(s) added, 0 removed, 2 updated, 5 group(s) re-tagged" in updated.stdout

    edited = tmp_path / "edited.yaml"
    text = to_a_cidr.read_text()
    assert "Chef Automate to PostgreSQL" in text
    edited.write_text(text.replace("Chef Automate to PostgreSQL", "Chef Automate to its database"))
    pending = hasg_command("plan", "--vpc", vpc, "--policy", str(edited), "--detailed-exitcode")
    assert pending.returncode == 2, pending.stderr
    changed = pending.stdout.count(": description 'Chef Automate to PostgreSQL")
    assert changed == 8, pending.stdout  # 4 ports, an egress and an ingress rule each

    applied = hasg_command("apply", "--vpc", vpc, "--policy", str(edited), "--yes")
    failed_with(
        applied,
        "the endpoint answered UpdateSecurityGroupRuleDescriptionsEgress and "
        "UpdateSecurityGroupRuleDescriptionsIngress as done, yet 8 rule(s) still hold the "
        "description they had before",
    )
    assert "nothing else differs, so no other writer is seen" in applied.stderr
    assert "another apply" not in applied.stderr
    # Still to do, and nothing else is: the digest tags, say, were set.
    again = hasg_command("plan", "--vpc", vpc, "--policy", str(edited), "--json")
    summary = json.loads(again.stdout)["summary"]
    assert summary == {"create": 0, "delete": 0, "add": 0, "remove": 0, "update": 8}
    assert json.loads(again.stdout)["tags"] == []
