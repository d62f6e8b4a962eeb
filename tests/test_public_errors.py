"""The README's promise: `except hasg.HasgError` catches every expected failure
of every public function that takes the user's input. Each is walked with bad
input; anything but a one-line HasgError (a pydantic ValidationError, a
FileNotFoundError, an AttributeError) fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hasg
from hasg.errors import HasgError, PolicyError

BAD_CATALOG_ARGUMENTS: list[dict[str, Any]] = [
    {"cluster": "sg-x"},
    {"cluster": None},
    {"cluster": "a" * 200},
    {"ssh_port": "22"},
    {"ssh_port": 22.0},
    {"ssh_port": True},
    {"ssh_port": 0},
    {"ssh_port": 70000},
    {"user_cidrs": "10.0.0.0/8"},  # a string is a sequence of characters, not of CIDRs
    {"user_cidrs": ["fe80::%eth0/64"]},
    {"user_cidrs": ["10.0.0.1/8"]},
    {"admin_cidrs": [None]},
    {"admin_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]},  # SSH to the world, in two halves
    {"admin_cidrs": ["::/1", "8000::/1"]},
    {"internet_egress_ports": [70000]},
    {"internet_egress_ports": ["x"]},
    {"internet_egress_ports": 443},
    {"user_prefix_lists": ["pl-0123abcd"]},
    {"user_prefix_lists": [{"prefix_list_id": "pl-0123abcd", "max_entries": "9"}]},
    {"tags": {"aws:x": "y"}},
    {"tags": {"hasg:owner": "y"}},
    {"tags": {"a": 1}},
    {"tags": {f"t{i}": "v" for i in range(46)}},
    {"tags": {"cafe\u0301": "v"}},
]


@pytest.mark.parametrize("arguments", BAD_CATALOG_ARGUMENTS, ids=lambda a: repr(a)[:60])
def test_chef_automate_ha_refuses_bad_arguments_with_a_hasg_error(
    arguments: dict[str, Any],
) -> None:
    with pytest.raises(HasgError) as caught:
        hasg.chef_automate_ha(**arguments)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, PolicyError)
    assert any(name in str(caught.value) for name in arguments), str(caught.value)


def test_the_issue_example() -> None:
    with pytest.raises(hasg.HasgError, match="group names must not start with 'sg-'"):
        hasg.chef_automate_ha(cluster="sg-x")


MODEL_CALLS: list[Callable[[], object]] = [
    lambda: hasg.Port.tcp(-5),
    lambda: hasg.Port.model_validate("tcp/1-2-3"),
    lambda: hasg.Role(id="", description="x"),
    lambda: hasg.RolePeer.model_validate({"role": 1}),
    lambda: hasg.CidrPeer(cidr="fe80::%eth0/64"),
    lambda: hasg.PrefixListPeer(prefix_list_id="pl-x", max_entries=0),
    lambda: hasg.CidrListPeer.model_validate({"cidr_list": "other"}),
    lambda: hasg.VpcPeer.model_validate({"vpc": "yes"}),
    lambda: hasg.Flow.model_validate({}),
    lambda: hasg.Policy.model_validate_json("{"),
    lambda: hasg.Policy.model_validate([]),
]


@pytest.mark.parametrize("call", MODEL_CALLS)
def test_every_model_refuses_with_a_policy_error(call: Callable[[], object]) -> None:
    with pytest.raises(PolicyError) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_files_that_cannot_be_read_are_hasg_errors(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path, tmp_path / "x.json"):
        with pytest.raises(hasg.PolicyFileError, match=f"^{path}: cannot read"):
            hasg.load_policy_file(path)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cluster", "ssh_port", "user_cidrs", "admin_cidrs", "tags"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=20),
            st.lists(st.text(max_size=20), max_size=3),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        ),
    )
)
def test_any_catalog_arguments_give_a_policy_or_a_hasg_error(arguments: dict[str, Any]) -> None:
    try:
        hasg.chef_automate_ha(**arguments)
    except HasgError as error:
        assert "\n" not in str(error)


def test_every_error_class_lives_in_hasg_errors() -> None:
    """One home for every error (docs/architecture.md): a class defined in a
    backend would be missed by whoever reads hasg/errors.py for what to catch."""
    import importlib
    import inspect
    import pkgutil

    strays = set()
    for module in pkgutil.walk_packages(hasg.__path__, "hasg."):
        if module.name.endswith("__main__"):
            continue
        for _, value in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(value, HasgError) and value.__module__ != "hasg.errors":
                strays.add(f"{value.__module__}.{value.__qualname__}")
    assert not strays
