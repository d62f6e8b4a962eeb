"""A throwaway network of hosts: one network namespace per host, one more
holding a bridge, veth pairs between them. Real kernels, real nft.

Nothing here touches the root namespace: every link is created from inside
the bridge's namespace (`ip -n`), with its peer moved straight into the
host's namespace. Hosts have no default route. Everything is removed on
exit, listeners first (a namespace lives as long as a process in it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hasg.core.blueprint import Blueprint
from hasg.hosts.inventory import Host, Inventory
from tests import guard
from tests.hosts.netns_agent import PROBE_TIMEOUT

AGENT = Path(__file__).with_name("netns_agent.py")
# (host name, protocol, address, port): one probe from a host to another.
Probe = tuple[str, str, str, int]

# Seconds a probe waits for answers once neighbours are pinned: across one
# bridge an answer takes milliseconds, a UDP echo's listener under load
# included (the evaluator's packet test passed 4 runs of 4 with three
# CPU-bound processes on two cores).
PINNED_PROBE_TIMEOUT = 0.5

# Ports the Chef policy never names, probed to show that nothing else opens.
NEVER_NAMED = (("tcp", 3306), ("tcp", 8080), ("tcp", 9639), ("udp", 53), ("udp", 9631))


# The Debian package of each tool a lab test may need (.ci/install-tools installs them).
PACKAGES = {
    "ip": "iproute2",
    "nft": "nftables",
    "conntrack": "conntrack",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def missing_capability(*tools: str) -> str | None:
    """Why this machine cannot build a lab (with `tools` too), or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces and nft need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    for tool in ("ip", "nft", "conntrack", *tools):
        # sshd lives in /usr/sbin, which a user's PATH may lack.
        if shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None:
            return f"`{tool}` is not installed (apt-get install {PACKAGES[tool]})"
    name = f"hasgcheck{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def require_lab(*tools: str) -> None:
    """Skip where a lab (with `tools` too) cannot be built, but never in CI:
    there it must run."""
    require(missing_capability(*tools))


def require(reason: str | None, what: str = "the packet test") -> None:
    """Skip for `reason` (None: nothing missing), or with CI=true fail, through
    the suite's one guard (tests/guard.py)."""
    guard.require(None if reason is None else f"{what} cannot run: {reason}")


