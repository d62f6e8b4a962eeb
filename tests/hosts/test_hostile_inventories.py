"""Inventories and rulesets a person or a host hands hasg, at their worst:
endless files, deep nesting, thousands of bad addresses, addresses no host
can have, and both address families in one role. Each is one line per
problem (file:line:column), exit 1, no traceback and nothing written; or,
where the input is good (both families in one role), a ruleset."""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hasg.cli import main
from hasg.errors import HasgError, InventoryError, NftReadError
from hasg.hosts.inventory import load_chef_config, load_inventory_text
from tests.hosts.conftest import FIXTURES
from tests.hosts.test_cli_hosts import refused

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

CONFIG = (FIXTURES / "config.toml").read_text(encoding="utf-8")
LAB = FIXTURES / "lab.yaml"
SITE = ["--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]


def with_private_ips(role: str, values: str) -> str:
    """config.toml with `<role>_private_ips = [values]` and a matching count."""
    count = values.count('"')
    text = re.sub(rf"(?m)^{role}_private_ips = .*$", f"{role}_private_ips = [{values}]", CONFIG)
    section = text.index(f"[{role}.config]")
    head, tail = text[:section], text[section:]
    tail = re.sub(r'(?m)^instance_count = "\d+"', f'instance_count = "{count // 2}"', tail, count=1)
    return head + tail


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("target", ["nftables", "firewalld"])
def test_an_endless_inventory_is_refused_by_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """`--inventory /dev/zero` was read whole, until the kernel killed hasg."""
    error = refused(capsys, tmp_path / "out", "emit", target, "--inventory", "/dev/zero", *SITE)
    assert (
        error == "hasg: error: /dev/zero: is larger than 1,048,576 bytes, which no inventory is\n"
    )


def test_an_endless_ruleset_is_refused_by_its_size(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "--nft", "/dev/zero", "--inventory", str(LAB), "--host", "198.18.0.10"]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert error == (
        "hasg: error: /dev/zero: is larger than 67,108,864 bytes, which no nft ruleset is\n"
    )


def test_deep_nesting_in_config_toml_is_refused_at_its_bracket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tomllib recurses once per level: 5,000 nested arrays were a RecursionError."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG + "\ndeep = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    line = CONFIG.count("\n") + 2
    error = refused(capsys, tmp_path / "out", "emit", "nftables", "--inventory", str(config))
    assert error == f"hasg: error: {config}:{line}:40: nested more than 32 levels deep\n"


def test_deep_nesting_in_a_yaml_inventory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("roles:\n  automate: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    error = refused(capsys, tmp_path / "out", "emit", "nftables", "--inventory", str(hosts))
    assert re.fullmatch(rf"hasg: error: {re.escape(str(hosts))}:2:\d+: .*deep\n", error)


def test_deep_nesting_in_an_nft_ruleset_is_refused_at_its_bracket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """json.loads recurses once per level: 5,000 nested arrays were a RecursionError."""
    dump = tmp_path / "ruleset.json"
    dump.write_text('{"nftables": ' + "[" * 5000 + "]" * 5000 + "}", encoding="utf-8")
    args = ["audit", "--nft", str(dump), "--inventory", str(LAB), "--host", "198.18.0.10"]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert printed.err == f"hasg: error: {dump}:1:77: nested more than 64 levels deep\n"


# The values a nesting guard meets: brackets, quotes and escapes inside strings,
# and (TOML) comments, none of which opens a level.
_TRICKY = st.text(alphabet='[]{}"\\#\n xa', max_size=12)
_ONE_LINE = _TRICKY.filter(lambda t: "\n" not in t)


def nested(
    leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str], depth: int
) -> st.SearchStrategy[Any]:
    """Values of arrays and tables (objects) nested at most `depth` deep."""
    if depth == 0:
        return leaves
    inner = nested(leaves, keys, depth - 1)
    return st.one_of(leaves, st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3))


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@given(
    nested(st.one_of(st.integers(), _TRICKY, st.booleans(), st.none()), _TRICKY, 7),
    st.integers(0, 8),
)
def test_the_nesting_guard_counts_jsons_levels_and_nothing_in_strings(
    value: Any, limit: int
) -> None:
    from hasg.core.input_files import check_nesting

    text = json.dumps(value, indent=1)
    deep = depth_of(value) > limit
    try:
        check_nesting(text, limit, "x.json", NftReadError, syntax="json")
    except NftReadError:
        assert deep
    else:
        assert not deep


