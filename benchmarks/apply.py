"""Benchmark: EC2 API calls and wall time of `hasg apply` for the built-in policy.

    python benchmarks/apply.py                  # 50 ms per request, print a table
    python benchmarks/apply.py --write-docs     # and put it in docs/benchmarks.md

A moto server (a subprocess, so that its work does not share this process's
interpreter) sits behind a small HTTP proxy that holds every request for a
fixed latency, as a far-away AWS region would, and counts the requests on the
wire, retries included. Measured: a fresh apply, a no-op apply, the repair of
one rule removed by hand, and a baseline that creates the same groups and
rules with one call per rule, as Terraform's per-rule resources do
(parallelism 10, Terraform's default; Terraform's reads after each create are
not counted, so the baseline is a lower bound).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3

import hasg
from hasg.backends.aws import apply
from hasg.backends.aws.permissions import to_ip_permissions
from hasg.core.blueprint import Blueprint
from hasg.core.transforms import resolve_vpc_peers

MUTATING_PREFIXES = ("Create", "Delete", "Authorize", "Revoke", "Update", "Modify")
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTION = "## AWS apply"
REGION = "us-east-1"
# What a fault hook may answer for a request: drop it before it reaches EC2,
# or forward it and drop the answer.
DROP_BEFORE = "drop-before"
DROP_AFTER = "drop-after"
Fault = Callable[[str, bytes], str | None]


class LatencyProxy:
    """An HTTP proxy on 127.0.0.1: each request waits `latency` seconds, then goes
    to `upstream`. It counts requests by EC2 Action; `fault(action, body)` may drop one."""

    def __init__(self, upstream: str, latency: float = 0.0, fault: Fault | None = None) -> None:
        self.upstream = urlparse(upstream)
        self.latency = latency
        self.fault = fault
        self.actions: list[str] = []
        # When each request of `actions` came in and when its answer left.
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[str]:
        """The actions requested since the last take."""
        with self._lock:
            actions, self.actions, self.spans = self.actions, [], []
        return actions

    def waves(self) -> int:
        """The round trips on the wire since the last take: a request is in the
        wave after the latest wave of the requests answered before it came in.
        Unlike wall time over latency, this does not grow with the machine's load."""
        with self._lock:
            spans = sorted(self.spans)
        wave_of: list[int] = []
        for start, _ in spans:
            done = zip(spans, wave_of, strict=False)
            wave_of.append(max((w for (_, end), w in done if end <= start), default=-1) + 1)
        return max(wave_of, default=-1) + 1

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        start = time.monotonic()
        with self._lock:
            self.actions.append(action)
            decision = self.fault(action, body) if self.fault else None
        try:
            self._answer(request, body, decision)
        finally:
            with self._lock:
                self.spans.append((start, time.monotonic()))

    def _answer(self, request: BaseHTTPRequestHandler, body: bytes, decision: str | None) -> None:
        time.sleep(self.latency)
        if decision == DROP_BEFORE:
            request.close_connection = True
            return
        status, headers, data = self._forward(request, body)
        if decision == DROP_AFTER:
            request.close_connection = True
            return
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _forward(
        self, request: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
        for attempt in range(2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                host, port = self.upstream.hostname or "127.0.0.1", self.upstream.port or 80
                connection = http.client.HTTPConnection(host, port, timeout=30)
                self._local.connection = connection
            try:
                connection.request(request.command, request.path, body, headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            except (http.client.HTTPException, OSError):
                # The upstream closed an idle keep-alive connection: open a new one.
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm the body would
    # wait for the client's delayed ACK, 40 ms on Linux, on every response.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.server.proxy.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a subprocess on a free loopback port; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/moto-api/")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Run:
    name: str
    calls: int
    mutating: int
    seconds: float
    waves: int


def is_mutating(action: str) -> bool:
    return action.startswith(MUTATING_PREFIXES)


def timed(
    proxy: LatencyProxy,
    name: str,
    action: Callable[[], object],
    repeat: int,
    prepare: Callable[[], object] = lambda: None,
) -> Run:
    """The median wall time of `repeat` runs of `action` (not of `prepare`), and
    the calls of the last run."""
    times, calls, waves = [], [], 0
    for _ in range(repeat):
        prepare()
        proxy.take()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
        waves = proxy.waves()
        calls = proxy.take()
    return Run(name, len(calls), sum(map(is_mutating, calls)), statistics.median(times), waves)


def one_call_per_rule(client: Any, blueprint: Blueprint, vpc_id: str, cidr: str) -> None:
    """The baseline: each group, default-egress revoke and rule is a call of its own."""
    desired = resolve_vpc_peers(blueprint, cidr)

    def create(group: Any) -> str:
        return str(
            client.create_security_group(
                GroupName=group.name, Description=group.description, VpcId=vpc_id
            )["GroupId"]
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = dict(zip(desired.roles, pool.map(create, desired.groups), strict=True))
        calls: list[Callable[[], object]] = []
        everywhere = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        for group in desired:
            group_id = ids[group.role]
            calls.append(
                lambda g=group_id: client.revoke_security_group_egress(
                    GroupId=g, IpPermissions=everywhere
                )
            )
            for rule in group.rules:
                method = (
                    client.authorize_security_group_ingress
                    if rule.direction == "ingress"
                    else client.authorize_security_group_egress
                )
                permissions = to_ip_permissions([rule], ids)
                calls.append(
                    lambda m=method, g=group_id, p=permissions: m(GroupId=g, IpPermissions=p)
                )
        list(pool.map(lambda call: call(), calls))


def measure(moto_url: str, latency: float, repeat: int = 3) -> dict[str, Any]:
    """Every scenario, `repeat` times each; the medians and the call counts."""
    policy = hasg.chef_automate_ha()
    blueprint = hasg.compile_policy(policy)
    restricting = hasg.compile_policy(policy.model_copy(update={"restrict_default_group": True}))
    setup = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    with LatencyProxy(moto_url, latency) as proxy:
        session = boto3.session.Session(region_name=REGION)
        via_proxy = session.client("ec2", endpoint_url=proxy.url)

        def new_vpc() -> str:
            return str(setup.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"])

        vpcs: list[str] = []

        def next_vpc() -> None:
            vpcs.append(new_vpc())

        def run_apply(wanted: Blueprint = blueprint) -> object:
            return apply(wanted, vpc_id=vpcs[-1], session=session, endpoint_url=proxy.url)

        def run_restricting_apply() -> object:
            return run_apply(restricting)

        def remove_one_rule() -> None:
            groups = setup.describe_security_groups(
                Filters=[{"Name": "vpc-id", "Values": [vpcs[-1]]}]
            )["SecurityGroups"]
            bastion = next(g for g in groups if g["GroupName"] == "chef-automate-ha-bastion")
            setup.revoke_security_group_egress(
                GroupId=bastion["GroupId"],
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                ],
            )

        def baseline() -> None:
            one_call_per_rule(via_proxy, blueprint, vpcs[-1], "10.50.0.0/16")

        next_vpc()
        run_apply()  # warm-up: imports, connections
        runs = [
            timed(proxy, "fresh apply", run_apply, repeat, prepare=next_vpc),
            timed(proxy, "no-op apply", run_apply, repeat),
            timed(proxy, "one-rule drift repair", run_apply, repeat, prepare=remove_one_rule),
            timed(
                proxy,
                "fresh apply, restrict_default_group",
                run_restricting_apply,
                repeat,
                prepare=next_vpc,
            ),
            timed(proxy, "no-op apply, restrict_default_group", run_restricting_apply, repeat),
            timed(proxy, "baseline: one call per rule", baseline, repeat, prepare=next_vpc),
        ]
    return {
        "latency": latency,
        "groups": len(blueprint.groups),
        "rules": blueprint.rule_count(),
        "repeat": repeat,
        "moto": importlib.metadata.version("moto"),
        "runs": runs,
    }


def round_trips(run: Run, latency: float) -> float:
    """The run's wall time in units of the added latency."""
    return run.seconds / latency if latency else 0.0


def verdicts(results: dict[str, Any]) -> list[tuple[str, bool]]:
    """Issue 11's targets: a no-op apply is one round trip of two reads and no
    change; a fresh apply adds at most three, in at most 4 calls per group + 2.
    Round trips are counted on the wire (`LatencyProxy.waves`)."""
    runs = {run.name: run for run in results["runs"]}
    fresh, noop = runs["fresh apply"], runs["no-op apply"]
    groups = results["groups"]
    restricting = runs["no-op apply, restrict_default_group"]
    return [
        (
            f"no-op apply: {noop.calls} calls == 2, {noop.mutating} mutating == 0, "
            f"{noop.waves} round trip == 1",
            (noop.calls, noop.mutating, noop.waves) == (2, 0, 1),
        ),
        (
            f"fresh apply: {fresh.calls} calls <= 4 x {groups} groups + 2 = {4 * groups + 2}",
            fresh.calls <= 4 * groups + 2,
        ),
        (
            f"fresh apply - no-op apply: {fresh.waves - noop.waves} round trips <= 3",
            fresh.waves - noop.waves <= 3,
        ),
        (
            f"no-op apply, restrict_default_group: {restricting.calls} calls == 2, "
            f"{restricting.waves} round trip == 1",
            (restricting.calls, restricting.mutating, restricting.waves) == (2, 0, 1),
        ),
    ]


def report(results: dict[str, Any]) -> str:
    latency_ms = results["latency"] * 1000
    lines = [
        SECTION,
        "",
        f"`python benchmarks/apply.py`: the built-in policy ({results['groups']} groups, "
        f"{results['rules']} rules) against a local moto {results['moto']} server behind a "
        f"proxy that adds {latency_ms:.0f} ms to every request, on a machine with "
        f"{os.cpu_count()} cores; median of {results['repeat']} runs; calls counted on the wire. "
        "Round trips on the wire: the proxy notes when each request comes in and when "
        "its answer leaves; a request that came in after another was answered is a round "
        "trip later. Wall time / latency counts the same round trips plus moto's and "
        "Python's work, which grows with the machine's load.",
        "",
        "| scenario | API calls | mutating | round trips on the wire | wall time "
        "| wall time / latency |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in results["runs"]:
        trips = round_trips(run, results["latency"])
        lines.append(
            f"| {run.name} | {run.calls} | {run.mutating} | {run.waves} "
            f"| {run.seconds * 1000:.0f} ms | {trips:.1f} |"
        )
    lines += [
        "",
        "A no-op apply is one wave of two reads at once: DescribeVpcs and one "
        "DescribeSecurityGroups of every group in the VPC, which holds hasg's groups, any "
        "stranger's group with a name hasg is about to create (it stops the apply before "
        "any change) and the VPC's default group. A fresh apply adds three waves: the "
        "CreateSecurityGroup calls, at once; then, at once, per group and direction, one "
        "authorize for all its rules and one revoke of AWS's default egress; last, one "
        "DescribeSecurityGroups that reads the groups back (another writer at work is an "
        'error, not a success: docs/aws.md, "Concurrent applies"). '
        "With restrict_default_group the default group's revokes (one per direction) go "
        "in the wave of the other revokes, and a no-op apply stays two reads: the read of "
        "the VPC's groups already holds the default group. "
        "The baseline runs ten calls at a time, as Terraform does by default, and does not "
        "count the read Terraform makes after creating each rule.",
        "",
        "Targets:",
        "",
    ]
    lines += [f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in verdicts(results)]
    return "\n".join(lines) + "\n"


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace this benchmark's section of docs/benchmarks.md, keeping the others."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help=f"update {SECTION!r} in {DOCS}")
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ACCESS_KEY_ID="benchmark", AWS_SECRET_ACCESS_KEY="benchmark")
    with moto_server() as url:
        results = measure(url, args.latency_ms / 1000, args.repeat)
    section = report(results)
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0 if all(ok for _, ok in verdicts(results)) else 1


if __name__ == "__main__":
    sys.exit(main())
