"""Reaching the hosts: one session per host, each running the agent.

A host is reached with the system's OpenSSH client, as its user would reach
it: `BatchMode` (no prompt: a key or an agent, never a password typed into
hasg), `StrictHostKeyChecking=yes` against the user's known_hosts (or
`--known-hosts FILE`), never adding or updating a key there. The host this
command runs on (the bastion, usually: one of its inventory addresses is
local) runs the agent as a local process instead; nothing about it differs.

Nothing is installed on a host. The remote command finds the host's Python
3 (`python3`, else RHEL 8's `/usr/libexec/platform-python`) and starts it
with a one-line bootstrap (`-c`) that reads the agent's source from stdin,
compressed, as one line, and runs it from memory; stdin then stays the
conversation with hasg, and its end (the session closing, hasg gone) ends
the agent. `python3 -` would read its program up to the end of stdin, and
leave no way to talk to it, or to tell it to leave. `-I` keeps the user's
environment and directories out of the agent's imports, `-B` keeps Python
from writing bytecode caches: no file is left.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import shlex
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hasg.errors import UsageError
from hasg.hosts.inventory import Host

AGENT = Path(__file__).with_name("agent.py")
# Where the agent may find a Python 3, in this order (RHEL 8 has no python3
# unless installed, but always its platform-python).
PYTHONS = ("python3", "/usr/libexec/platform-python")
NO_PYTHON_EXIT = 127  # as a shell reports a command it cannot find
NO_PYTHON = f"hasg probe: no Python 3 on this host (looked for {', '.join(PYTHONS)})"
TOO_OLD = "hasg probe: Python 3.6 or newer is needed, this is"
# Runs on Python 3.6 (a `-c` of one line: no shell quoting across lines).
BOOTSTRAP = (
    "import sys,zlib,base64;"
    f"sys.version_info<(3,6) and sys.exit('{TOO_OLD} '+sys.version.split()[0]);"
    "exec(compile(zlib.decompress(base64.b64decode(sys.stdin.buffer.raw.readline())),"
    "'hasg-probe-agent','exec'))"
)
PYTHON_FLAGS = ("-I", "-B")
# OpenSSH's exit status when ssh itself failed (connection, authentication, host key).
SSH_FAILED = 255


@dataclass(frozen=True)
class Access:
    """How hasg reaches the hosts: what `ssh` is told (None: ssh's own default)."""

    user: str | None = None
    key_file: str | None = None
    port: int = 22
    known_hosts: str | None = None
    connect_timeout: int = 10

    def ssh_command(self, address: str) -> list[str]:
        command = ["ssh", "-T"]
        for option in (
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UpdateHostKeys=no",  # never write to known_hosts
            f"ConnectTimeout={self.connect_timeout}",
            "ServerAliveInterval=5",
            "ServerAliveCountMax=3",
            "ControlMaster=no",  # never leave a master connection behind
            "ClearAllForwardings=yes",
            "ForwardAgent=no",
            "ForwardX11=no",
            "PermitLocalCommand=no",
            "LogLevel=ERROR",
        ):
            command += ["-o", option]
        command += ["-p", str(self.port)]
        if self.known_hosts is not None:
            command += ["-o", f"UserKnownHostsFile={ssh_path(self.known_hosts)}"]
        if self.user is not None:
            command += ["-l", self.user]
        if self.key_file is not None:
            command += ["-i", ssh_path(self.key_file), "-o", "IdentitiesOnly=yes"]
        return [*command, "--", address, remote_command()]


def ssh_path(path: str) -> str:
    """A path as ssh reads a file option: `%` and `${` are its tokens, and
    whitespace separates several files unless quoted."""
    if '"' in path or "${" in path:
        raise UsageError(f'{path}: ssh cannot be given a path with " or ${{ in it')
    escaped = path.replace("%", "%%")
    return f'"{escaped}"' if any(c.isspace() for c in escaped) else escaped


def remote_command() -> str:
    """What the host's shell runs: the first Python 3 found, with the
    bootstrap; else a line saying none was found. Run by /bin/sh whatever
    the login shell is."""
    bootstrap = shlex.join(PYTHON_FLAGS) + " -c " + shlex.quote(BOOTSTRAP)
    script = (
        f"for p in {' '.join(PYTHONS)}; do "
        f'if command -v "$p" >/dev/null 2>&1; then exec "$p" {bootstrap}; fi; done; '
        f"echo {shlex.quote(NO_PYTHON)} >&2; exit {NO_PYTHON_EXIT}"
    )
    return "/bin/sh -c " + shlex.quote(script)


def agent_payload() -> bytes:
    """The agent's source as the bootstrap reads it: one line."""
    return base64.b64encode(zlib.compress(AGENT.read_bytes(), 9)) + b"\n"


def is_local(host: Host) -> bool:
    """Whether `host` is the machine hasg runs on: one of its addresses is
    local here. The kernel sends to a local address from that address itself
    (its local route); to any other, from an address of its own. A UDP
    connect sends nothing; binding would not tell, where ip_nonlocal_bind
    lets any address be bound."""
    for address in host.addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((str(address), 9))
            except OSError:
                continue
            if sock.getsockname()[0] == str(address):
                return True
    return False


@dataclass
class Session:
    """One host's agent, and what it has said so far."""

    host: Host
    process: subprocess.Popen[bytes]
    local: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""
    ended: set[int] = field(default_factory=set)  # the streams (fds) that reached their end
    failure: str | None = None

    @property
    def gone(self) -> bool:
        """Both its stdout and stderr ended: it will say no more."""
        return len(self.ended) == 2

    def send(self, document: Mapping[str, Any]) -> None:
        if self.failure is not None or self.process.stdin is None:
            return
        try:
            self.process.stdin.write((json.dumps(document) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            self.fail_from_exit()

    def said(self, key: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if key in m), None)

    def fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message

    def fail_from_exit(self) -> None:
        """Why the session ended before the agent was done."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        stream = self.process.stderr
        if code is not None and stream is not None and stream.fileno() not in self.ended:
            self.stderr += stream.read()
        self.fail(explain(code, self.stderr.decode(errors="replace"), self.local))


def explain(code: int | None, stderr: str, local: bool) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = "; ".join(lines[-3:])
    if any(NO_PYTHON in line for line in lines):
        return NO_PYTHON.removeprefix("hasg probe: ")
    if any(TOO_OLD in line for line in lines):
        return next(line for line in lines if TOO_OLD in line).removeprefix("hasg probe: ")
    if not local and code == SSH_FAILED:
        if "Host key verification failed" in stderr:
            return (
                "SSH refused: its host key is not in known_hosts, or differs from the one "
                f"there ({said}); check the key's fingerprint with the host's owner, then "
                "add it (ssh-keyscan)"
            )
        return f"SSH failed: {said or 'no reason given'}"
    return f"the agent stopped (exit {code}){': ' + said if said else ''}"


def start(hosts: Sequence[Host], access: Access) -> list[Session]:
    """A session per host, all started at once; each is sent the agent."""
    payload = agent_payload()
    sessions: list[Session] = []
    for host in hosts:
        local = is_local(host)
        command = (
            [sys.executable, *PYTHON_FLAGS, "-c", BOOTSTRAP]
            if local
            else access.ssh_command(str(host.addresses[0]))
        )
        try:
            # A session of its own: a Ctrl-C reaches hasg alone, which then
            # ends every session in order (`stop`).
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            stop(sessions)
            raise UsageError(f"cannot run {command[0]}: {error.strerror}") from None
        session = Session(host, process, local)
        sessions.append(session)
        assert process.stdin is not None
        try:
            process.stdin.write(payload)
            process.stdin.flush()
        except OSError:
            session.fail_from_exit()
    return sessions


def wait_for(sessions: Iterable[Session], key: str, seconds: float) -> None:
    """Read every session until each has said `key`, ended, or `seconds` passed."""

    def waiting(session: Session) -> bool:
        return session.failure is None and session.said(key) is None and not session.gone

    selector = selectors.DefaultSelector()
    for session in sessions:
        for stream in (session.process.stdout, session.process.stderr):
            if waiting(session) and stream is not None and stream.fileno() not in session.ended:
                selector.register(stream, selectors.EVENT_READ, session)
    end = time.monotonic() + seconds
    try:
        while any(waiting(s) for s in sessions):
            left = end - time.monotonic()
            if left <= 0:
                break
            for selected, _ in selector.select(left):
                _read(selected.data, selected.fileobj, selector)
    finally:
        selector.close()
    for session in sessions:
        if session.failure is None and session.said(key) is None:
            if session.gone:
                session.fail_from_exit()
            else:
                session.fail(f"no answer within {seconds:.0f} s")


def _read(session: Session, stream: Any, selector: selectors.BaseSelector) -> None:
    data = os.read(stream.fileno(), 1 << 16)
    if not data:
        selector.unregister(stream)
        session.ended.add(stream.fileno())
        return
    if stream is session.process.stderr:
        session.stderr += data
        return
    session.stdout += data
    while b"\n" in session.stdout:
        line, session.stdout = session.stdout.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict):
            session.messages.append(message)
        elif session.messages:
            session.fail(f"the agent said something hasg cannot read: {line[:200]!r}")
        # Before the agent's hello: what the login shell's start-up files print.


def stop(sessions: Iterable[Session], grace: float = 3.0) -> None:
    """End every session: close its pipes (the agent leaves when its stdin
    ends, and a write to a closed stdout fails), give each a moment to close
    its connection, then terminate what still runs."""
    sessions = list(sessions)
    for session in sessions:
        for stream in (session.process.stdin, session.process.stdout, session.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    end = time.monotonic() + grace
    for session in sessions:
        try:
            session.process.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            session.process.terminate()
            try:
                session.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                session.process.kill()
                session.process.wait()
