"""End to end: the `hasg` command, as a subprocess, against a moto server on 127.0.0.1.

The server runs in this process (moto's ThreadedMotoServer, on a free port);
each test works in a VPC of its own and reads the result back from the server
with DescribeSecurityGroups.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import hasg

from .conftest import (
    MUTATING,
    REGION,
    CallLog,
    Cloud,
    assert_documented_cells_open,
    assert_holds,
    fake_aws_environment,
    forget,
    tcp,
)

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=42)

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark() -> ModuleType:
    """benchmarks/apply.py, for its latency/fault proxy (one proxy, two uses)."""
    spec = importlib.util.spec_from_file_location(
        "hasg_benchmark_apply", ROOT / "benchmarks" / "apply.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@dataclass
class World:
    cloud: Cloud
    env: dict[str, str]

    @property
    def vpc(self) -> str:
        return self.cloud.vpc_id

    def hasg(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: Any = subprocess.DEVNULL,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `hasg`; stdin is /dev/null, or a terminal, or a pipe that holds input_text."""
        return subprocess.run(
            [sys.executable, "-m", "hasg.cli", *args],
            env=env or self.env,
            stdin=stdin,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )


@pytest.fixture
def world(server: str, tmp_path: Path) -> Iterator[World]:
    client = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cloud = Cloud(boto3.session.Session(), client, "", CallLog())
    cloud.vpc_id = cloud.new_vpc()
    env = fake_aws_environment(tmp_path)
    env["AWS_ENDPOINT_URL"] = server
    yield World(cloud, env)
    forget(cloud.vpcs)