def toml_value(value: Any) -> str:
    """TOML for a value built of arrays, inline tables, strings and integers."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes as JSON's for these
    return str(int(value))


@given(
    nested(st.one_of(st.integers(-9, 9), _ONE_LINE), st.sampled_from("abc"), 6),
    st.integers(0, 7),
    _ONE_LINE,
)
def test_the_nesting_guard_counts_tomls_levels_and_nothing_in_strings_or_comments(
    value: Any, limit: int, comment: str
) -> None:
    literal = comment.replace("'", "")
    text = f"# {comment}\nkey = {toml_value(value)} # {comment}\n'x' = '{literal}'\n"
    assert tomllib.loads(text)["key"] == value  # the text says what the test thinks it says
    from hasg.core.input_files import check_nesting

    deep = depth_of(value) > limit
    try:
        check_nesting(text, limit, "config.toml", InventoryError, syntax="toml")
    except InventoryError:
        assert deep
    else:
        assert not deep


# --------------------------------------------------------------------------- positions


def test_every_bad_address_is_placed_where_it_is_written_even_a_repeated_one() -> None:
    """Each problem's position was found by rescanning the file from the top
    (57 s for 20,000 bad addresses: benchmarks/inventory.py) and found the
    first spelling of a value every time, so a repeated one pointed twice at
    its first place."""
    text = with_private_ips("automate", '"198.18.0.300", "bad",\n  "198.18.0.300"')
    with pytest.raises(InventoryError) as caught:
        load_chef_config(text, name="config.toml")
    row = next(n for n, line in enumerate(text.splitlines(), 1) if "automate_private_ips" in line)
    places = [(p.line, p.column) for p in caught.value.problems]
    assert places == [(row, 25), (row, 41), (row + 1, 3)]


def test_twenty_thousand_bad_addresses_are_each_placed() -> None:
    values = ", ".join(f'"198.18.{i // 200}.{i % 200}x"' for i in range(20_000))
    text = with_private_ips("automate", values)
    with pytest.raises(InventoryError) as caught:
        load_chef_config(text, name="config.toml")
    problems = caught.value.problems
    assert len(problems) == 20_000
    row = next(n for n, line in enumerate(text.splitlines(), 1) if "automate_private_ips" in line)
    line = text.splitlines()[row - 1]
    for problem in problems[::997]:
        value = problem.message.split("'")[1]
        assert problem.line == row
        assert line[problem.column - 1 :].startswith(f'"{value}"')
    assert str(caught.value).endswith("... and 19980 more problems")


# --------------------------------------------------------------------------- host addresses


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("255.255.255.255", "the limited broadcast address"),
        ("0.0.0.0", "the unspecified address"),
        ("0.1.2.3", "'this network'"),
        ("127.0.0.2", "a loopback address"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "reserved (RFC 1112)"),
        ("::", "the unspecified address"),
        ("::1", "the loopback address"),
        ("::198.18.0.5", "IPv4-compatible"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "a multicast address"),
        ("::ffff:198.18.0.5", "IPv4-mapped IPv6 address; write 198.18.0.5"),
    ],
)
def test_an_address_no_host_can_have_is_refused_at_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, why: str
) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"roles:\n  automate: [198.18.0.10, '{address}']\n", encoding="utf-8")
    error = refused(capsys, tmp_path / "out", "emit", "nftables", "--inventory", str(hosts))
    assert error.startswith(f"hasg: error: {hosts}:2:27: roles.automate: ")
    assert why in error and error.count("\n") == 1
    toml = with_private_ips("automate", f'"198.18.0.10", "{address}"')
    with pytest.raises(InventoryError) as caught:
        load_chef_config(toml, name="config.toml")
    (problem,) = caught.value.problems
    row = next(n for n, line in enumerate(toml.splitlines(), 1) if "automate_private_ips" in line)
    assert (problem.line, problem.column) == (row, 40) and why in problem.message
    args = ["emit", "nftables", "--inventory", str(FIXTURES / "config.toml")]
    error = refused(
        capsys, tmp_path / "out", *args, "--bastion", address, "--network", "10.0.0.0/8"
    )
    assert why in error


@pytest.mark.parametrize(
    "address", ["198.18.0.5", "192.0.2.7", "10.1.2.3", "100.64.0.1", "fd00:18::5", "2001:db8::5"]
)
def test_lab_documentation_and_private_addresses_are_hosts(address: str) -> None:
    inventory = load_inventory_text(f"roles:\n  automate: ['{address}']\n")
    assert inventory.hosts[0].addresses == (ipaddress.ip_address(address),)


# Where random addresses rarely fall: the blocks the decision is about.
SPECIAL = ["0.0.0.0/8", "240.0.0.0/4", "::/96", "fe80::/10", "169.254.0.0/16", "fec0::/10"]


def independent_verdict(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` can be a host, by Python's own address properties."""
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        return False
    if address.is_link_local:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return not (address.is_reserved or address in ipaddress.ip_network("0.0.0.0/8"))
    if address.ipv4_mapped is not None or address.is_site_local:
        return False
    return address not in ipaddress.ip_network("::/96")