def run(*command: str, stdin: str | None = None) -> str:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Lab:
    """Hosts on one bridge; `prefixes` are the on-link prefix length per family."""

    hosts: Sequence[Host]
    prefixes: Mapping[int, int] = field(default_factory=lambda: {4: 24, 6: 64})
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    listeners: list[subprocess.Popen[str]] = field(default_factory=list)
    # How long a probe waits for answers (pin_neighbours shortens it).
    probe_timeout: float = PROBE_TIMEOUT

    def namespace(self, host: Host) -> str:
        return f"hasg{self.token}h{self.hosts.index(host)}"

    @property
    def switch(self) -> str:
        return f"hasg{self.token}br"

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _build(self) -> None:
        for name in (self.switch, *map(self.namespace, self.hosts)):
            run("ip", "netns", "add", name)
            self.namespaces.append(name)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        for index, host in enumerate(self.hosts):
            namespace = self.namespace(host)
            port = f"p{index}"
            run(
                "ip", "-n", self.switch, "link", "add", port, "type", "veth",
                "peer", "name", "eth0", "netns", namespace,
            )  # fmt: skip
            run("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
            for address in host.addresses:
                extra = ["nodad"] if address.version == 6 else []
                cidr = f"{address}/{self.prefixes[address.version]}"
                run("ip", "-n", namespace, "addr", "add", cidr, "dev", "eth0", *extra)
            run("ip", "-n", namespace, "link", "set", "lo", "up")
            run("ip", "-n", namespace, "link", "set", "eth0", "up")

    def __exit__(self, *_: object) -> None:
        for listener in self.listeners:
            listener.kill()
            listener.wait()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces.clear()

    def pin_neighbours(self) -> None:
        """Permanent neighbour entries between every two hosts, both families:
        a probe then depends on its own packets only, not on whether ARP or
        neighbour discovery got through before (the host audit tries neighbour
        discovery itself, as ICMPv6 133-136). With no first packet waiting for
        resolution, nothing but a firewall loses one, so there is no retransmission
        to wait for: probes wait PINNED_PROBE_TIMEOUT, not the agent's longer default."""
        self.probe_timeout = PINNED_PROBE_TIMEOUT
        macs = {
            host: json.loads(self.exec(host, "ip", "-j", "link", "show", "eth0"))[0]["address"]
            for host in self.hosts
        }
        for host in self.hosts:
            for other in self.hosts:
                if other == host:
                    continue
                for address in other.addresses:
                    self.exec(
                        host, "ip", "neigh", "replace", str(address), "lladdr", macs[other],
                        "dev", "eth0", "nud", "permanent",
                    )  # fmt: skip

    def exec(self, host: Host, *command: str, stdin: str | None = None) -> str:
        return run("ip", "netns", "exec", self.namespace(host), *command, stdin=stdin)

    def load(self, host: Host, ruleset_file: Path) -> None:
        """Load a ruleset, then forget the host's connections: every probe after
        it is a new connection, judged by this ruleset alone."""
        self.exec(host, "nft", "-f", str(ruleset_file))
        self.forget_connections(host)

    def forget_connections(self, host: Host) -> None:
        """Empty the host's conntrack table. A flow an earlier ruleset accepted
        stays established (UDP for 30 s) and rules like `ct state established
        accept` let its packets in: a later probe that happens to draw the same
        ephemeral source port would pass a ruleset that drops new connections."""
        self.exec(host, "conntrack", "-F")

    def nft_json(self, host: Host) -> str:
        return self.exec(host, "nft", "-j", "list", "ruleset")

    def serve(self, tcp_ports: Iterable[int], udp_ports: Iterable[int]) -> None:
        """A listener on every host, on every port given (TCP accept, UDP echo)."""
        arguments = [json.dumps(sorted(set(tcp_ports))), json.dumps(sorted(set(udp_ports)))]
        started = [self.agent(h, "serve", *arguments) for h in self.hosts]
        self.listeners += started
        for listener in started:
            assert listener.stdout is not None
            if listener.stdout.readline().strip() != "ready":
                raise RuntimeError("a listener did not start")

    def agent(self, host: Host, *arguments: str) -> subprocess.Popen[str]:
        """netns_agent.py in the host's namespace, talking over pipes."""
        command = ["ip", "netns", "exec", self.namespace(host), sys.executable, str(AGENT)]
        return subprocess.Popen(
            [*command, *arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def probe(self, probes: Sequence[Probe], source_port: int = 0) -> dict[Probe, str]:
        """Every probe, each source host's probes at once, all hosts in parallel;
        from `source_port` where given (one probe per source, then), else from
        the ephemeral ports the kernel picks."""
        by_source: dict[str, list[list[object]]] = {}
        for index, (source, protocol, address, port) in enumerate(probes):
            by_source.setdefault(source, []).append([index, protocol, address, port])
        names = {h.name: h for h in self.hosts}
        how = (str(self.probe_timeout), str(source_port))
        running = {source: self.agent(names[source], "probe", *how) for source in by_source}
        outcomes: dict[Probe, str] = {}
        for source, process in running.items():
            process.stdin.write(json.dumps(by_source[source]))  # type: ignore[union-attr]
            process.stdin.close()  # type: ignore[union-attr]
        for process in running.values():
            stdout = process.stdout.read()  # type: ignore[union-attr]
            process.wait(timeout=60)
            for index, outcome in json.loads(stdout).items():
                outcomes[probes[int(index)]] = outcome
        return outcomes


def policy_ports(blueprint: Blueprint) -> set[tuple[str, int]]:
    """Every TCP and UDP port the Blueprint's rules name (both ends of a range)."""
    return {
        (rule.protocol, port)
        for group in blueprint
        for rule in group.rules
        if rule.protocol in ("tcp", "udp")
        for port in (rule.from_port, rule.to_port)
    }


def all_probes(inventory: Inventory, ports: set[tuple[str, int]]) -> list[Probe]:
    return [
        (source.name, protocol, str(address), port)
        for source in inventory.hosts
        for destination in inventory.hosts
        if destination != source
        for address in destination.addresses
        for protocol, port in sorted(ports)
    ]
