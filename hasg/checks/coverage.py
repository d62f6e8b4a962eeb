"""How a Blueprint covers Chef's documented port table, cell by cell.

Works on any Blueprint (compiled, read live, read from HCL), so the same
check proves the policy, the VPC and the Terraform. An Outgoing cell is
covered by an egress rule, or, on a port the role only answers on, by the
stateful return of an allowed inbound flow: security groups are stateful, and
the documented Outgoing rows simply repeat the Incoming ones (reference, 1).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from hasg.catalog.documented_table import DOCUMENTED_TABLE, DocumentedCell
from hasg.core.blueprint import TOWARD, Blueprint, Direction, Rule, SecurityGroup
from hasg.core.findings import Finding, Location
from hasg.core.ports import port_text
from hasg.errors import ExitCode

How = Literal[
    "ingress rule",
    "egress rule",
    "stateful return",
    "optional, not opened",
    "n/a: managed by AWS",
    "uncovered",
]


@dataclass(frozen=True)
class CellCoverage:
    cell: DocumentedCell
    how: How
    port: int
    rules: tuple[Rule, ...]

    @property
    def covered(self) -> bool:
        return self.how != "uncovered"

    @property
    def name(self) -> str:
        """`incoming TCP 443`: the cell, as the documented table writes it."""
        return f"{self.cell.direction} {self.cell.protocol.upper()} {self.cell.port}"

    def finding(self) -> Finding:
        """An uncovered cell in the one vocabulary of findings (`hasg.core.findings`)."""
        checked = f" (checked on {self.port})" if self.port != self.cell.port else ""
        return Finding(
            "uncovered_cell",
            self.cell.role,
            "",
            f"{self.cell.machine}: {self.name}{checked} is not open",
            locations=(Location(logical=(("role", self.cell.role), ("cell", self.name))),),
            subject=f"{self.cell.machine}: {self.name}",
        )

    @property
    def detail(self) -> str:
        peers = ", ".join(sorted({str(r.peer) for r in self.rules}))
        parts = []
        if self.how == "stateful return":
            ports = port_text(self.cell.protocol, self.port, self.port)
            parts.append(f"reply to inbound {ports} from {peers}")
        elif self.rules:
            parts.append(f"{TOWARD[self.rules[0].direction]} {peers}")
        if self.port != self.cell.port:
            erratum = self.cell.erratum
            parts.append(erratum.why if erratum else f"SSH on port {self.port}")
        return "; ".join(parts)


@dataclass(frozen=True)
class CoverageReport:
    cells: tuple[CellCoverage, ...]

    @property
    def ok(self) -> bool:
        return all(c.covered for c in self.cells)

    @property
    def uncovered(self) -> tuple[CellCoverage, ...]:
        return tuple(c for c in self.cells if not c.covered)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(c.finding() for c in self.uncovered)

    @property
    def exit_code(self) -> ExitCode:
        # A documented port left closed breaks the cluster: an error, not drift.
        return ExitCode.OK if self.ok else ExitCode.ERROR

    def to_text(self) -> str:
        return coverage_table(self)

    def to_json(self) -> str:
        return coverage_json(self)


def check_coverage(
    blueprint: Blueprint,
    *,
    ssh_port: int = 22,
    managed_roles: Collection[str] = (),
    table: tuple[DocumentedCell, ...] = DOCUMENTED_TABLE,
) -> CoverageReport:
    """Each documented cell, with what covers it. A role missing from the
    Blueprint leaves its cells uncovered.

    `managed_roles` are run by AWS (Amazon RDS, OpenSearch Service; a Role
    with `managed`): the table's cells for their machines (SSH, Habitat,
    replication) describe nodes that do not exist, so they are not
    applicable where nothing covers them. They still must be in the
    Blueprint: their group is what the service is attached to."""
    roles = set(blueprint.roles)
    cells = []
    for cell in table:
        port = ssh_port if (cell.protocol, cell.port) == ("tcp", 22) else cell.effective_port
        if cell.role not in roles:
            cells.append(CellCoverage(cell, "uncovered", port, ()))
            continue
        group = blueprint[cell.role]
        how: How
        if cell.direction == "incoming":
            rules, how = _matching(group, "ingress", cell.protocol, port), "ingress rule"
        else:
            rules, how = _matching(group, "egress", cell.protocol, port), "egress rule"
            if not rules:
                rules = _matching(group, "ingress", cell.protocol, port)
                how = "stateful return"
        if not rules:
            how = "optional, not opened" if cell.optional else "uncovered"
            if cell.role in managed_roles:
                how = "n/a: managed by AWS"
        cells.append(CellCoverage(cell, how, port, rules))
    return CoverageReport(tuple(cells))


def _matching(
    group: SecurityGroup, direction: Direction, protocol: str, port: int
) -> tuple[Rule, ...]:
    return tuple(r for r in group.rules_for(direction) if r.covers(protocol, port))


def coverage_table(report: CoverageReport) -> str:
    header = ("ROLE", "DIRECTION", "PORT", "COVERED BY", "DETAIL")
    rows = [
        (
            c.cell.machine,
            c.cell.direction,
            f"{c.cell.protocol.upper()} {c.cell.port}",
            c.how,
            c.detail,
        )
        for c in report.cells
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(col.ljust(w) for col, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in [header, *rows]
    ]
    applicable = [c for c in report.cells if c.how != "n/a: managed by AWS"]
    covered = sum(c.covered for c in applicable)
    lines.append("")
    managed = len(report.cells) - len(applicable)
    lines.append(
        f"{covered}/{len(applicable)} documented cells covered"
        + (f" ({managed} more n/a: managed by AWS)" if managed else "")
    )
    return "\n".join(line.rstrip() for line in lines) + "\n"


def coverage_json(report: CoverageReport) -> str:
    payload = {
        "ok": report.ok,
        "cells": [
            {
                "role": c.cell.role,
                "machine": c.cell.machine,
                "direction": c.cell.direction,
                "protocol": c.cell.protocol,
                "port": c.cell.port,
                "checked_port": c.port,
                "covered_by": c.how,
                "detail": c.detail,
                "rules": [str(r) for r in c.rules],
            }
            for c in report.cells
        ],
    }
    return json.dumps(payload, indent=2) + "\n"
