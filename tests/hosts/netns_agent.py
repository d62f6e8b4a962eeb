"""Runs inside a test network namespace (`ip netns exec NS python netns_agent.py ...`).

    serve TCP_PORTS UDP_PORTS   listen on every port (IPv4 and IPv6), say "ready",
                                answer until stdin closes (the test ends)
    probe [TIMEOUT [SPORT]]     read [[id, protocol, address, port], ...] on stdin,
                                try them all at once, print {id: outcome}; wait
                                TIMEOUT seconds (default PROBE_TIMEOUT) for answers;
                                send from source port SPORT (default: the kernel's
                                choice, an ephemeral port)

Outcomes: "open" (connected, or the UDP echo came back), "refused" (the host
answered with a RST or ICMP port unreachable: the firewall let it through),
"timeout" (nothing came back: dropped on the way), "dropped" (the prober's
own output chain refused to send it: EPERM). Standard library only, so that it runs
with whatever Python the namespace has.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import sys
import time

# Seconds. A first packet that waits for neighbour resolution can be lost,
# and TCP sends the SYN again after 1 s: this waits for that once.
PROBE_TIMEOUT = 1.5


def serve(tcp_ports: list[int], udp_ports: list[int]) -> None:
    selector = selectors.DefaultSelector()
    for kind, ports in ((socket.SOCK_STREAM, tcp_ports), (socket.SOCK_DGRAM, udp_ports)):
        for port in ports:
            sock = socket.socket(socket.AF_INET6, kind)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::", port))
            if kind == socket.SOCK_STREAM:
                sock.listen(256)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, kind)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data is None:
                if not sys.stdin.readline():
                    return
                continue
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                if key.data == socket.SOCK_STREAM:
                    sock.accept()[0].close()
                else:
                    data, peer = sock.recvfrom(512)
                    sock.sendto(data, peer)
            except OSError:
                continue


def probe(
    targets: list[list[object]], timeout: float = PROBE_TIMEOUT, source_port: int = 0
) -> dict[str, str]:
    selector = selectors.DefaultSelector()
    outcome: dict[str, str] = {}
    for ident, protocol, address, port in targets:
        family = socket.AF_INET6 if ":" in str(address) else socket.AF_INET
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(family, kind)
        if source_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
        sock.setblocking(False)
        code = sock.connect_ex((str(address), int(str(port))))
        if kind == socket.SOCK_DGRAM and code == 0:
            try:
                sock.send(str(ident).encode())
            except OSError as failure:
                code = failure.errno or -1
        if code in (0, errno.EINPROGRESS):
            event = selectors.EVENT_READ if kind == socket.SOCK_DGRAM else selectors.EVENT_WRITE
            selector.register(sock, event, (ident, kind))
        else:
            outcome[str(ident)] = (
                "dropped" if code == errno.EPERM else errno.errorcode.get(code, str(code))
            )
            sock.close()
    deadline = time.monotonic() + timeout
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            ident, kind = key.data
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if kind == socket.SOCK_STREAM:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            else:
                try:
                    sock.recv(512)
                    error = 0
                except OSError as failure:
                    error = failure.errno or -1
            outcome[str(ident)] = (
                "open" if error == 0 else "refused" if error == errno.ECONNREFUSED else str(error)
            )
            selector.unregister(sock)
            sock.close()
    for key in list(selector.get_map().values()):
        outcome[str(key.data[0])] = "timeout"
        key.fileobj.close()  # type: ignore[union-attr]
    return outcome


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(json.loads(sys.argv[2]), json.loads(sys.argv[3]))
    else:
        timeout = float(sys.argv[2]) if len(sys.argv) > 2 else PROBE_TIMEOUT
        source_port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
        print(json.dumps(probe(json.load(sys.stdin), timeout, source_port)))
