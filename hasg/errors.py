"""Errors hasg reports to its users: each one a single line that says what and where."""

from __future__ import annotations


class HasgError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits 1."""


class QuotaError(HasgError):
    """A group would hold more rules than AWS allows."""


class PolicyError(HasgError):
    """A policy that validates field by field but cannot be compiled as a whole."""
