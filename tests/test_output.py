"""A command's output arrives whole, even when the command is stopped and
continued while it waits on a full pipe (Ctrl-Z then `fg`, `kill -STOP`
then `-CONT`).

The stop interrupts write(2), which returns short; CPython's buffered
writer then dropped the rest without an error (hasg/cli/output.py). These
run the CLI as a user does, its output a pipe nobody reads yet, made one page
small so that a few kilobytes fill it."""

from __future__ import annotations

import array
import fcntl
import io
import os
import re
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from hasg.cli.output import write_out

ROOT = Path(__file__).resolve().parents[1]
F_SETPIPE_SZ = 1031  # linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 7
COMMANDS = [
    ("emit", "cloudformation", "--format", "json"),  # `hasg emit` to stdout
    ("coverage", "--format", "sarif"),  # a checker's report
]


def blocked_on_the_pipe(pid: int, pipe: int, capacity: int) -> None:
    """Wait until `pid` sleeps with the pipe full: blocked in write(2)."""
    held = 0
    for _ in range(1000):
        pending = array.array("i", [0])
        fcntl.ioctl(pipe, termios.FIONREAD, pending)
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
        held = held + 1 if pending[0] >= capacity and state == "S" else 0
        if held == 3:  # three looks in a row, 20 ms apart
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never blocked on its output pipe")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_stop_and_continue_while_the_pipe_is_full_loses_nothing(
    command: tuple[str, ...],
) -> None:
    argv = [sys.executable, "-m", "hasg.cli", *command]
    whole = subprocess.run(argv, capture_output=True, cwd=ROOT, check=True).stdout

    read_end, write_end = os.pipe()
    capacity = fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    assert len(whole) > 2 * capacity  # so the command must wait on the pipe
    process = subprocess.Popen(argv, stdout=write_end, stderr=subprocess.DEVNULL, cwd=ROOT)
    os.close(write_end)
    try:
        blocked_on_the_pipe(process.pid, read_end, capacity)
        process.send_signal(signal.SIGSTOP)
        process.send_signal(signal.SIGCONT)
        with os.fdopen(read_end, "rb") as pipe:
            got = pipe.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == 0
    assert len(got) == len(whole) and got == whole


def test_a_stream_without_a_descriptor_is_written_as_a_stream() -> None:
    """The library's callers may hand any text stream (a test's capture, a
    StringIO): it gets the text through its own write."""
    stream = io.StringIO()
    write_out("x" * 100_000, stream)
    assert stream.getvalue() == "x" * 100_000


def test_a_reader_that_stops_early_is_one_line_and_exit_1() -> None:
    """`hasg ... | head`: the command cannot write the rest. Not exit 0 (the
    output was not delivered whole), not a traceback: one line."""
    read_end, write_end = os.pipe()
    capacity = fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    argv = [sys.executable, "-m", "hasg.cli", *COMMANDS[0]]
    process = subprocess.Popen(argv, stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    os.close(write_end)
    blocked_on_the_pipe(process.pid, read_end, capacity)
    os.read(read_end, 10)
    os.close(read_end)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    lines = [line for line in err.splitlines() if not line.startswith("hasg: warning:")]
    assert len(lines) == 1, err
    assert re.fullmatch(
        r"hasg: error: the output's reader closed it after [\d,]+ of [\d,]+ bytes", lines[0]
    )
