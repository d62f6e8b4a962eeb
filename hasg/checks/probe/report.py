"""What `hasg probe` found, on the report contract of every checker
(`hasg.core.report`): a verdict per probe, a truth table by role pair and
service, a line per mismatch, and the exit code.

A probe's verdict compares what the policy expects with what came back:

- open as expected, closed as expected;
- wrong: open where the policy allows nothing, or not open where it allows
  the connection (the line says how it failed: refused, timeout,
  unreachable, blocked at source);
- unproven: the answer cannot tell: a UDP port held by a program that does
  not answer an arbitrary datagram (silence is what a drop looks like too),
  or a port the agent could not listen on, where a failure may come from the
  host instead of its firewall;
- not probed: the source or destination host could not be reached.

Exit codes (`hasg.errors.ExitCode`): 1 when anything could not be probed
(a host, a role with no host, an unproven probe), since the answer is then
incomplete; else 2 when anything is wrong; else 0.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hasg.checks.probe.plan import PlannedProbe, ProbePlan
from hasg.core.findings import Finding, FindingKind
from hasg.errors import ExitCode
from hasg.hosts.inventory import Host
from hasg.hosts.probes import Service

Verdict = Literal["open", "closed", "wrong", "unproven", "not probed"]
# What the agent made of a port on the destination (hasg.checks.probe.agent).
ListenerState = Literal["ours", "service", "error"]
NOT_PROBED = "not probed"


@dataclass(frozen=True)
class Listener:
    state: ListenerState
    detail: str = ""


@dataclass(frozen=True)
class ProbeResult:
    probe: PlannedProbe
    outcome: str  # the agent's: open, refused, timeout, unreachable, ...; or "not probed"
    detail: str
    listener: Listener | None  # None: not probed
    verdict: Verdict
    reason: str  # why it is wrong, unproven or not probed; "" when as expected

    @property
    def line(self) -> str:
        """`automate 198.18.0.10 -> postgresql 198.18.0.40 tcp/7432: expected open, timeout`."""
        p = self.probe
        return (
            f"{_end(p.source, p.source_address)} -> {_end(p.destination, p.destination_address)} "
            f"{p.service.text()}: expected {p.expected}, {self.reason}"
        )

    def to_json(self) -> dict[str, object]:
        p = self.probe
        return {
            "source": str(p.source_address),
            "source_role": p.source.role,
            "destination": str(p.destination_address),
            "destination_role": p.destination.role,
            "service": p.service.text(),
            "expected": p.expected,
            "outcome": self.outcome,
            "detail": self.detail,
            "listener": None if self.listener is None else self.listener.state,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def _end(host: Host, address: object) -> str:
    return f"{host.role} {address}"


def judge(
    probe: PlannedProbe, outcome: str | None, detail: str, listener: Listener | None, why_not: str
) -> ProbeResult:
    """The verdict of one probe; `outcome` None: not probed, `why_not` says why."""
    if outcome is None or listener is None:
        return ProbeResult(probe, NOT_PROBED, "", None, "not probed", why_not)
    told = f"{outcome} ({detail})" if detail else outcome
    held = " (a program holds the port)" if listener.state == "service" else ""

    def result(verdict: Verdict, reason: str = "") -> ProbeResult:
        return ProbeResult(probe, outcome, detail, listener, verdict, reason)

    if outcome == "open":
        return result("open") if probe.expected == "open" else result("wrong", f"open{held}")
    if probe.service.protocol == "udp" and listener.state == "service" and outcome == "timeout":
        return result(
            "unproven",
            "the program holding the port did not answer the datagram: "
            "silence is also what a dropped datagram looks like",
        )
    if listener.state == "error" and (probe.expected == "open" or outcome == "refused"):
        return result(
            "unproven",
            f"{told}, but nothing listened there ({listener.detail}): "
            "the host's answer says nothing about its firewall",
        )
    if probe.expected == "closed":
        return result("closed")
    return result("wrong", f"{told}{held}")


@dataclass(frozen=True)
class ProbeReport:
    plan: ProbePlan
    results: tuple[ProbeResult, ...]
    failures: Mapping[Host, str]  # hosts that could not be probed, and why
    listeners: Mapping[tuple[Host, Service], tuple[Listener, ...]]  # per address
    pythons: Mapping[Host, str]  # the Python each agent ran on
    timeout: float

    # ----------------------------------------------------------------- verdict

    def count(self, verdict: Verdict) -> int:
        return sum(r.verdict == verdict for r in self.results)

    @property
    def unprobed_roles(self) -> tuple[str, ...]:
        """Roles with no host that are not managed services: nothing about them passed."""
        return tuple(r for r in self.plan.absent_roles if r not in self.plan.managed_roles)

    @property
    def findings(self) -> tuple[Finding, ...]:
        found = [
            Finding("probe_failed", host.role, host.name, why)
            for host, why in sorted(self.failures.items())
        ]
        found += [
            Finding(
                "not_probed", role, "", f"role {role} has no host: nothing to or from it was probed"
            )
            for role in self.unprobed_roles
        ]
        kinds: dict[Verdict, FindingKind] = {"wrong": "probe_open", "unproven": "probe_unproven"}
        for result in self.results:
            if result.verdict in kinds:
                kind = kinds[result.verdict]
                if result.verdict == "wrong" and result.probe.expected == "open":
                    kind = "probe_closed"
                destination = result.probe.destination
                found.append(Finding(kind, destination.role, destination.name, result.line))
        return tuple(found)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> ExitCode:
        incomplete = self.failures or self.unprobed_roles or self.count("unproven")
        if incomplete or self.count("not probed"):
            return ExitCode.ERROR
        return ExitCode.CHANGES if self.count("wrong") else ExitCode.OK

    @property
    def summary(self) -> str:
        """The last line: `probe: N probes, A open as expected, B closed as expected, W wrong`."""
        line = (
            f"probe: {len(self.results)} probes, {self.count('open')} open as expected, "
            f"{self.count('closed')} closed as expected, {self.count('wrong')} wrong"
        )
        incomplete: tuple[Verdict, ...] = ("unproven", "not probed")
        for verdict in incomplete:
            if self.count(verdict):
                line += f", {self.count(verdict)} {verdict}"
        return line

    # ----------------------------------------------------------------- text

    def to_text(self) -> str:
        plan = self.plan
        egress = "enforced" if plan.enforce_egress else "open (only the destination decides)"
        lines = [
            f"hasg probe of {plan.cluster}: {len(plan.hosts)} hosts, egress {egress}, "
            f"timeout {self.timeout:g} s",
            f"services the policy names: {_services(plan.named)}",
            f"services it never names: {_services(plan.unnamed)}",
        ]
        if plan.not_probed:
            lines.append(f"not probed (TCP and UDP only): {_services(plan.not_probed)}")
        lines += [f"held by a program, probed as it is: {line}" for line in self._held()]
        lines += ["", *table_lines(self.results)]
        notes = [f"not probed: {f.detail}" for f in self.findings if f.kind == "not_probed"]
        notes += [
            f"not probed: role {role} has no host: a managed service, no agent can run there"
            for role in plan.absent_roles
            if role in plan.managed_roles
        ]
        notes += [f"could not probe {h.name} ({h.role}): {why}" for h, why in self.failures.items()]
        notes += [f"wrong: {r.line}" for r in self.results if r.verdict == "wrong"]
        notes += [f"unproven: {line}" for line in self._unproven()]
        return "\n".join([*lines, *([""] if notes else []), *notes, self.summary]) + "\n"

    def _held(self) -> Iterable[str]:
        """Which services a program held, and on which hosts."""
        by_service: dict[Service, list[str]] = {}
        for (host, service), states in sorted(self.listeners.items()):
            if any(s.state == "service" for s in states):
                by_service.setdefault(service, []).append(host.name)
        reached = [h for h in self.plan.hosts if h not in self.failures]
        for service, names in sorted(by_service.items()):
            where = "every host" if len(names) == len(reached) else ", ".join(names)
            yield f"{service.text()} on {where}"

    def _unproven(self) -> Iterable[str]:
        """Unproven probes, one line per destination, service and reason."""
        groups: dict[tuple[str, str, str], list[ProbeResult]] = {}
        for result in self.results:
            if result.verdict == "unproven":
                p = result.probe
                key = (_end(p.destination, p.destination_address), p.service.text(), result.reason)
                groups.setdefault(key, []).append(result)
        for (destination, service, reason), members in groups.items():
            sources = sorted({_end(r.probe.source, r.probe.source_address) for r in members})
            yield f"{service} on {destination} from {', '.join(sources)}: {reason}"

    # ----------------------------------------------------------------- JSON

    def to_json(self) -> str:
        plan = self.plan
        document = {
            "cluster": plan.cluster,
            "ok": self.ok,
            "exit_code": int(self.exit_code),
            "summary": {
                "probes": len(self.results),
                "open_as_expected": self.count("open"),
                "closed_as_expected": self.count("closed"),
                "wrong": self.count("wrong"),
                "unproven": self.count("unproven"),
                "not_probed": self.count("not probed"),
            },
            "egress": "enforce" if plan.enforce_egress else "open",
            "timeout": self.timeout,
            "services": {
                "named": [s.text() for s in plan.named],
                "unnamed": [s.text() for s in plan.unnamed],
                "not_probed": [s.text() for s in plan.not_probed],
            },
            "hosts": [
                {
                    "host": host.name,
                    "role": host.role,
                    "addresses": [str(a) for a in host.addresses],
                    "python": self.pythons.get(host),
                    "error": self.failures.get(host),
                    "held_by_a_program": [
                        service.text()
                        for (owner, service), states in sorted(self.listeners.items())
                        if owner == host and any(s.state == "service" for s in states)
                    ],
                    "no_listener": {
                        service.text(): next(s.detail for s in states if s.state == "error")
                        for (owner, service), states in sorted(self.listeners.items())
                        if owner == host and any(s.state == "error" for s in states)
                    },
                }
                for host in plan.hosts
            ],
            "roles_not_probed": [
                {"role": r, "managed": r in plan.managed_roles} for r in plan.absent_roles
            ],
            "table": [row.to_json() for row in table(self.results)],
            "probes": [r.to_json() for r in self.results],
            "findings": [f.to_json() for f in self.findings],
        }
        return json.dumps(document, indent=2) + "\n"


# --------------------------------------------------------------------------- truth table


@dataclass(frozen=True)
class Row:
    """One line of the truth table: a role pair, a service (or the services
    all closed as expected, folded into one line), what was expected, and
    how many probes came out how."""

    source_role: str
    destination_role: str
    service: str
    expected: str
    outcomes: Counter[str]
    as_expected: int

    @property
    def probes(self) -> int:
        return sum(self.outcomes.values())

    @property
    def observed(self) -> str:
        others = sorted((o, n) for o, n in self.outcomes.items() if o != self.expected)
        told = [f"{self.as_expected}/{self.probes} {self.expected}"]
        return ", ".join([*told, *(f"{n} {o}" for o, n in others)])

    def to_json(self) -> dict[str, object]:
        return {
            "source_role": self.source_role,
            "destination_role": self.destination_role,
            "service": self.service,
            "expected": self.expected,
            "probes": self.probes,
            "as_expected": self.as_expected,
            "outcomes": dict(sorted(self.outcomes.items())),
        }


def table(results: Sequence[ProbeResult]) -> list[Row]:
    """Rows by role pair: a row per service expected open, or with any probe
    not as expected; the rest (closed, as expected) folded into one row."""
    groups: dict[tuple[str, str], dict[tuple[Service, str], list[ProbeResult]]] = {}
    for result in results:
        p = result.probe
        pair = groups.setdefault((p.source.role, p.destination.role), {})
        pair.setdefault((p.service, p.expected), []).append(result)
    rows = []
    for (source, destination), services in sorted(groups.items()):
        folded: list[ProbeResult] = []
        for (service, expected), members in sorted(services.items()):
            if expected == "closed" and all(r.verdict == "closed" for r in members):
                folded += members
                continue
            rows.append(_row(source, destination, service.text(), expected, members))
        if folded:
            count = len({r.probe.service for r in folded})
            label = f"{count} other{'s' if count > 1 else ''}"
            rows.append(_row(source, destination, label, "closed", folded))
    return rows


def _row(
    source: str, destination: str, service: str, expected: str, members: Sequence[ProbeResult]
) -> Row:
    outcomes: Counter[str] = Counter()
    as_expected = 0
    for result in members:
        if result.verdict == expected:
            as_expected += 1
            outcomes[expected] += 1
        elif result.verdict in ("unproven", NOT_PROBED):
            outcomes[result.verdict] += 1
        else:
            outcomes["open" if result.outcome == "open" else result.outcome] += 1
    return Row(source, destination, service, expected, outcomes, as_expected)


def table_lines(results: Sequence[ProbeResult]) -> list[str]:
    header = ("source", "destination", "service", "expected", "observed")
    cells = [header, *((r.source_role, r.destination_role, r.service, r.expected, r.observed)
                       for r in table(results))]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in cells
    ]


def _services(services: Sequence[Service]) -> str:
    return " ".join(s.text() for s in services) or "none"
