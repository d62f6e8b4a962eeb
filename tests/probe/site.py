"""A site to probe: the lab's namespaces (tests/hosts/lab.py), each node with
a real OpenSSH server of its own, and hasg's nftables file loaded on every
host; `hasg probe` runs inside the bastion's namespace, as on a bastion.

Each sshd runs inside its host's network namespace, never in the root one,
in a mount namespace of its own (`ip netns exec` makes one, whose mounts do
not propagate back) where /run, /tmp, /var/tmp, /dev/shm and /root are
fresh tmpfs: the host's own disk, as it were, which a test can then search
for anything an agent left. Host keys and the login key are made by the
test, in its temporary directory; known_hosts is a file of the test, never
~/.ssh. Everything stops and is removed with the lab.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hasg.backends import nftables
from hasg.backends.nftables import write
from hasg.core.blueprint import Blueprint
from hasg.hosts.inventory import Host, Inventory
from hasg.hosts.resolve import host_rulesets
from tests.hosts.lab import Lab, run

ROOT = Path(__file__).resolve().parents[2]
SSHD = "/usr/sbin/sshd"
# The writable places of a host, each a tmpfs of its own in the sshd's mounts.
PRIVATE = ("/tmp", "/var/tmp", "/dev/shm", "/root")
# Where the sshd's own files live on the host: under its private /run.
SERVER_FILES = "/run/hasg-sshd"
# A program holding a port until its stdin closes (both families, as most services).
HOLDER = """
import socket, sys
kind = socket.SOCK_STREAM if "{protocol}" == "tcp" else socket.SOCK_DGRAM
sock = socket.socket(socket.AF_INET6, kind)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
if kind == socket.SOCK_STREAM:  # as servers do: its connections' TIME_WAIT do not hold the port
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("::", {port}))
if kind == socket.SOCK_STREAM:
    sock.listen(64)
import threading
def serve():
    while True:
        if kind == socket.SOCK_STREAM:
            sock.accept()[0].close()
        elif {answer}:
            data, peer = sock.recvfrom(2048)
            sock.sendto(data, peer)
        else:
            threading.Event().wait()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass
