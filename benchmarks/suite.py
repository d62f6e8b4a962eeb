"""The test suite's wall time, as the README runs it, for a number of workers.

Issue 17 asks for pytest in under 4 minutes on a 2-core machine. This runs
`python -m pytest -q -n N` once per N given (`auto`: a worker more than the
cores, tests/conftest.py), with CI=true as .ci/run sets it, and prints per
run: workers, wall time, the CPU time of pytest and everything it started,
the time the cores sat idle meanwhile (Linux's /proc/stat, all cores summed:
the workers waiting rather than working), the 1-minute load average before
it began (other work on the machine slows a run), and pytest's own last line.

    python benchmarks/suite.py auto 3

A run takes minutes, and the numbers drift with the machine's load and speed
(docs/benchmarks.md): compare runs made back to back, and more than one pair.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def idle_seconds() -> float | None:
    """Seconds all cores have been idle since boot (None where unknown)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return int(fields[4]) / os.sysconf("SC_CLK_TCK")  # "cpu user nice system idle ..."


def run(workers: str) -> tuple[float, float, float | None, str]:
    """Wall seconds, CPU seconds (user and system, children included), the
    cores' idle seconds, pytest's last line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    idle_before = idle_seconds()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", workers, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    idle_after = idle_seconds()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    idle = None if idle_before is None or idle_after is None else idle_after - idle_before
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
    return wall, cpu, idle, last


def main(argv: list[str]) -> int:
    print(f"cores: {os.cpu_count()}")
    print(f"{'workers':>8}  {'wall':>8}  {'CPU':>8}  {'idle':>8}  {'load':>5}  pytest")
    for workers in argv or ["auto"]:
        load = os.getloadavg()[0]
        wall, cpu, idle, last = run(workers)
        shown = "-" if idle is None else f"{idle:.1f}s"
        print(
            f"{workers:>8}  {wall:7.1f}s  {cpu:7.1f}s  {shown:>8}  {load:5.2f}  {last}", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
