"""What a file hasg reads may cost: one capped reader and one nesting guard
for every file a person or a host hands it (policy files, inventories,
`nft -j` rulesets).

A hostile or broken file must end in one line naming it, never in a process
killed for memory (`--inventory /dev/zero`) or a `RecursionError` (5,000
nested brackets: Python's json, tomllib and PyYAML all recurse once per
level). The caller names the limit, what the file is, and the HasgError
subclass it raises, so each reader keeps its own error type and the policy,
the inventory and the ruleset are refused by one piece of code.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from pathlib import Path
from typing import Literal

from hasg.errors import HasgError, PolicyFileError, Problem

Syntax = Literal["json", "toml"]


def refusal(error: type[HasgError], problem: Problem) -> HasgError:
    """`problem` as the caller's error: a file error takes a list of problems
    (PolicyFileError, InventoryError), any other HasgError one line."""
    if issubclass(error, PolicyFileError):
        return error([problem])
    return error(str(problem))


def read_text_capped(
    path: Path,
    limit: int,
    what: str,
    error: type[HasgError],
    *,
    encoding: str = "utf-8",
) -> str:
    """The text of `path`, having read at most `limit` + 1 bytes of it.

    A larger file (or an endless one: /dev/zero, a pipe that never ends) is
    refused by its size, `what` naming what no such file is ("policy",
    "inventory"); a file that cannot be read or is not text in `encoding` is
    refused too, each as one `error` naming the file."""
    name = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as failure:
        reason = failure.strerror or type(failure).__name__
        raise refusal(error, Problem(0, 0, name, "", f"cannot read: {reason}")) from None
    if len(data) > limit:
        message = f"is larger than {limit:,} bytes, which no {what} is"
        raise refusal(error, Problem(0, 0, name, "", message))
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as failure:
        line = data.count(b"\n", 0, failure.start) + 1
        column = failure.start - data.rfind(b"\n", 0, failure.start)  # in bytes
        message = f"is not UTF-8 text (byte {failure.start})"
        raise refusal(error, Problem(line, column, name, "", message)) from None


# What opens a level in each syntax, and what holds brackets that open none:
# strings, and TOML's comments. One pass, so the guard costs what reading does.
_TOKENS: dict[Syntax, re.Pattern[str]] = {
    "json": re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]'),
    "toml": re.compile(
        r'"""(?:[^\\]|\\[\s\S])*?"""'
        r"|'''[\s\S]*?'''"
        r'|"(?:[^"\\\n]|\\.)*"'
        r"|'[^'\n]*'"
        r"|#[^\n]*"
        r"|[\[\]{}]"
    ),
}


def check_nesting(
    text: str, limit: int, name: str, error: type[HasgError], *, syntax: Syntax
) -> None:
    """Refuse `text` where it first nests arrays and tables (objects) more than
    `limit` levels deep, at that bracket's line and column, before a recursive
    parser reaches Python's recursion limit on it."""
    depth = 0
    for token in _TOKENS[syntax].finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                line, column = position(text, token.start())
                message = f"nested more than {limit} levels deep"
                raise refusal(error, Problem(line, column, name, "", message))
        elif bracket in "]}":
            depth = max(depth - 1, 0)


def position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of `index` in `text`."""
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


class LineIndex:
    """Line and column of many offsets of one text, each found in O(log n):
    error positions for thousands of problems stay linear in the file."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def position(self, index: int) -> tuple[int, int]:
        line = bisect_right(self.starts, index) - 1
        return line + 1, index - self.starts[line] + 1
