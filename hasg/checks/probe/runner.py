"""One run of `hasg probe`, in two steps over one session per host:

1. every agent listens on every probed service that is free on its host's
   addresses (and says which are held by a program, and which it could not
   bind);
2. once all listen, every agent tries all its probes at once, and answers.

Then every session ends (`ssh.stop`), on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hasg.checks.probe import ssh
from hasg.checks.probe.plan import PlannedProbe, ProbePlan
from hasg.checks.probe.report import Listener, ListenerState, ProbeReport, judge
from hasg.hosts.inventory import Host
from hasg.hosts.probes import Service

# Seconds an agent may take to start and bind, beyond SSH's connect timeout.
START_SECONDS = 20.0
# Probes in flight per agent that the deadline assumes (the agent allows more
# where file descriptors allow: hasg.checks.probe.agent.window_size).
ASSUMED_WINDOW = 256
NOT_AN_ADDRESS = "is not an address of this host"


def run(plan: ProbePlan, access: ssh.Access, *, timeout: float) -> ProbeReport:
    started = ssh.start(plan.hosts, access)
    try:
        return _run(plan, started, access, timeout)
    finally:
        ssh.stop(started)


def _run(
    plan: ProbePlan, sessions: Sequence[ssh.Session], access: ssh.Access, timeout: float
) -> ProbeReport:
    batches: dict[Host, list[PlannedProbe]] = {h: [] for h in plan.hosts}
    for probe in plan.probes:
        batches[probe.source].append(probe)
    probing = timeout * (math.ceil(max(map(len, batches.values()), default=0) / ASSUMED_WINDOW) + 2)
    start_seconds = access.connect_timeout + START_SECONDS
    peers = sorted({str(a) for h in plan.hosts for a in h.addresses})
    for session in sessions:
        request: dict[str, object] = {"peers": peers, "lifetime": start_seconds + probing + 30}
        for protocol in ("tcp", "udp"):
            request[protocol] = [
                [str(address), service.port]
                for service, address in plan.listeners(session.host)
                if service.protocol == protocol
            ]
        session.send({"listen": request})
    ssh.wait_for(sessions, "listening", start_seconds)

    listeners: dict[tuple[Host, Service], list[Listener]] = {}
    by_port: dict[tuple[Host, str, str, int], Listener] = {}
    for session in sessions:
        told = session.said("listening")
        if told is None:
            continue
        for protocol, address, port, state, detail in told["listening"]:
            heard = Listener(_state(state), str(detail))
            if NOT_AN_ADDRESS in heard.detail:
                session.fail(f"{address} {NOT_AN_ADDRESS} (SSH reached another machine?)")
            service = Service(protocol, int(port))
            listeners.setdefault((session.host, service), []).append(heard)
            by_port[(session.host, protocol, address, int(port))] = heard

    failures = {s.host: s.failure for s in sessions if s.failure is not None}
    for session in sessions:
        if session.failure is None:
            probes = [
                [
                    p.ident,
                    p.service.protocol,
                    str(p.source_address),
                    str(p.destination_address),
                    p.service.port,
                ]
                for p in batches[session.host]
                if p.destination not in failures
            ]
            session.send({"probe": {"timeout": timeout, "probes": probes}})
    live = [s for s in sessions if s.failure is None]
    ssh.wait_for(live, "results", probing + 10)

    outcomes: dict[int, tuple[str, str]] = {}
    for session in sessions:
        told = session.said("results")
        if told is not None:
            for ident, outcome, detail in told["results"]:
                outcomes[int(ident)] = (str(outcome), str(detail))
    failures = {s.host: s.failure for s in sessions if s.failure is not None}
    results = []
    for probe in plan.probes:
        key = (probe.destination, probe.service.protocol, str(probe.destination_address))
        listener = by_port.get((*key, probe.service.port))
        outcome, detail = outcomes.get(probe.ident, (None, ""))
        down = [h.name for h in (probe.source, probe.destination) if h in failures]
        why_not = f"{' and '.join(down) or 'the agent'} could not be probed"
        results.append(judge(probe, outcome, detail, listener, why_not))
    return ProbeReport(
        plan,
        tuple(results),
        failures,
        {key: tuple(value) for key, value in listeners.items()},
        {
            s.host: str(hello["hello"].get("python", ""))
            for s in sessions
            if (hello := s.said("hello")) is not None
        },
        timeout,
    )


def _state(text: object) -> ListenerState:
    states: tuple[ListenerState, ...] = ("ours", "service", "error")
    return next((s for s in states if s == text), "error")
