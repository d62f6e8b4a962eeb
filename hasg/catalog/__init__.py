"""Built-in policies and the documented facts they are checked against."""

from hasg.catalog.chef_automate_ha import chef_automate_ha
from hasg.catalog.documented_table import DOCUMENTED_TABLE, ERRATA, DocumentedCell

__all__ = ["DOCUMENTED_TABLE", "ERRATA", "DocumentedCell", "chef_automate_ha"]
