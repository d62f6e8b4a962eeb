"""The one contract of every checker's report (coverage, verify, audit, the host
audit): a verdict, the findings behind it, text for people, JSON for
programs, and the exit code a command returns for it. A command handler is
then load, run, print `to_text()`, `to_json()` or SARIF (`hasg.core.sarif`,
from the findings), return `exit_code`.

In the core because checks and backends (the host firewall audit) both make
reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hasg.core.findings import Finding
from hasg.errors import ExitCode


class Report(Protocol):
    @property
    def ok(self) -> bool:
        """The verdict: True only when the checker found nothing, never when it
        could not read or evaluate something (that is a finding)."""
        ...

    @property
    def findings(self) -> Sequence[Finding]:
        """What stands between the verdict and ok; empty when ok. In the one
        vocabulary of findings, so that one writer makes SARIF of any report."""
        ...

    @property
    def exit_code(self) -> ExitCode: ...

    def to_text(self) -> str: ...

    def to_json(self) -> str: ...
