"""hasg's version: one place, read by the package, the user agent and pyproject.toml."""

__version__ = "0.1.0"
