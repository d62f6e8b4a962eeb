"""A command's output, all of it, or an error.

A stop and a continue (Ctrl-Z then `fg`, `kill -STOP` then `-CONT`, a
profiler or debugger attaching) while hasg is blocked writing to a full pipe
interrupts write(2), which then returns short: it wrote part of the data.
CPython's buffered writer (3.11) hands that short count up, and
`sys.stdout.write` drops the rest without an error. So `hasg probe --json |
jq`, stopped and continued, read a report cut in the middle from a command
that exited 0 (tests/test_output.py shows it on `hasg emit`). Every command
writes its output through `write_out`, which writes to the descriptor until
every byte is out: the whole output, or an error. A reader that stops early
(`| head`) is one line and exit code 1, never a traceback, never exit 0.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from hasg.errors import HasgError


def write_out(text: str, stream: TextIO | None = None) -> None:
    """Write all of `text` to `stream` (standard output by default)."""
    stream = sys.stdout if stream is None else stream
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        # Not a file (a StringIO, a test's capture): no write(2) to cut short.
        stream.write(text)
        return
    stream.flush()  # what was written through the stream goes first
    encoded = text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    data = memoryview(encoded)
    try:
        while data:
            data = data[os.write(descriptor, data) :]
    except BrokenPipeError:
        written = len(encoded) - len(data)
        raise HasgError(
            f"the output's reader closed it after {written:,} of {len(encoded):,} bytes"
        ) from None