@given(
    st.one_of(
        st.ip_addresses(v=4),
        st.ip_addresses(v=6),
        st.sampled_from(
            ["0.0.0.0/8", "240.0.0.0/4", "::/96", "fe80::/10", "169.254.0.0/16"]
        ).flatmap(lambda n: st.ip_addresses(network=n)),
    )
)
def test_an_address_is_a_host_exactly_when_python_says_it_is_assignable_unicast(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    document = json.dumps({"roles": {"automate": [str(address)]}})
    if independent_verdict(address):
        assert load_inventory_text(document).hosts[0].addresses == (address,)
    else:
        with pytest.raises(InventoryError):
            load_inventory_text(document)


# --------------------------------------------------------------------------- both families


def test_both_families_in_one_role_make_a_ruleset_per_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role of an IPv4-only host and an IPv6-only host, and two bastions of
    either family: sorting the hosts compared an IPv4 address with an IPv6
    one (TypeError: ... are not of the same version)."""
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "roles:\n  automate: [198.18.0.10, 'fd00:18::11']\n  chef_server: [198.18.0.20]\n"
        "  opensearch: ['fd00:18::30']\n  postgresql: [198.18.0.40]\n",
        encoding="utf-8",
    )
    site = ["--bastion", "fd00:18::5", "--bastion", "198.18.0.5", "--network", "198.18.0.0/24"]
    out = tmp_path / "out"
    assert main(["emit", "nftables", "--inventory", str(hosts), *site, "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "198.18.0.10.nft",
        "198.18.0.20.nft",
        "198.18.0.40.nft",
        "198.18.0.5.nft",
        "fd00:18::11.nft",
        "fd00:18::30.nft",
        "fd00:18::5.nft",
    ]
    assert "@role_bastion_ipv6" in (out / "fd00:18::11.nft").read_text(encoding="utf-8")
    capsys.readouterr()
    dump = tmp_path / "empty.json"
    dump.write_text('{"nftables": []}', encoding="utf-8")
    audit = ["audit", "--nft", str(dump), "--inventory", str(hosts), *site, "--host", "fd00:18::11"]
    assert main(audit) == 2  # no table inet hasg: drift, judged, not a crash
    assert "Traceback" not in capsys.readouterr().err


def test_the_library_refuses_as_the_cli_does() -> None:
    with pytest.raises(HasgError, match="the limited broadcast address"):
        load_inventory_text("roles:\n  automate: [255.255.255.255]\n")
