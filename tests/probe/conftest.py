"""Fixtures of the probe tests: a site of real sshd and real kernels, and the
Python 3.6 that the agent must run on."""

from __future__ import annotations

import glob
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hasg.hosts.inventory import Inventory

# The built-in policy and the five-host lab of the host firewall tests: one definition.
from tests.hosts.conftest import chef_blueprint as chef_blueprint
from tests.hosts.conftest import lab_inventory as lab_inventory
from tests.hosts.lab import Lab, require, require_lab
from tests.probe.site import SshSite


@pytest.fixture(scope="module")
def site(lab_inventory: Inventory) -> Iterator[SshSite]:
    require_lab("sshd", "ssh", "ssh-keygen")
    with (
        tempfile.TemporaryDirectory(prefix="hasg-probe-") as directory,
        Lab(lab_inventory.hosts) as lab,
    ):
        built = SshSite(lab, lab_inventory, Path(directory))
        try:
            built.build()
            yield built
        finally:
            built.close()


def python36() -> str:
    """A Python 3.6 (RHEL 8's platform-python is 3.6): pyenv's (its own
    binary, not the shim, which runs whatever pyenv chooses), or on PATH."""
    installed = sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.6*/bin/python3.6")))
    found = installed[-1] if installed else shutil.which("python3.6")
    require(None if found else "no Python 3.6 (python3.6 on PATH, or pyenv's 3.6)", "it")
    assert found is not None
    return found