class SshSite:
    """The lab's hosts with sshd on each node; the bastion is where hasg runs."""

    lab: Lab
    inventory: Inventory
    directory: Path
    servers: dict[Host, subprocess.Popen[bytes]] = field(default_factory=dict)
    host_keys: dict[Host, str] = field(default_factory=dict)
    kept: dict[Host, tuple[str, ...]] = field(default_factory=dict)

    @property
    def bastion(self) -> Host:
        return self.inventory.hosts_of("bastion")[0]

    @property
    def nodes(self) -> list[Host]:
        return [h for h in self.inventory.hosts if h != self.bastion]

    @property
    def key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def inventory_file(self) -> Path:
        return self.directory / "inventory.yaml"

    # ----------------------------------------------------------------- building

    def build(self) -> None:
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hasg-test", "-f", str(self.key))
        roles: dict[str, list[list[str]]] = {}
        for host in self.inventory.hosts:
            roles.setdefault(host.role, []).append([str(a) for a in host.addresses])
        document = {"roles": roles, "networks": list(self.inventory.networks)}
        self.inventory_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
        for host in self.nodes:
            self.start(host)
        self.write_known_hosts(self.nodes)

    def write_known_hosts(self, hosts: Sequence[Host]) -> None:
        lines = [f"{a} {self.host_keys[h]}" for h in hosts for a in h.addresses]
        self.known_hosts.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")

    def start(self, host: Host, *, path: str | None = None, keep: Sequence[Path] = ()) -> None:
        """sshd on `host`, on port 22 of its addresses; `path`: the PATH its
        sessions get (which python3 they find); `keep`: directories in the
        host's private places that it still sees (a Python installed there)."""
        self.kept[host] = tuple(str(k) for k in keep)
        files = self.directory / f"sshd-{host.name}"
        if not files.exists():
            files.mkdir()
            key = files / "ssh_host_ed25519_key"
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key))
            self.host_keys[host] = " ".join(
                key.with_suffix(".pub").read_text(encoding="utf-8").split()[:2]
            )
            (files / "authorized_keys").write_text(
                self.key.with_suffix(".pub").read_text(encoding="utf-8"), encoding="utf-8"
            )
        config = [
            "Port 22",
            *(f"ListenAddress {a}" for a in host.addresses),
            f"HostKey {SERVER_FILES}/ssh_host_ed25519_key",
            f"PidFile {SERVER_FILES}/sshd.pid",
            f"AuthorizedKeysFile {SERVER_FILES}/authorized_keys",
            # Root logs in by key only; the test's files are not root's home.
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitTTY no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel ERROR",
            *([f"SetEnv PATH={path}"] if path is not None else []),
        ]
        (files / "sshd_config").write_text("\n".join(config) + "\n", encoding="utf-8")
        script = " && ".join(
            [
                "mount -t tmpfs -o mode=0755,size=8m hasg-run /run",
                f"mkdir -m 0755 /run/sshd {SERVER_FILES}",
                f"cp {shlex.quote(str(files))}/* {SERVER_FILES}/",
                *(
                    f"mkdir -p {SERVER_FILES}/keep{n} && mount --bind {shlex.quote(str(k))} "
                    f"{SERVER_FILES}/keep{n}"
                    for n, k in enumerate(keep)
                ),
                *(f"mount -t tmpfs -o mode=1777,size=8m hasg-private {p}" for p in PRIVATE),
                *(
                    f"mkdir -p {shlex.quote(str(k))} && mount --bind {SERVER_FILES}/keep{n} "
                    f"{shlex.quote(str(k))}"
                    for n, k in enumerate(keep)
                ),
                f"exec {SSHD} -D -e -f {SERVER_FILES}/sshd_config",
            ]
        )
        namespace = self.lab.namespace(host)
        with (self.directory / f"sshd-{host.name}.log").open("ab") as log:
            server = subprocess.Popen(
                ["ip", "netns", "exec", namespace, "sh", "-c", script], stderr=log
            )
        self.servers[host] = server
        self.wait_listening(host)

    def wait_listening(self, host: Host) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.listeners(host) >= {(str(a), "tcp", 22) for a in host.addresses}:
                return
            if self.servers[host].poll() is not None:
                raise RuntimeError(f"sshd on {host.name} ended: {self.servers[host].returncode}")
            time.sleep(0.05)
        raise RuntimeError(f"sshd on {host.name} does not listen")

    def stop(self, host: Host) -> None:
        server = self.servers.pop(host)
        server.terminate()
        server.wait(timeout=10)

    def close(self) -> None:
        for host in list(self.servers):
            self.stop(host)

    def load_firewalls(
        self, blueprint: Blueprint, *, enforce_egress: bool = False, edit: Mapping[Host, str] = {}
    ) -> None:
        """hasg's nftables file on every host; `edit`: a host's text changed
        by a sed expression first (a rule deleted, an accept added)."""
        rulesets = host_rulesets(blueprint, self.inventory, egress=enforce_egress)
        files = nftables.emit(rulesets, enforce_egress=enforce_egress)
        for ruleset in rulesets:
            name = write.file_name(ruleset)
            path = self.directory / name
            path.write_text(files[name], encoding="utf-8")
            if ruleset.host in edit:
                run("sed", "-i", "-e", edit[ruleset.host], str(path))
            self.lab.load(ruleset.host, path)

    def delete_rule(self, host: Host, fragment: str) -> None:
        """Delete the one live rule whose `nft -a list ruleset` line holds `fragment`."""
        table = chain = ""
        found = []
        for line in run(*self.nft(host), "-a", "list", "ruleset").splitlines():
            words = line.split()
            if words[:1] == ["table"]:
                table = " ".join(words[1:3])
            elif words[:1] == ["chain"]:
                chain = words[1]
            elif fragment in line:
                found.append((table, chain, words[-1]))
        assert len(found) == 1, f"{fragment!r} is in {len(found)} rules of {host.name}"
        table, chain, handle = found[0]
        run(*self.nft(host), "delete", "rule", *table.split(), chain, "handle", handle)

    def accept(self, host: Host, match: str) -> None:
        """Add an accept of `match` at the top of the host's input chain."""
        table = ""
        for line in run(*self.nft(host), "list", "ruleset").splitlines():
            words = line.split()
            if words[:1] == ["table"]:
                table = " ".join(words[1:3])
            elif words[:1] == ["chain"]:
                chain = words[1]
            elif "hook input" in line:
                run(*self.nft(host), "insert", "rule", *table.split(), chain, *match.split(),
                    "accept")  # fmt: skip
                return
        raise AssertionError(f"{host.name} has no input chain")

    def nft(self, host: Host) -> list[str]:
        return ["ip", "netns", "exec", self.lab.namespace(host), "nft"]

    def hold(self, host: Host, protocol: str, port: int, *, answer: bool) -> subprocess.Popen[str]:
        """A program of the host's own on a port, on all its addresses: a TCP
        server that accepts, or a UDP socket that answers (an echo) or stays silent."""
        code = HOLDER.format(protocol=protocol, port=port, answer=answer)
        command = ["ip", "netns", "exec", self.lab.namespace(host), sys.executable, "-c", code]
        holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        return holder

    # ----------------------------------------------------------------- probing

    def probe_command(self, *arguments: str) -> list[str]:
        """`hasg probe` in the bastion's namespace, as a user on the bastion runs it."""
        return [
            "ip", "netns", "exec", self.lab.namespace(self.bastion),
            sys.executable, "-m", "hasg.cli", "probe",
            "--inventory", str(self.inventory_file),
            "--ssh-user", "root",
            "--ssh-key", str(self.key),
            "--known-hosts", str(self.known_hosts),
            "--timeout", "1",
            *arguments,
        ]  # fmt: skip

    def probe(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.probe_command(*arguments), capture_output=True, text=True, cwd=ROOT, timeout=120
        )

    # ----------------------------------------------------------------- what is left

    def listeners(self, host: Host) -> set[tuple[str, str, int]]:
        """(address, protocol, port) of every listening socket in the host's namespace."""
        found = set()
        out = run("ip", "netns", "exec", self.lab.namespace(host), "ss", "-Hltun")
        for line in out.splitlines():
            fields = line.split()
            address, _, port = fields[4].rpartition(":")
            address = address.strip("[]").split("%")[0]
            found.add((str(ipaddress.ip_address(address)), fields[0], int(port)))
        return found

    def processes(self, host: Host) -> set[int]:
        """Every process in the host's network namespace."""
        out = run("ip", "netns", "pids", self.lab.namespace(host))
        return {int(pid) for pid in out.split()}

    def private_files(self, host: Host) -> list[str]:
        """Everything in the host's writable places, as its sshd sees them."""
        server = self.servers[host]
        pruned = [SERVER_FILES, "/run/sshd", *self.kept.get(host, ())]
        prune = [w for p in pruned for w in ("-path", p, "-prune", "-o")]
        out = run(
            "nsenter", "--target", str(server.pid), "--mount",
            "find", *PRIVATE, "/run", "-mindepth", "1", *prune, "-print",
        )  # fmt: skip
        return sorted(out.split())
