"""Built-in policies and the documented facts they are checked against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hasg.catalog.chef_automate_ha import chef_automate_ha

if TYPE_CHECKING:
    from hasg.catalog.documented_table import DOCUMENTED_TABLE, ERRATA, DocumentedCell

__all__ = ["DOCUMENTED_TABLE", "ERRATA", "DocumentedCell", "chef_automate_ha"]


def __getattr__(name: str) -> Any:
    """The documented table on first use: only the coverage check and the docs
    read it, and parsing it is start-up `hasg emit-hcl` need not pay."""
    if name in ("DOCUMENTED_TABLE", "ERRATA", "DocumentedCell"):
        from hasg.catalog import documented_table

        return getattr(documented_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
