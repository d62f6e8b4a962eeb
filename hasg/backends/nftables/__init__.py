"""nftables: one ruleset file per host (`write.py`), and the reading of a
host's whole live ruleset (`ruleset.py`, `evaluate.py`), both made from one
grammar (`grammar.py`: libnftables JSON expressions).

    hasg emit nftables --inventory config.toml --out hosts/
    nft -j list ruleset > ruleset.json     # on the host (-n and -a read the same)
    hasg audit --from nftables ruleset.json --inventory config.toml --host 198.18.0.40

The audit does not recognise hasg's table: it evaluates every table of the
dump on the probe space (`hasg.hosts.probes`) and says what each
connection meets (docs/on-prem.md, "What clean means").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hasg.backends.base import AuditSource, Options, host_backend
from hasg.backends.nftables.evaluate import Evaluator
from hasg.backends.nftables.ruleset import MAX_DUMP_BYTES, Ruleset, named_values, read_ruleset
from hasg.backends.nftables.write import emit
from hasg.core.input_files import read_text_capped
from hasg.core.networks import Address
from hasg.core.protocols import ALL_PORTS, canonical_protocol, has_ports, protocol_number
from hasg.errors import NftReadError
from hasg.hosts.options import add_host_audit_arguments
from hasg.hosts.probes import Answer, Hints, Service, Unreadable


def _read_path(path: Path, options: Options) -> NftView:
    del options  # the host and its site are the audit's, not the reading's
    text = read_text_capped(path, MAX_DUMP_BYTES, "nft ruleset", NftReadError)
    return read_host(text, str(path))


BACKEND = host_backend(
    "nftables",
    "one nftables ruleset per host (table inet hasg), from an inventory",
    emit,
    audit=AuditSource(
        "a host's `nft -j list ruleset` output (-n and -a read the same)",
        _read_path,
        add_host_audit_arguments,
        of_a_host=True,
    ),
)


@dataclass(frozen=True)
class NftView:
    """A host's `nft -j list ruleset`, answering the probe space."""

    ruleset: Ruleset
    evaluator: Evaluator = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evaluator", Evaluator(self.ruleset))

    @property
    def unreadable(self) -> Sequence[Unreadable]:
        return tuple(Unreadable(p.what, p.where.place()) for p in self.ruleset.problems)

    @property
    def assumed(self) -> str:
        return ""

    def hints(self) -> Hints:
        named = named_values(self.ruleset)
        services = {Service(p, port) for p in ("tcp", "udp") for port in named.ports}
        services |= {Service(p, t) for p, t in named.icmp_types}
        services |= {
            Service(canonical_protocol(n))
            for n in named.protocols
            if not has_ports(canonical_protocol(n))
        }
        return Hints(frozenset(services), frozenset(named.addresses))

    def answer(self, host: Address, peer: Address, service: Service, *, inbound: bool) -> Answer:
        return self.evaluator.answer(
            host=host,
            peer=peer,
            protocol=protocol_number(service.protocol),
            port=None if service.port == ALL_PORTS else service.port,
            icmp_code=service.sent_code,
            inbound=inbound,
        )


def read_host(text: str, source: str = "<nft -j>") -> NftView:
    """A host's `nft -j list ruleset` (or `-n -j`, `-a -j`) as a view of it."""
    return NftView(read_ruleset(text, source))


__all__ = ["BACKEND", "NftView", "emit", "read_host"]
