"""Refusing a config.toml full of bad addresses: 1,000 to 20,000 of them.

Each bad address is one problem placed at its line and column. Finding each
position by rescanning the file made 20,000 of them (190 KB) take 57 s; the
positions are now found in one pass. Prints the time per size and per bad
address (flat means linear growth), and whether 20,000 are refused in under
1 s.

    python benchmarks/inventory.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from hasg.errors import InventoryError
from hasg.hosts.inventory import load_chef_config

SIZES = (1_000, 5_000, 10_000, 20_000)
TARGET_SECONDS = 1.0
CONFIG = Path(__file__).resolve().parent.parent / "tests" / "hosts" / "fixtures" / "config.toml"


def config_with(bad: int) -> str:
    text = CONFIG.read_text(encoding="utf-8")
    # One address a line, as a hand-edited list is written.
    values = ",\n  ".join(f'"198.18.{i // 200}.{i % 200}x"' for i in range(bad))
    lines = [
        f"automate_private_ips = [{values}]" if line.startswith("automate_private_ips") else line
        for line in text.splitlines()
    ]
    return "\n".join(lines).replace('instance_count = "2"', f'instance_count = "{bad}"', 1) + "\n"


def seconds(text: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            load_chef_config(text, name="config.toml")
        except InventoryError as error:
            assert len(error.problems) >= 1
        else:
            raise AssertionError("a config.toml of bad addresses was accepted")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    print(f"{'bad addresses':>14} {'file':>10} {'time':>10} {'per address':>12}")
    last = 0.0
    for size in SIZES:
        text = config_with(size)
        last = seconds(text)
        per = last / size * 1e6
        print(f"{size:>14,} {len(text.encode()):>8,} B {last * 1e3:>7.1f} ms {per:>9.1f} us")
    met = last < TARGET_SECONDS
    print(f"{'met' if met else 'MISSED'}: {SIZES[-1]:,} bad addresses in {last:.2f} s < 1 s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
