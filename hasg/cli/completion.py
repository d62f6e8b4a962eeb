"""`hasg completion bash|zsh`: the shell's completion script, made from the parser.

shtab (PyPI) writes the script from argparse's own parser, so the completions
are the options `hasg --help` documents, with no copy to keep in step. Only
this command imports it (and the backends): every other run starts without.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script of `parser` (the whole `hasg` parser) for `shell`."""
    import shtab

    _complete_targets(parser)
    for command in (parser, *_descendants(parser)):
        for action in command._actions:
            if action.type is Path:
                # shtab reads this attribute: complete a path, not a word.
                where = shtab.DIRECTORY if action.metavar == "DIR" else shtab.FILE
                action.complete = where  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))


def _complete_targets(parser: argparse.ArgumentParser) -> None:
    """`hasg emit TARGET` parses a target's options once it knows the target,
    so they are not in the parser: for the shell, `emit` becomes a parser with
    one subcommand per target, each with that target's options."""
    from hasg.backends.base import load_backend, target_names
    from hasg.cli import Parser, target_parser

    commands = _subcommands(parser)
    if commands is None or "emit" not in commands.choices:
        return
    emit: argparse.ArgumentParser = Parser(
        prog="hasg emit", description=commands.choices["emit"].description
    )
    targets = emit.add_subparsers(dest="target", metavar="TARGET")
    for name in target_names():
        backend = load_backend(name)
        targets.add_parser(
            name, parents=[target_parser(backend)], add_help=False, help=backend.summary
        )
    commands.choices["emit"] = emit


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _descendants(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    commands = _subcommands(parser)
    found: list[argparse.ArgumentParser] = []
    for child in commands.choices.values() if commands is not None else ():
        found += [child, *_descendants(child)]
    return found
