"""The agent of `hasg probe`: what runs on each host, for the length of one
SSH session, under the host's own Python 3.

It is never installed: hasg streams this file over the session's stdin
(`hasg.checks.probe.ssh`), and the host's Python runs it from memory. So it
uses only the standard library of Python 3.6, the oldest Python 3 that a
supported host may have (RHEL 8's /usr/libexec/platform-python): no
dataclasses, no `from __future__ import annotations`, no walrus, no
subscripted builtins in annotations (pyproject.toml lints it as Python 3.7,
the oldest ruff knows; tests/probe parse it as 3.6 and run it on 3.6 where
one is installed).

It leaves nothing behind: it writes no file, starts no process, and exits
when its stdin closes (the SSH session ended, or hasg was interrupted), when
stdout is gone, or when its lifetime is up, whichever comes first; its
sockets close with it.

The conversation is one JSON document per line. hasg sends:

    {"listen": {"tcp": [[address, port], ...], "udp": [...],
                "peers": [address, ...], "lifetime": seconds}}
    {"probe": {"timeout": seconds, "probes": [[id, protocol, source, address, port], ...]}}

and the agent answers, first `{"hello": {...}}` (its Python), then

    {"listening": [[protocol, address, port, state, detail], ...]}
    {"results": [[id, outcome, detail], ...]}

A listener's state: "ours" (the agent listens: TCP accept, UDP echo to the
peers only), "service" (another program holds the port: probed as it is),
or "error" (the agent could not bind: no listener). A probe's outcome:
"open" (connected; or an answer to the datagram came back), "refused" (a
TCP reset or ICMP port unreachable), "unreachable" (ICMP host or network
unreachable, or administratively prohibited), "timeout" (nothing came back),
"blocked at source" (the source's own firewall refused to send it: EPERM),
or "error" (anything else, named in the detail).
"""

import collections
import contextlib
import errno
import json
import os
import selectors
import socket
import sys
import time
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

try:
    import resource
except ImportError:  # pragma: no cover - not a Unix
    resource = None  # type: ignore[assignment]

# At most this many probes in flight at once: a blocked probe costs a
# timeout, so they must overlap, but each holds a socket (a file descriptor).
MAX_WINDOW = 4096
# File descriptors kept for the listeners' accepted connections, stdin, etc.
SPARE_DESCRIPTORS = 256
# Until hasg says how long the run may take, the agent lives at most this long.
DEFAULT_LIFETIME = 300.0

_OUTCOMES = {
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTDOWN: "unreachable",
    errno.ENETDOWN: "unreachable",
    # A packet the host's own output chain drops or rejects: the kernel
    # answers the sender with EPERM (netfilter's NF_DROP on local output).
    errno.EPERM: "blocked at source",
    errno.EACCES: "blocked at source",
}


def describe(code: int) -> str:
    """`ECONNREFUSED (Connection refused)`."""
    return f"{errno.errorcode.get(code, str(code))} ({os.strerror(code)})"


def outcome_of(code: int) -> Tuple[str, str]:
    outcome = _OUTCOMES.get(code)
    if outcome is None:
        return "error", describe(code)
    return outcome, ""


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class Probe:
    """One probe in flight."""

    def __init__(self, ident: int, protocol: str, sock: socket.socket, token: bytes) -> None:
        self.ident = ident
        self.protocol = protocol
        self.sock = sock
        self.token = token


