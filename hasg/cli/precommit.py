"""What the pre-commit hook `hasg-verify-policy` runs (.pre-commit-hooks.yaml):
`hasg verify --policy FILE`, once for each policy file pre-commit names.

pre-commit appends the names of the staged files a hook matches to its
command line, all in one run, and `hasg verify --policy` checks one policy.
So the hook's entry is `python -m hasg.cli.precommit verify-policy`, which
checks each file in turn, its report headed by its name, and exits with the
worst exit code of them (1 when a policy cannot be read or has a breach).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hasg.cli.output import write_out
from hasg.errors import ExitCode

HOOKS = ("verify-policy",)


def main(argv: Sequence[str] | None = None) -> int:
    from hasg.cli import main as hasg

    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in HOOKS:
        print(f"usage: python -m hasg.cli.precommit {'|'.join(HOOKS)} FILE...", file=sys.stderr)
        return ExitCode.ERROR
    files = arguments[1:]
    options = [a for a in files if a.startswith("-")]
    if options:
        # pre-commit puts a hook's `args` before the file names: anything but
        # files would be read as a policy, or swallow one.
        print(
            f"hasg: error: hasg-verify-policy takes policy files only, not {' '.join(options)}",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    worst = 0
    for file in files:
        # Through write_out, as each report is: whole, and before the report.
        write_out(f"== {file}\n")
        worst = max(worst, hasg(["verify", "--policy", file]))
    return worst


if __name__ == "__main__":
    sys.exit(main())
