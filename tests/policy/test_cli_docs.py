"""docs/cli.md shows what the commands print, and names every command and option."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

import hasg
from hasg.checks.graph import to_mermaid
from hasg.checks.reachability import verify_policy, verify_text
from hasg.cli import build_parser

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def fenced(text: str, language: str = "") -> list[str]:
    """The bodies of the fenced blocks of one language ("" for none)."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    return [body for lang, body in blocks if lang == language]


def test_the_picture_in_the_cli_docs_is_what_hasg_graph_draws() -> None:
    (picture,) = fenced(CLI_DOC.read_text(encoding="utf-8"), "mermaid")

    assert picture == to_mermaid(hasg.chef_automate_ha())


def test_the_verify_example_in_the_cli_docs_is_what_hasg_verify_prints() -> None:
    printed = verify_text(verify_policy(hasg.chef_automate_ha()))

    assert printed in fenced(CLI_DOC.read_text(encoding="utf-8"))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_the_cli_docs_name_every_command_and_option(command: str) -> None:
    doc = CLI_DOC.read_text(encoding="utf-8")
    assert f"hasg {command}" in doc or f"`{command}`" in doc
    for action in subcommands()[command]._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}" in doc, f"{command} {option}"