class Agent:
    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.end = time.monotonic() + DEFAULT_LIFETIME
        self.inbox = b""
        self.peers: Set[str] = set()
        self.listeners: List[socket.socket] = []
        self.accepted: Set[socket.socket] = set()
        self.window = window_size()
        self.timeout = 2.0
        self.waiting: Deque[List[Any]] = collections.deque()  # probes not started yet
        self.flying: Dict[int, Probe] = {}
        # (when, ident) in the order the probes started, so in time order too:
        # when each times out, and when each UDP probe sends its datagram again.
        self.deadlines: Deque[Tuple[float, int]] = collections.deque()
        self.resends: Deque[Tuple[float, int]] = collections.deque()
        self.results: List[List[Any]] = []
        self.batch = 0
        self.running = True
        self.selector.register(0, selectors.EVENT_READ, ("stdin", None))

    # ----------------------------------------------------------------- the loop

    def run(self) -> None:
        self.say(
            {
                "hello": {
                    "python": ".".join(str(n) for n in sys.version_info[:3]),
                    "executable": sys.executable,
                    "pid": os.getpid(),
                }
            }
        )
        while self.running:
            now = time.monotonic()
            if now >= self.end:
                break
            self.expire(now)
            self.launch()
            wait = min(self.end, self.next_timer(now)) - now
            for key, _ in self.selector.select(max(0.0, min(wait, 1.0))):
                kind, thing = key.data
                if kind == "stdin":
                    self.read_stdin()
                elif kind == "tcp listener":
                    self.accept(thing)
                elif kind == "accepted":
                    self.drain(thing)
                elif kind == "udp listener":
                    self.echo(thing)
                else:
                    self.answer(thing)
        self.close()

    def close(self) -> None:
        for sock in [*self.listeners, *self.accepted]:
            sock.close()
        for probe in self.flying.values():
            probe.sock.close()
        self.selector.close()

    def say(self, document: Dict[str, Any]) -> None:
        data = (json.dumps(document) + "\n").encode()
        try:
            while data:
                data = data[os.write(1, data) :]
        except OSError:  # hasg is gone: nothing to report to
            self.running = False

    def read_stdin(self) -> None:
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if not data:  # the session ended: leave
            self.running = False
            return
        self.inbox += data
        while b"\n" in self.inbox:
            line, self.inbox = self.inbox.split(b"\n", 1)
            if line.strip():
                self.handle(json.loads(line.decode()))

    def handle(self, message: Dict[str, Any]) -> None:
        if "listen" in message:
            self.listen(message["listen"])
        elif "probe" in message:
            request = message["probe"]
            self.timeout = float(request["timeout"])
            self.results = []
            self.batch = len(request["probes"])
            self.waiting.extend(request["probes"])
            if not self.batch:
                self.say({"results": []})

    # ----------------------------------------------------------------- listeners

    def listen(self, request: Dict[str, Any]) -> None:
        self.peers = set(request.get("peers", []))
        if "lifetime" in request:
            self.end = time.monotonic() + float(request["lifetime"])
        states = []
        for protocol in ("tcp", "udp"):
            for address, port in request.get(protocol, []):
                state, detail = self.bind(protocol, address, int(port))
                states.append([protocol, address, port, state, detail])
        self.say({"listening": states})

    def bind(self, protocol: str, address: str, port: int) -> Tuple[str, str]:
        """Listen on a free port only. TCP: SO_REUSEADDR, with which Linux
        binds a port that only connections of the past hold (TIME_WAIT, as a
        stopped service leaves them), never one a socket listens on. UDP:
        not (nor SO_REUSEPORT): with it, Linux lets two UDP sockets share a
        port, and the agent would take datagrams meant for a real service."""
        tcp = protocol == "tcp"
        family = family_of(address)
        sock = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        try:
            if tcp:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
            if tcp:
                sock.listen(256)
        except OSError as failure:
            sock.close()
            code = failure.errno or 0
            if code == errno.EADDRINUSE:
                if tcp and listening(address, port) is False:
                    return "error", "the port is taken, but nothing listens on it (TIME_WAIT)"
                return "service", "the port is in use"
            if code == errno.EADDRNOTAVAIL:
                return "error", f"{address} is not an address of this host"
            if code == errno.EACCES and port < 1024:
                return "error", f"{describe(code)}: ports below 1024 need root"
            return "error", describe(code)
        sock.setblocking(False)
        self.listeners.append(sock)
        kind = "tcp listener" if tcp else "udp listener"
        self.selector.register(sock, selectors.EVENT_READ, (kind, sock))
        return "ours", ""

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        # The prober closes first, so this end leaves no TIME_WAIT on the port.
        if len(self.accepted) >= SPARE_DESCRIPTORS:
            sock.close()
            return
        sock.setblocking(False)
        self.accepted.add(sock)
        self.selector.register(sock, selectors.EVENT_READ, ("accepted", sock))

    def drain(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(sock)
            self.accepted.discard(sock)
            sock.close()

    def echo(self, sock: socket.socket) -> None:
        """Answer a datagram, to the site's own addresses only."""
        for _ in range(64):
            try:
                data, peer = sock.recvfrom(2048)
            except OSError:
                return
            if peer[0] in self.peers:
                with contextlib.suppress(OSError):
                    sock.sendto(data, peer)

    # ----------------------------------------------------------------- probes

    def launch(self) -> None:
        while self.waiting and len(self.flying) < self.window:
            ident, protocol, source, address, port = self.waiting.popleft()
            self.start(int(ident), protocol, source, address, int(port))

    def start(self, ident: int, protocol: str, source: str, address: str, port: int) -> None:
        tcp = protocol == "tcp"
        sock = socket.socket(family_of(address), socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            # From the inventory's own address: the one the policy judges.
            sock.bind((source, 0))
        except OSError as failure:
            sock.close()
            self.finish(ident, "error", f"cannot send from {source}: {failure}")
            return
        token = b"hasg-probe %d" % ident
        code = sock.connect_ex((address, port))
        if not tcp and code == 0:
            code = self.send(sock, token)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.finish(ident, *outcome_of(code))
            return
        probe = Probe(ident, protocol, sock, token)
        now = time.monotonic()
        self.flying[ident] = probe
        self.deadlines.append((now + self.timeout, ident))
        if not tcp:  # a datagram may be lost: it goes once more, half way
            self.resends.append((now + self.timeout / 2, ident))
        event = selectors.EVENT_WRITE if tcp else selectors.EVENT_READ
        self.selector.register(sock, event, ("probe", probe))

    def send(self, sock: socket.socket, token: bytes) -> int:
        try:
            sock.send(token)
        except OSError as failure:
            return failure.errno or errno.EIO
        return 0

    def answer(self, probe: Probe) -> None:
        if probe.protocol == "tcp":
            code = probe.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            # A reset after the handshake (ECONNRESET) still proves it completed.
            if code in (0, errno.ECONNRESET):
                self.done(probe, "open", "")
            else:
                self.done(probe, *outcome_of(code))
            return
        try:
            probe.sock.recv(2048)
        except BlockingIOError:
            return
        except OSError as failure:
            self.done(probe, *outcome_of(failure.errno or errno.EIO))
            return
        # Any answer proves the way there and back: an echo, or the service's own.
        self.done(probe, "open", "")

    def next_timer(self, now: float) -> float:
        timers = [queue[0][0] for queue in (self.deadlines, self.resends) if queue]
        return min(timers, default=now + 1.0)

    def expire(self, now: float) -> None:
        while self.resends and self.resends[0][0] <= now:
            _, ident = self.resends.popleft()
            probe = self.flying.get(ident)
            if probe is not None:
                self.send(probe.sock, probe.token)
        while self.deadlines and self.deadlines[0][0] <= now:
            _, ident = self.deadlines.popleft()
            probe = self.flying.get(ident)
            if probe is not None:
                self.done(probe, "timeout", "")

    def done(self, probe: Probe, outcome: str, detail: str) -> None:
        self.selector.unregister(probe.sock)
        probe.sock.close()
        del self.flying[probe.ident]
        self.finish(probe.ident, outcome, detail)

    def finish(self, ident: int, outcome: str, detail: str) -> None:
        self.results.append([ident, outcome, detail])
        if len(self.results) == self.batch:
            self.say({"results": self.results})
            self.results = []
            self.batch = 0


def listening(address: str, port: int) -> Optional[bool]:
    """Whether a TCP socket listens on `port`, on `address` or on all of the
    family's addresses, by the kernel's table (Linux: /proc/net/tcp, tcp6);
    None where the table cannot be read."""
    family = family_of(address)
    wanted = {socket.inet_pton(family, address), bytes(4 if family == socket.AF_INET else 16)}
    if family == socket.AF_INET:  # a dual-stack listener on :: takes IPv4 too
        wanted.add(bytes(16))
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                rows = [line.split() for line in lines][1:]
        except OSError:
            return None
        for row in rows:
            local, state = row[1], row[3]
            host, _, hex_port = local.partition(":")
            # The kernel prints each 32-bit word of the address as a number
            # in the host's byte order.
            raw = bytes.fromhex(host)
            if sys.byteorder == "little":
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found = found or (state == "0A" and int(hex_port, 16) == port and raw in wanted)
    return found


def window_size() -> int:
    """As many probes at once as file descriptors allow: the soft limit is
    raised to the hard one (a process may), up to what MAX_WINDOW needs."""
    limit = 1024
    if resource is not None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = MAX_WINDOW + 2 * SPARE_DESCRIPTORS
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError):
                pass
        limit = wanted if soft == resource.RLIM_INFINITY else soft
    return max(16, min(MAX_WINDOW, limit - 2 * SPARE_DESCRIPTORS))


def main() -> None:
    Agent().run()


if __name__ == "__main__":
    main()
