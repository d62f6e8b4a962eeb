"""Writing a target's files: all of them, or none.

`hasg emit` computes every file before it writes one (a refusal writes
nothing). Writing can still fail on what is already in `--out`: a directory
where a file goes (`198.18.0.10.nft/`), a file where a directory goes, a
name the file system refuses. So every path is checked first, every file is
written beside its place under a temporary name, and only when all are
written are they renamed into place (a rename within one directory is
atomic: a reader sees the old file or the new one, never half of it). Any
failure removes what this run made and is one `UsageError` naming the path;
nothing of the run is left.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hasg.errors import UsageError


def write_all(files: Mapping[str, str], out: Path) -> None:
    """Write each `{relative name: text}` under `out`, all or nothing."""
    for name in files:
        _check_place(out, name)
    made: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in files.items():
            target = out / name
            made += _make_directories(target.parent)
            # Named after the file, so a name too long for the file system
            # fails here, while nothing is in place yet.
            descriptor, staging = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".hasg-tmp", dir=target.parent
            )
            staged.append((Path(staging), target))
            # mkstemp makes the file 0600; keep what the file had, else what
            # writing it directly would have given it.
            os.fchmod(descriptor, _mode_of(target))
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
    except OSError as error:
        _undo(staged, made)
        where = error.filename or str(out)
        raise UsageError(
            f"--out {out}: cannot write {where}: {error.strerror or error}; nothing was written"
        ) from None
    for done, (temporary, target) in enumerate(staged):
        try:
            os.replace(temporary, target)
        except OSError as error:  # a rename in one directory: not seen to fail
            _undo(staged[done:], [])
            raise UsageError(
                f"--out {out}: cannot write {target}: {error.strerror or error}; "
                f"{done} of {len(staged)} files were written"
            ) from None


def _mode_of(target: Path) -> int:
    if target.exists():
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _check_place(out: Path, name: str) -> None:
    """Refuse, before anything is written, a name whose place `out` fills
    with something else: a directory where the file goes, a file where one
    of its directories goes."""
    target = out / name
    for parent in [out, *reversed(target.relative_to(out).parents[:-1])]:
        place = parent if parent == out else out / parent
        if place.exists() and not place.is_dir():
            raise UsageError(
                f"--out {out}: {place} is a file, where {name} needs a directory; "
                "nothing was written"
            )
    if target.is_dir():
        raise UsageError(
            f"--out {out}: {target} is a directory, where hasg writes the file {name}; "
            "nothing was written"
        )


def _make_directories(directory: Path) -> list[Path]:
    """Make `directory` and its missing parents; the ones made, outermost first."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    made = []
    for path in reversed(missing):
        path.mkdir()
        made.append(path)
    return made


def _undo(staged: list[tuple[Path, Path]], made: list[Path]) -> None:
    for temporary, _ in staged:
        temporary.unlink(missing_ok=True)
    for directory in reversed(made):
        with contextlib.suppress(OSError):  # not empty: something else is in it now
            directory.rmdir()
