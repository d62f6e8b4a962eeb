"""Generated files are current: what is committed is what the generators write now."""

from __future__ import annotations

from pathlib import Path

import pytest

from hasg.docs import GENERATED

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_file_is_current(name: str) -> None:
    committed = (ROOT / name).read_text(encoding="utf-8")
    assert committed == GENERATED[name](), f"{name} is stale: run `python -m hasg.docs`"


def test_ports_doc_covers_every_cell() -> None:
    text = (ROOT / "docs" / "ports.md").read_text(encoding="utf-8")
    assert "42 of 42 cells covered." in text
    assert "TCP 9683: read as 9638" in text
