"""Start-up cost of `hasg emit-hcl`, side by side with `python -c "import pydantic"`.

Runs the commands interleaved (so that load on the machine hits both alike),
reports the median wall time of each, the ratio, and each command's peak
resident memory. Target: `hasg emit-hcl` at most 2.5x the baseline (issue 9).

    python benchmarks/startup.py [--runs 30] [--breakdown]

--breakdown also runs `hasg emit-hcl`'s steps one by one in fresh
interpreters and reports each step's median CPU time (user + system, which
machine load distorts less than wall time).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_RATIO = 2.5


def hasg_command() -> list[str]:
    script = Path(sys.executable).with_name("hasg")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hasg.cli"]


def run_once(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run of the command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return elapsed, usage.ru_maxrss


# `hasg emit-hcl`, step by step, as the command runs them; each step's CPU ms
# is printed as JSON. The first two steps are what the one-model floor pays too.
_STEPS = """
import json, time
steps = {}
last = time.process_time()
def step(name):
    global last
    now = time.process_time()
    steps[name] = (now - last) * 1000
    last = now
import pydantic
step("import pydantic")
from pydantic import BaseModel
step("from pydantic import BaseModel")
import hasg.cli
hasg.cli._without_pydantic_plugins()  # as hasg.cli.main does first
step("import hasg.cli (argparse, the Blueprint types, errors)")
parser = hasg.cli.build_parser("emit-hcl")
args = parser.parse_args(["emit-hcl"])
step("declare and parse emit-hcl's options")
from hasg.catalog import chef_automate_ha
from hasg.core.compile import compile_policy
step("import the policy models and the compiler")
policy = chef_automate_ha()
step("validate the built-in policy (builds Policy's validator)")
blueprint = compile_policy(policy)
step("compile the Blueprint")
from hasg.backends.base import load_backend
backend = load_backend("terraform")
step("find and import the Terraform backend")
text = backend.as_one_text(backend.emit(blueprint, {"ssh_port": policy.ssh_port}))
step("write the HCL")
print(json.dumps(steps))
"""


def breakdown(runs: int) -> None:
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _STEPS], capture_output=True, text=True, check=True
        )
        for name, ms in json.loads(result.stdout).items():
            samples.setdefault(name, []).append(ms)
    print(f"\n{'hasg emit-hcl, step by step (CPU)':60} {'median ms':>10}")
    for name, values in samples.items():
        print(f"{name:60} {statistics.median(values):10.1f}")
    hasg_own = sum(statistics.median(v) for v in list(samples.values())[2:])
    print(f"{'everything after pydantic is imported':60} {hasg_own:10.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--breakdown", action="store_true", help="also time each step")
    args = parser.parse_args()
    commands = {
        "python -c 'import pydantic'": [sys.executable, "-c", "import pydantic"],
        "python -c 'from pydantic import BaseModel'": [
            sys.executable,
            "-c",
            "from pydantic import BaseModel",
        ],
        # The floor for any tool that validates with pydantic: one model, one value.
        "python: one pydantic model, validated": [
            sys.executable,
            "-c",
            "from pydantic import BaseModel\nclass A(BaseModel):\n    x: int\nA(x=1)",
        ],
        "hasg --help": [*hasg_command(), "--help"],
        "hasg emit-hcl": [*hasg_command(), "emit-hcl"],
    }
    # Byte-compile hasg as an install does: with PYTHONDONTWRITEBYTECODE set (as
    # in some shells and CI images) an editable checkout would otherwise be
    # compiled from source on every run, which is not start-up but a build.
    import hasg

    compileall.compile_dir(str(Path(hasg.__file__).parent), quiet=1)
    for command in commands.values():  # warm the file cache
        run_once(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, int] = dict.fromkeys(commands, 0)
    for _ in range(args.runs):
        for name, command in commands.items():
            elapsed, peak = run_once(command)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)

    baseline = statistics.median(times["python -c 'import pydantic'"])
    print(f"{'command':45} {'median ms':>10} {'ratio':>6} {'peak MiB':>9}")
    for name in commands:
        median = statistics.median(times[name])
        print(f"{name:45} {median * 1000:10.1f} {median / baseline:6.2f} {peaks[name] / 1024:9.1f}")
    ratio = statistics.median(times["hasg emit-hcl"]) / baseline
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(
        f"\nhasg emit-hcl / import pydantic = {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target)"
    )
    print(f"runs: {args.runs} interleaved, python {sys.version.split()[0]}")
    if args.breakdown:
        breakdown(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
