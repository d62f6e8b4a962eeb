"""Any checker's report as a SARIF 2.1.0 log: what CI security tools read
(GitHub code scanning, GitLab, checkov `-o sarif`, trivy `--format sarif`).

One writer for every report: it reads only the report's findings
(`hasg.core.findings.Finding`), so audit, verify, coverage and the host audit
all come out the same way. Per the OASIS standard (SARIF 2.1.0 Errata 01):

- one reporting descriptor (a "rule") per kind of finding, its id the kind as
  `--json` names it, with a description, help text and default level;
- one result per finding, with its level, its locations (a file, line and
  column where the source is a file; a logical location, such as the VPC,
  group and rule, where it is not) and a partial fingerprint that is the
  finding's identity from run to run (`Finding.fingerprint`);
- relative files under the `%SRCROOT%` base (the directory hasg ran in), so
  that code scanning maps them onto the repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from hasg.core.findings import KIND_ORDER, KINDS, Finding, FindingKind, Location
from hasg.core.report import Report
from hasg.core.version import __version__

VERSION = "2.1.0"
SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SOURCE_ROOT = "%SRCROOT%"
# The key of hasg's fingerprint in `partialFingerprints`: versioned, as the
# standard asks (3.27.17), should what goes into it ever change.
FINGERPRINT = "hasgFinding/v1"
# Columns are counted in characters (Python's str), not UTF-16 code units.
COLUMN_KIND = "unicodeCodePoints"


def to_sarif(report: Report, *, check: str, source: str = "", root: Path | None = None) -> str:
    """The report as a SARIF log (JSON text). `check` names the command
    (audit, verify, coverage) and `source` what it read (a VPC id, a path):
    together they are the run's automation id, which keeps the runs of
    several checks of one repository apart. `root` is the directory relative
    files are relative to (%SRCROOT%), when known."""
    import json  # here: `hasg emit-hcl` starts without it

    log = sarif_log(report.findings, check=check, source=source, root=root)
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def sarif_log(
    findings: Sequence[Finding], *, check: str, source: str = "", root: Path | None = None
) -> dict[str, Any]:
    logical = _LogicalLocations()
    results = [_result(finding, logical) for finding in findings]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "hasg",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(kind) for kind in KIND_ORDER],
            }
        },
        "automationDetails": {"id": "/".join(["hasg", check, *([source] if source else [])]) + "/"},
        "columnKind": COLUMN_KIND,
        "results": results,
    }
    relative = any(
        not PurePath(loc.file).is_absolute() for f in findings for loc in f.locations if loc.file
    )
    if root is not None and relative:
        # A base URI ends with a slash (3.14.14).
        base = root.resolve().as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": base}}
    if logical.entries:
        run["logicalLocations"] = logical.entries
    return {"$schema": SCHEMA, "version": VERSION, "runs": [run]}


def _rule(kind: FindingKind) -> dict[str, Any]:
    text = KINDS[kind]
    rule: dict[str, Any] = {
        "id": kind,
        "name": "".join(word.capitalize() for word in kind.split("_")),
        "shortDescription": {"text": text.description},
        "fullDescription": {"text": f"{text.description} {text.help}"},
        "help": {"text": text.help},
        "defaultConfiguration": {"level": text.level},
    }
    if text.security_severity:
        # GitHub code scanning ranks alerts tagged "security" by their severity.
        rule["properties"] = {"tags": ["security"], "security-severity": text.security_severity}
    return rule


def _result(finding: Finding, logical: _LogicalLocations) -> dict[str, Any]:
    where = f"{finding.group} ({finding.group_id})" if finding.group_id else finding.group
    result: dict[str, Any] = {
        "ruleId": finding.kind,
        "ruleIndex": KIND_ORDER.index(finding.kind),
        "level": KINDS[finding.kind].level,
        "message": {"text": f"{where}: {finding.detail}" if where else finding.detail},
        "partialFingerprints": {FINGERPRINT: finding.fingerprint},
        "properties": {"role": finding.role, "group": finding.group, "groupId": finding.group_id},
    }
    if finding.locations:
        result["locations"] = [_location(loc, logical) for loc in finding.locations]
    return result


def _location(location: Location, logical: _LogicalLocations) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if location.file:
        physical: dict[str, Any] = {"artifactLocation": _artifact(location.file)}
        region = {
            name: value
            for name, value in (("startLine", location.line), ("startColumn", location.column))
            if value
        }
        if region:
            physical["region"] = region
        found["physicalLocation"] = physical
    if location.logical:
        found["logicalLocations"] = [logical.reference(location.logical)]
    return found


def _artifact(file: str) -> dict[str, str]:
    """A file as a URI: absolute as file://, relative under %SRCROOT%."""
    from urllib.parse import quote

    path = PurePath(file)
    if path.is_absolute():
        return {"uri": Path(file).as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": SOURCE_ROOT}


class _LogicalLocations:
    """The run's logicalLocations (3.14.17): each part of every logical path
    once, with its parent, so that a result names the innermost part by index
    and a viewer can walk out to the VPC or the host."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._index: dict[tuple[tuple[str, str], ...], int] = {}

    def reference(self, parts: tuple[tuple[str, str], ...]) -> dict[str, Any]:
        index = self._add(parts)
        entry = self.entries[index]
        return {
            "index": index,
            "name": entry["name"],
            "kind": entry["kind"],
            "fullyQualifiedName": entry["fullyQualifiedName"],
        }

    def _add(self, parts: tuple[tuple[str, str], ...]) -> int:
        if parts in self._index:
            return self._index[parts]
        parent = self._add(parts[:-1]) if len(parts) > 1 else None
        kind, name = parts[-1]
        entry: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "fullyQualifiedName": "/".join(n for _, n in parts),
        }
        if parent is not None:
            entry["parentIndex"] = parent
        self._index[parts] = len(self.entries)
        self.entries.append(entry)
        return self._index[parts]
