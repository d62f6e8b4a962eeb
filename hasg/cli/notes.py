"""What a command says on stderr beside its output: warnings, one line each."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hasg.core.blueprint import Blueprint


def warn_lockouts(blueprint: Blueprint) -> None:
    """`hasg: warning: nobody can reach bastion on tcp/22: ...`, for each role
    an empty CIDR list keeps everyone from (`hasg.core.lockouts`)."""
    from hasg.core.lockouts import lockouts

    for line in lockouts(blueprint):
        print(f"hasg: warning: {line}", file=sys.stderr)
