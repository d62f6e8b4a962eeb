"""Compile + emit time for growing policies: 10 to 10,000 rules.

Each policy has 20 roles and role-to-role flows on distinct ports (each flow
is two rules: egress on the source, ingress on the destination). The quota
check is off for the sweep, since a real group stops at 60 rules a side.
Prints the time per size, the time per rule (flat means linear growth), and
whether 10,000 rules compile and emit in under 1 s.

    python benchmarks/scale.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

from hasg import Policy, compile_policy, to_hcl

SIZES = (10, 100, 1_000, 5_000, 10_000)
ROLES = [f"r{i}" for i in range(20)]
TARGET_SECONDS = 1.0


def policy_with(rules: int) -> Policy:
    flows = []
    for index in range(rules // 2):
        source = ROLES[index % len(ROLES)]
        destination = ROLES[(index // len(ROLES) + 1 + index) % len(ROLES)]
        flows.append(
            {
                "source": source,
                "destination": destination,
                "ports": [1024 + index],
                "description": f"flow {index} of the scale benchmark",
            }
        )
    return Policy.model_validate(
        {
            "cluster": "scale",
            "roles": [{"id": r, "description": f"role {r}"} for r in ROLES],
            "flows": flows,
        }
    )


def measure(policy: Policy, repeats: int) -> tuple[float, int]:
    times = []
    rules = 0
    for _ in range(repeats):
        start = time.perf_counter()
        blueprint = compile_policy(policy, check_quotas=False)
        to_hcl(blueprint)
        times.append(time.perf_counter() - start)
        rules = blueprint.rule_count()
    return statistics.median(times), rules


def main() -> int:
    print(f"{'rules':>7} {'compile+emit ms':>16} {'us/rule':>8} {'peak MiB':>9}")
    per_rule = {}
    for size in SIZES:
        policy = policy_with(size)
        seconds, rules = measure(policy, repeats=5 if size <= 1_000 else 3)
        tracemalloc.start()
        to_hcl(compile_policy(policy, check_quotas=False))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        per_rule[size] = seconds / rules * 1e6
        print(f"{rules:7d} {seconds * 1000:16.1f} {per_rule[size]:8.1f} {peak / 2**20:9.1f}")
    largest = per_rule[SIZES[-1]]
    growth = largest / per_rule[1_000]
    print(f"\ntime per rule at 10,000 vs 1,000 rules: {growth:.2f}x (1.0 = linear)")
    total = largest * 10_000 / 1e6
    verdict = "meets" if total < TARGET_SECONDS else "MISSES"
    print(f"10,000 rules: {total:.3f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
