"""Fixtures of the Terraform tests.

checkov runs from a virtual environment of its own (it pins an old boto3 and
ships a top-level `hcl2` that shadows python-hcl2): `.ci/install-checkov`
makes it, .ci/run exports its path as HASG_CHECKOV, and without that variable
the tests look in .venv-checkov/. When it is missing the checkov tests fail
and print the install command rather than skip: a skipped security scan reads
like a passed one in a summary line. They do not install it themselves either:
a test that spends minutes downloading packages, or fails because a registry is
slow, is a worse surprise than a clear instruction.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from terraform.tooling import CHECKOV_INSTALL, CHECKOV_VARIABLE, REPO, Checkov


@pytest.fixture(scope="session")
def checkov() -> Checkov:
    configured = os.environ.get(CHECKOV_VARIABLE)
    executable = Path(configured) if configured else REPO / ".venv-checkov" / "bin" / "checkov"
    if not executable.is_file():
        pytest.fail(
            f"checkov is not installed at {executable}. Install it in its own virtual "
            f"environment with `{CHECKOV_INSTALL}` (from the repository root), or set "
            f"{CHECKOV_VARIABLE} to a checkov executable.",
            pytrace=False,
        )
    return Checkov(executable)
