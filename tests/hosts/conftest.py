"""Fixtures of the host firewall tests: the lab inventory and the built-in policy."""

from __future__ import annotations

from pathlib import Path

import pytest

import hasg
from hasg.core.blueprint import Blueprint
from hasg.hosts.inventory import Inventory, load_inventory

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="session")
def chef_blueprint() -> Blueprint:
    return hasg.compile_policy(hasg.chef_automate_ha())


@pytest.fixture(scope="session")
def lab_inventory() -> Inventory:
    return load_inventory(FIXTURES / "lab.yaml")
