"""The Chef Automate HA "Security and Firewall" port table, as documented.

This is the coverage contract, kept apart from the policy on purpose: the
built-in policy is checked against what Chef documents, not against itself.
The rows are the documentation's own text, parsed here, so a reader can hold
them against the page line by line.

Source: Chef Automate docs, "Security and Firewall" (HA), the port table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# (hasg role id, the page's machine name, Incoming cell, Outgoing cell), verbatim.
_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("automate", "Chef Automate", "TCP 22, 9631, 443, 80", "TCP 22, 9631, 443, 80"),
    ("chef_server", "Chef Infra Server", "TCP 22, 9631, 443, 80", "TCP 22, 9631, 443, 80"),
    (
        "postgresql",
        "Postgresql",
        "TCP 22, 9631, 7432, 5432, 9683; UDP 9638",
        "TCP 22, 9631, 7432, 5432, 9683; UDP 9638",
    ),
    (
        "opensearch",
        "OpenSearch",
        "TCP 22, 9631, 9200, 9300, 9638; UDP 9638",
        "TCP 22, 9631, 9200, 9300, 9638; UDP 9638",
    ),
    ("bastion", "Bastion", "", "TCP 22, 9631"),
)

# The page's "Port usage definitions".
PORT_MEANINGS: dict[tuple[str, int], str] = {
    ("tcp", 22): "SSH, to configure services",
    ("tcp", 9631): "Habitat HTTP API",
    ("tcp", 443): "users reach the UI and API",
    ("tcp", 80): "optional redirect to 443",
    ("tcp", 9200): "OpenSearch HTTPS API",
    ("tcp", 9300): "OpenSearch node-to-node transport",
    ("tcp", 9638): "Habitat gossip (TCP)",
    ("udp", 9638): "Habitat gossip (UDP)",
    ("tcp", 7432): "HAProxy, which forwards to the PostgreSQL leader",
    ("tcp", 5432): "PostgreSQL (no definition on the page)",
    ("tcp", 9683): "no definition on the page: a typo for 9638, see ERRATA",
}


@dataclass(frozen=True)
class Erratum:
    read_as: int
    why: str


# chef/automate PR #7343 (Aug 2022): "TCP port 9683 should have been 9638 for
# the habitat gossip ports". The policy opens 9638, never 9683.
ERRATA: dict[tuple[str, int], Erratum] = {
    ("tcp", 9683): Erratum(
        read_as=9638,
        why="known erratum: 9683 is a typo for 9638, Habitat gossip "
        "(fixed upstream in chef/automate PR #7343, Aug 2022)",
    ),
}

# The page calls port 80 an optional redirect; a policy may drop it.
OPTIONAL_PORTS = frozenset({("tcp", 80)})


@dataclass(frozen=True, order=True)
class DocumentedCell:
    """One entry of the table: a port a role must be able to use, one way."""

    role: str
    direction: Literal["incoming", "outgoing"]
    protocol: Literal["tcp", "udp"]
    port: int
    machine: str

    @property
    def meaning(self) -> str:
        return PORT_MEANINGS[(self.protocol, self.port)]

    @property
    def erratum(self) -> Erratum | None:
        return ERRATA.get((self.protocol, self.port))

    @property
    def effective_port(self) -> int:
        """The port the cell really means, errata applied."""
        erratum = self.erratum
        return erratum.read_as if erratum else self.port

    @property
    def optional(self) -> bool:
        return (self.protocol, self.port) in OPTIONAL_PORTS

    def __str__(self) -> str:
        return f"{self.machine} {self.direction} {self.protocol.upper()} {self.port}"


def _parse_cell(text: str) -> list[tuple[Literal["tcp", "udp"], int]]:
    ports: list[tuple[Literal["tcp", "udp"], int]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = re.fullmatch(r"(TCP|UDP) ([\d, ]+)", part)
        if not match:
            raise ValueError(f"cannot read table cell {part!r}")
        protocol: Literal["tcp", "udp"] = "tcp" if match.group(1) == "TCP" else "udp"
        ports.extend((protocol, int(p)) for p in match.group(2).split(","))
    return ports


def _cells() -> tuple[DocumentedCell, ...]:
    cells = []
    for role, machine, incoming, outgoing in _ROWS:
        sides: tuple[tuple[Literal["incoming", "outgoing"], str], ...] = (
            ("incoming", incoming),
            ("outgoing", outgoing),
        )
        for direction, text in sides:
            for protocol, port in _parse_cell(text):
                cells.append(DocumentedCell(role, direction, protocol, port, machine))
    return tuple(cells)


DOCUMENTED_TABLE: tuple[DocumentedCell, ...] = _cells()
MACHINES: dict[str, str] = {role: machine for role, machine, _, _ in _ROWS}
