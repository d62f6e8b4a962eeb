"""The agent as it runs on a host: started by the same bootstrap, on Python
3.6 and on this Python, over loopback only. It listens only on free ports,
answers, probes, and leaves nothing when its stdin ends or its time is up."""

from __future__ import annotations

import ast
import contextlib
import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hasg.checks.probe import ssh
from hasg.hosts.inventory import Host
from tests.probe.conftest import python36

LOOPBACK = "127.0.0.1"


@pytest.fixture(params=["python3.6", "this python"])
def python(request: pytest.FixtureRequest) -> str:
    return python36() if request.param == "python3.6" else sys.executable


class Agent:
    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, *ssh.PYTHON_FLAGS, "-c", ssh.BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.send_bytes(ssh.agent_payload())
        self.hello = self.read()["hello"]

    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def ask(self, document: dict[str, Any]) -> dict[str, Any]:
        self.send_bytes((json.dumps(document) + "\n").encode())
        return self.read()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read() if self.process.stderr else ""
        answer: dict[str, Any] = json.loads(line)
        return answer

    def listen(self, tcp: list[int], udp: list[int], **extra: object) -> list[list[Any]]:
        request = {
            "tcp": [[LOOPBACK, p] for p in tcp],
            "udp": [[LOOPBACK, p] for p in udp],
            "peers": [LOOPBACK],
            **extra,
        }
        listening: list[list[Any]] = self.ask({"listen": request})["listening"]
        return listening

    def probe(self, *probes: tuple[str, int]) -> dict[int, str]:
        request = [[n, proto, LOOPBACK, LOOPBACK, port] for n, (proto, port) in enumerate(probes)]
        answer = self.ask({"probe": {"timeout": 1.0, "probes": request}})["results"]
        return {ident: outcome for ident, outcome, _ in answer}

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=5)


@contextlib.contextmanager
def agent(python: str) -> Iterator[Agent]:
    running = Agent(python)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait()


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now, for TCP and UDP (the kernel's pick)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        found.append(port)
    return found


def tcp_listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) == 0


def test_the_agent_is_python_3_6_source() -> None:
    source = ssh.AGENT.read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 6))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"dataclasses", "__future__", "hasg"}
    assert all(name in sys.stdlib_module_names for name in imported), imported


def test_it_listens_probes_answers_and_leaves_with_stdin(python: str) -> None:
    tcp, udp, closed = free_ports(3)
    with agent(python) as running:
        assert running.hello["python"].startswith("3.6." if python != sys.executable else "3.")
        assert running.listen([tcp], [udp]) == [
            ["tcp", LOOPBACK, tcp, "ours", ""],
            ["udp", LOOPBACK, udp, "ours", ""],
        ]
        outcomes = running.probe(("tcp", tcp), ("udp", udp), ("tcp", closed), ("udp", closed))
        assert outcomes == {0: "open", 1: "open", 2: "refused", 3: "refused"}
        assert tcp_listening(tcp)
        assert running.close() == 0
    assert not tcp_listening(tcp)


def test_it_never_takes_a_port_a_program_holds(python: str) -> None:
    tcp, udp = free_ports(2)
    with socket.socket() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagrams:
        server.bind((LOOPBACK, tcp))
        server.listen()
        # A UDP socket with SO_REUSEADDR would share its port with another that
        # sets it too; the agent does not, so it is refused.
        datagrams.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        datagrams.bind((LOOPBACK, udp))
        with agent(python) as running:
            states = running.listen([tcp], [udp])
            assert [s[3] for s in states] == ["service", "service"]
            assert running.probe(("tcp", tcp)) == {0: "open"}  # the program's own answer
            running.close()


def test_connections_of_the_past_are_not_a_service(python: str) -> None:
    """A port only TIME_WAIT holds (a server that closed first, without
    SO_REUSEADDR) has no listener: the agent says so instead of calling it a service."""
    (port,) = free_ports(1)
    with socket.socket() as server:
        server.bind((LOOPBACK, port))
        server.listen()
        client = socket.create_connection((LOOPBACK, port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: TIME_WAIT on the port
        time.sleep(0.1)
        client.close()
    with agent(python) as running:
        ((_, _, _, state, detail),) = running.listen([port], [])
        running.close()
    assert (state, detail) == ("error", "the port is taken, but nothing listens on it (TIME_WAIT)")


def test_udp_echoes_go_only_to_the_sites_addresses(python: str) -> None:
    (udp,) = free_ports(1)
    with agent(python) as running:
        running.ask({"listen": {"udp": [[LOOPBACK, udp]], "peers": ["127.0.0.2"]}})
        assert running.probe(("udp", udp)) == {0: "timeout"}
        running.close()


def test_it_leaves_when_its_lifetime_is_up_though_stdin_stays_open(python: str) -> None:
    (tcp,) = free_ports(1)
    with agent(python) as running:
        running.listen([tcp], [], lifetime=0.5)
        assert running.process.wait(timeout=5) == 0
        assert not tcp_listening(tcp)


def test_the_local_shell_command_finds_no_python_and_says_so(tmp_path: object) -> None:
    """The remote command, run by a local /bin/sh with nothing on PATH."""
    done = subprocess.run(
        ["/bin/sh", "-c", ssh.remote_command()],
        env={"PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        input="",
    )
    assert done.returncode == ssh.NO_PYTHON_EXIT
    assert done.stderr.strip() == ssh.NO_PYTHON
    assert ssh.explain(done.returncode, done.stderr, False) == (
        "no Python 3 on this host (looked for python3, /usr/libexec/platform-python)"
    )


def test_the_local_shell_command_starts_the_agent_with_python3() -> None:
    process = subprocess.Popen(
        ["/bin/sh", "-c", ssh.remote_command()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    out, _ = process.communicate(ssh.agent_payload(), timeout=10)
    assert json.loads(out.splitlines()[0])["hello"]["python"].startswith("3.")
    assert process.returncode == 0


def test_what_a_login_shell_prints_before_the_agent_is_passed_over() -> None:
    """A start-up file that prints (`echo Welcome` in .bashrc) comes before
    the agent's first line; it is not the agent speaking."""
    command = ["/bin/sh", "-c", f"echo 'Welcome to host 7'; {ssh.remote_command()}"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    host = Host("automate", (ipaddress.ip_address("127.0.0.1"),))
    session = ssh.Session(host, process, local=False)
    assert process.stdin is not None
    process.stdin.write(ssh.agent_payload())
    process.stdin.flush()
    try:
        ssh.wait_for([session], "hello", 10)
    finally:
        ssh.stop([session])
    assert session.failure is None
    assert session.said("hello") is not None