def failed_with(result: subprocess.CompletedProcess[str], text: str) -> None:
    """Exit 1 with one line on stderr, `hasg: error: ...` and no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hasg: error: "), result.stderr
    assert text in lines[0], lines[0]


BUILT_IN = hasg.compile_policy(hasg.chef_automate_ha())


def test_plan_apply_no_op_drift_and_destroy(world: World) -> None:
    vpc = world.vpc
    pending = world.hasg("plan", "--vpc", vpc, "--detailed-exitcode")
    assert pending.returncode == 2, pending.stderr
    assert "+ group chef-automate-ha-postgresql (role postgresql, new)" in pending.stdout
    assert "Plan: 5 group(s) to create" in pending.stdout
    assert "\x1b[" not in pending.stdout  # no colour off a terminal

    applied = world.hasg("apply", "--vpc", vpc, "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 5 group(s) created, 0 deleted, 102 rule(s) added" in applied.stdout
    assert_holds(world.cloud, BUILT_IN)
    assert_documented_cells_open(world.cloud.read_back(BUILT_IN.cluster))
    for role in BUILT_IN.roles:
        assert world.cloud.group_id(BUILT_IN[role].name) in applied.stdout

    nothing = world.hasg("plan", "--vpc", vpc, "--detailed-exitcode")
    assert (nothing.returncode, nothing.stdout) == (
        0,
        f"No changes: the 5 group(s) of cluster chef-automate-ha in {vpc} (10.20.0.0/16) "
        "match the policy.\n",
    )

    # By hand: a rule in, a rule out.
    postgresql = world.cloud.group_id("chef-automate-ha-postgresql")
    world.cloud.ec2.authorize_security_group_ingress(
        GroupId=postgresql,
        IpPermissions=tcp(5432, "0.0.0.0/0"),
    )
    world.cloud.ec2.revoke_security_group_ingress(
        GroupId=postgresql,
        IpPermissions=tcp(22, world.cloud.group_id("chef-automate-ha-bastion")),
    )
    drift = world.hasg("plan", "--vpc", vpc, "--detailed-exitcode")
    assert drift.returncode == 2
    assert "    - ingress tcp/5432 from 0.0.0.0/0\n" in drift.stdout
    assert "    + ingress tcp/22 from group chef-automate-ha-bastion\n" in drift.stdout

    repaired = world.hasg("apply", "--vpc", vpc, "--json", "--yes")
    assert repaired.returncode == 0, repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["summary"] == {"create": 0, "delete": 0, "add": 1, "remove": 1, "update": 0}
    assert set(report["group_ids"]) == set(BUILT_IN.roles)
    assert_holds(world.cloud, BUILT_IN)

    stranger = world.cloud.make_group("web")
    destroyed = world.hasg("destroy", "--vpc", vpc, "--json", "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    assert json.loads(destroyed.stdout)["summary"]["delete"] == 5
    assert world.cloud.read_back("chef-automate-ha").groups == ()
    assert {g["GroupId"] for g in world.cloud.groups()} >= {stranger}


def test_flags_instead_of_the_environment(world: World, tmp_path: Path) -> None:
    """--endpoint-url, --region and --profile do what AWS_* would."""
    config = tmp_path / "config"
    config.write_text("[profile lab]\nregion = us-east-1\n", encoding="utf-8")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[lab]\naws_access_key_id = a\naws_secret_access_key = b\n", encoding="utf-8"
    )
    bare = {k: v for k, v in world.env.items() if not k.startswith("AWS_")}
    bare.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials))
    endpoint = world.env["AWS_ENDPOINT_URL"]

    by_flags = world.hasg(
        "plan",
        "--vpc",
        world.vpc,
        "--profile",
        "lab",
        "--endpoint-url",
        endpoint,
        "--json",
        env=bare,
    )
    assert by_flags.returncode == 0, by_flags.stderr
    assert json.loads(by_flags.stdout)["summary"]["create"] == 5

    region_flag = world.hasg(
        "plan",
        "--vpc",
        world.vpc,
        "--profile",
        "lab",
        "--region",
        "eu-west-1",
        "--endpoint-url",
        endpoint,
        env=bare,
    )
    # The VPC is in us-east-1: looking for it in eu-west-1 must not find it.
    failed_with(region_flag, f"VPC {world.vpc} not found in eu-west-1")


@pytest.mark.parametrize(
    ("case", "args", "env_change", "message"),
    [
        ("malformed VPC id", ["--vpc", "vpc-nope"], {}, "'vpc-nope' is not a VPC id"),
        (
            "VPC not found",
            ["--vpc", "vpc-0123456789abcdef0"],
            {},
            "VPC vpc-0123456789abcdef0 not found",
        ),
        (
            "no credentials",
            [],
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
            "no usable AWS credentials",
        ),
        (
            "unknown region",
            ["--region", "xx-nowhere-1"],
            {"AWS_ENDPOINT_URL": None},
            "unknown AWS region 'xx-nowhere-1'",
        ),
        (
            "unreachable endpoint",
            ["--endpoint-url", "http://127.0.0.1:9"],
            {"AWS_MAX_ATTEMPTS": "1"},
            "cannot reach http://127.0.0.1:9",
        ),
        ("unknown profile", ["--profile", "nobody"], {}, "nobody"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    world: World, case: str, args: list[str], env_change: dict[str, str | None], message: str
) -> None:
    env = dict(world.env)
    for name, value in env_change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    if "--vpc" not in args:
        args = ["--vpc", world.vpc, *args]
    before = world.cloud.groups()
    failed_with(world.hasg("apply", "--yes", *args, env=env), message)
    assert world.cloud.groups() == before


def test_a_strangers_group_with_our_name_stops_plan_and_apply(world: World) -> None:
    stranger = world.cloud.make_group("chef-automate-ha-automate")
    planned = world.hasg("plan", "--vpc", world.vpc)
    failed_with(planned, f"chef-automate-ha-automate ({stranger})")
    assert f"! a group named chef-automate-ha-automate ({stranger})" in planned.stdout
    failed_with(world.hasg("apply", "--vpc", world.vpc, "--yes"), "hasg adopts nothing")
    assert world.cloud.read_back("chef-automate-ha").groups == ()


def test_a_policy_file(world: World, tmp_path: Path) -> None:
    policy = {
        "cluster": "demo",
        "roles": [
            {"id": "web", "description": "Web servers"},
            {"id": "db", "description": "Database"},
        ],
        "flows": [
            {"source": "web", "destination": "db", "ports": ["tcp/5432"], "description": "SQL"},
            {"source": "vpc", "destination": "web", "ports": [443], "description": "HTTPS"},
        ],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy), encoding="utf-8")
    applied = world.hasg("apply", "--vpc", world.vpc, "--policy", str(path), "--yes")
    assert applied.returncode == 0, applied.stderr
    assert_holds(world.cloud, hasg.compile_policy(hasg.Policy.model_validate(policy)))


def test_restrict_default_group_from_a_policy_file_plans_applies_and_audits(
    world: World, tmp_path: Path
) -> None:
    """`hasg init`, one line added, and the default group is planned apart (exit 2),
    emptied by apply, then clean for plan and audit (exit 0)."""
    path = tmp_path / "policy.yaml"
    assert world.hasg("init", "--out", str(path)).returncode == 0
    with path.open("a", encoding="utf-8") as policy_file:
        policy_file.write("restrict_default_group: true\n")
    by_policy = ("--vpc", world.vpc, "--policy", str(path))

    planned = world.hasg("plan", *by_policy, "--detailed-exitcode")
    audited = world.hasg("audit", *by_policy)
    applied = world.hasg("apply", *by_policy, "--yes")

    assert planned.returncode == 2, planned.stderr
    assert "the VPC's default group: restrict_default_group revokes" in planned.stdout
    assert "    - egress all to 0.0.0.0/0" in planned.stdout
    assert audited.returncode == 2 and "default" in audited.stdout
    assert applied.returncode == 0, applied.stderr
    assert "of the VPC's default group revoked" in applied.stdout
    default = next(g for g in world.cloud.groups() if g["GroupName"] == "default")
    assert default["IpPermissions"] == default["IpPermissionsEgress"] == []
    assert world.hasg("plan", *by_policy, "--detailed-exitcode").returncode == 0
    assert world.hasg("audit", *by_policy).returncode == 0


def test_apply_asks_on_a_terminal_and_a_no_changes_nothing(world: World) -> None:
    main, replica = os.openpty()
    try:
        os.write(main, b"no\n")
        declined = world.hasg("apply", "--vpc", world.vpc, stdin=replica)
    finally:
        os.close(replica)
        os.close(main)
    # On a terminal the answer's newline ends the prompt line; in this pipe it does not.
    assert declined.returncode == 1
    assert declined.stderr.endswith(
        "Type 'yes': hasg: error: apply cancelled; nothing changed\n"
    ), declined.stderr
    assert "Traceback" not in declined.stderr
    assert "+ group chef-automate-ha-bastion" in declined.stdout
    assert world.cloud.read_back("chef-automate-ha").groups == ()


def test_a_flaky_network_is_absorbed_by_retries(world: World) -> None:
    """Each mutating request is lost once, before or after it reaches EC2; botocore
    retries, EC2 answers "duplicate" or "not found" for those that had landed,
    and hasg counts them as done: one run, and it holds the Blueprint."""
    bench = load_benchmark()
    seen: set[bytes] = set()

    def flaky(action: str, body: bytes) -> str | None:
        # A retry sends the same body: drop each request the first time only.
        if action not in MUTATING or body in seen:
            return None
        seen.add(body)
        return bench.DROP_AFTER if len(seen) % 2 else bench.DROP_BEFORE

    with bench.LatencyProxy(world.env["AWS_ENDPOINT_URL"], 0.0, flaky) as proxy:
        env = {**world.env, "AWS_ENDPOINT_URL": proxy.url}
        applied = world.hasg("apply", "--vpc", world.vpc, "--json", "--yes", env=env)
        actions = proxy.take()
    assert applied.returncode == 0, applied.stderr
    assert_holds(world.cloud, BUILT_IN)
    assert sum(a in MUTATING for a in actions) == 2 * len(seen)  # each one retried once
    again = world.hasg("plan", "--vpc", world.vpc, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout


def test_help_does_not_import_boto3() -> None:
    probe = (
        "import sys; from hasg.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    usage = subprocess.run(
        [sys.executable, "-m", "hasg.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("plan", "apply", "destroy"):
        assert command in usage.stdout


def test_two_clis_at_once_end_in_the_blueprint(world: World) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "hasg.cli", "apply", "--vpc", world.vpc, "--yes"],
            env=world.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    assert_holds(world.cloud, BUILT_IN)


def test_the_benchmark_counts_calls_within_the_targets(server: str) -> None:
    """benchmarks/apply.py runs, and its call counts (not its times: this machine
    is shared) meet the targets."""
    bench = load_benchmark()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=server)
    before = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    results = bench.measure(server, latency=0.0, repeat=1)
    forget([v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] not in before])
    runs = {run.name: run for run in results["runs"]}
    assert (runs["no-op apply"].calls, runs["no-op apply"].mutating) == (2, 0)
    # A change is read back once at the end: one read more than the changes need.
    assert runs["fresh apply"].calls <= 4 * results["groups"] + 2
    assert (runs["one-rule drift repair"].calls, runs["one-rule drift repair"].mutating) == (4, 1)
    assert runs["baseline: one call per rule"].calls > results["rules"]
    assert "| fresh apply | 22 | 19 |" in bench.report(results)


@pytest.mark.parametrize("command", ["apply", "destroy"])
def test_without_a_terminal_apply_and_destroy_refuse_unless_yes(world: World, command: str) -> None:
    """`echo no | hasg destroy` must not destroy: with no terminal to ask on, as
    Terraform does without -auto-approve, refuse unless --yes is given."""
    # The cluster to act on, applied through the library (the commands under
    # test are the ones below).
    hasg.apply(BUILT_IN, vpc_id=world.vpc, endpoint_url=world.env["AWS_ENDPOINT_URL"])
    if command == "apply":  # something for apply to do: a rule added by hand
        world.cloud.ec2.authorize_security_group_ingress(
            GroupId=world.cloud.group_id("chef-automate-ha-postgresql"),
            IpPermissions=tcp(5432, "0.0.0.0/0"),
        )
    before = world.cloud.groups()
    for stdin in ("no\n", "yes\n", ""):
        refused = world.hasg(command, "--vpc", world.vpc, stdin=None, input_text=stdin)
        failed_with(
            refused, f"{command} needs confirmation and stdin is not a terminal: pass --yes"
        )
        assert world.cloud.groups() == before
    closed = subprocess.run(
        ["bash", "-c", f'"$0" -m hasg.cli {command} --vpc {world.vpc} <&-', sys.executable],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    failed_with(closed, f"{command} needs confirmation and stdin is not a terminal")
    assert world.cloud.groups() == before
    assert world.hasg(command, "--vpc", world.vpc, "--yes").returncode == 0
    assert world.cloud.groups() != before


def test_aws_region_alone_is_honoured_and_beats_aws_default_region(world: World) -> None:
    """boto3 reads only AWS_DEFAULT_REGION; the AWS CLI v2 and the other SDKs read
    AWS_REGION first. The VPC is in us-east-1: found there, not elsewhere."""
    env = {k: v for k, v in world.env.items() if k != "AWS_DEFAULT_REGION"}
    only_aws_region = world.hasg("plan", "--vpc", world.vpc, env={**env, "AWS_REGION": REGION})
    assert only_aws_region.returncode == 0, only_aws_region.stderr
    both = {**env, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": REGION}
    failed_with(world.hasg("plan", "--vpc", world.vpc, env=both), "not found in eu-west-1")
    flag = world.hasg("plan", "--vpc", world.vpc, "--region", REGION, env=both)
    assert flag.returncode == 0, flag.stderr
    failed_with(world.hasg("plan", "--vpc", world.vpc, env=env), "no AWS region: pass --region")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--vpc", "vpc-0123456789abcdef0", "--jsn"], "unrecognized arguments: --jsn"),
        (["audit"], "one of the arguments --vpc --from --hcl --nft --groups-json is required"),
        (["plan"], "the following arguments are required: --vpc"),
        (["graph", "--format", "png"], "invalid choice: 'png'"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_1_not_the_changes_code(
    world: World, args: list[str], message: str
) -> None:
    """2 means changes pending or drift; a typo must not read as either."""
    failed_with(world.hasg(*args), message)


def test_help_and_version_exit_0(world: World) -> None:
    for args in (["--help"], ["plan", "--help"]):
        shown = world.hasg(*args)
        assert shown.returncode == 0, args
        assert shown.stdout.startswith(f"usage: hasg {' '.join(args[:-1])}".rstrip()), shown.stdout
    # The version the installed package declares (its metadata, from pyproject.toml).
    version = world.hasg("--version")
    assert (version.returncode, version.stdout, version.stderr) == (
        0,
        f"hasg {metadata.version('hasg')}\n",
        "",
    )


@pytest.mark.parametrize(
    "url",
    ["localhost:5055", "http://127.0.0.1:abc", "http://127.0.0.1:99999", "ftp://x", "http://a b"],
)
@pytest.mark.parametrize("where", ["--endpoint-url", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"])
def test_a_malformed_endpoint_url_is_one_line_before_any_call(
    world: World, url: str, where: str
) -> None:
    env = dict(world.env)
    args = ["plan", "--vpc", world.vpc]
    if where == "--endpoint-url":
        args.append(f"--endpoint-url={url}")
    else:
        env[where] = url
    failed_with(world.hasg(*args, env=env), f"{where}: {url!r} is not an endpoint URL")
