"""What a set of CIDRs means, judged by meaning and never by spelling: unions,
other spellings of the same network, zone ids, and where "wide open" begins."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hasg.core.networks import (
    WIDE_OPEN_PREFIX,
    canonical_cidr,
    covers_world,
    family_of,
    parse_network,
    public_addresses,
    wide_open,
    within,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
BITS = {4: 32, 6: 128}


@st.composite
def partitions(draw: st.DrawFn, version: int) -> list[Network]:
    """The whole address space of one family, cut into random CIDRs: their
    union is the world though no single one of them is."""
    world: Network = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    pieces = [world]
    for _ in range(draw(st.integers(1, 12))):
        index = draw(st.integers(0, len(pieces) - 1))
        piece = pieces[index]
        if piece.prefixlen >= BITS[version]:
            continue
        pieces[index : index + 1] = list(piece.subnets())
    return draw(st.permutations(pieces))


@given(st.sampled_from([4, 6]).flatmap(partitions))
def test_cidrs_that_together_hold_every_address_are_the_world(pieces: list[Network]) -> None:
    family = family_of(pieces[0])
    texts = [str(p) for p in pieces]
    assert covers_world(texts, family)
    (openness,) = wide_open(texts)
    assert openness.world and openness.family == family


@given(st.sampled_from([4, 6]).flatmap(partitions), st.data())
def test_leaving_out_one_piece_is_not_the_world(pieces: list[Network], data: st.DataObject) -> None:
    if len(pieces) == 1:
        return
    missing = data.draw(st.integers(0, len(pieces) - 1))
    rest = [str(p) for i, p in enumerate(pieces) if i != missing]
    assert not covers_world(rest, family_of(pieces[0]))


def spellings(network: Network) -> list[str]:
    """Other ways to write the same network that ipaddress accepts."""
    forms = [str(network)]
    if network.version == 4:  # ipaddress reads a netmask for IPv4 only
        forms.append(f"{network.network_address}/{network.netmask}")
    else:
        forms.append(f"{network.network_address.exploded}/{network.prefixlen}")
        forms.append(f"{network.network_address.exploded.upper()}/{network.prefixlen}")
    return forms


@given(st.sampled_from(["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32", "1.0.0.0/23"]))
def test_every_spelling_of_a_network_means_the_same(cidr: str) -> None:
    network = ipaddress.ip_network(cidr)
    for form in spellings(network):
        assert canonical_cidr(form) == cidr
        assert wide_open([form]) == wide_open([cidr])


@pytest.mark.parametrize(
    "text",
    [
        "fe80::%eth0/64",
        "fe80::%1/64",
        "fe80::%\x1b[31m/64",
        "fe80::%a\nb/64",
        "10.0.0.0/8\n",
        "\u0661\u0660.0.0.0/8",  # Arabic-Indic digits: int() reads them, AWS does not
        "10.0.0.1/8",
        "10.0.0.0/33",
        "",
    ],
)
def test_zone_ids_and_non_networks_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_network(text)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_any_zone_id_is_refused(zone: str) -> None:
    with pytest.raises(ValueError):
        parse_network(f"fe80::%{zone}/64")


@pytest.mark.parametrize(
    ("cidrs", "wide"),
    [
        (["198.51.100.0/24"], False),  # a /24 is the line, not over it
        (["198.51.100.0/23"], True),
        (["198.51.100.0/24", "198.51.101.0/24"], True),  # two /24s are a /23
        (["10.0.0.0/8"], False),  # private space is the user's own network
        (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"], False),
        (["2001:db8::/48"], False),
        (["2001:db8::/47"], True),
        (["fc00::/7"], False),
        (["0.0.0.0/1", "128.0.0.0/1"], True),
    ],
)
def test_wide_open_starts_above_a_public_slash_24_or_slash_48(cidrs: list[str], wide: bool) -> None:
    assert bool(wide_open(cidrs)) is wide


@given(st.integers(0, 32), st.integers(0, 2**32 - 1))
def test_an_ipv4_cidr_is_wide_exactly_when_it_holds_more_public_addresses_than_a_24(
    prefix: int, address: int
) -> None:
    network = ipaddress.IPv4Network((address, prefix), strict=False)
    public = public_addresses([network], "ipv4")
    assert bool(wide_open([network])) is (public > 2 ** (32 - WIDE_OPEN_PREFIX["ipv4"]))
    assert public <= network.num_addresses


def small_networks() -> st.SearchStrategy[Network]:
    """IPv4 networks inside 198.18.0.0/24 and IPv6 ones inside fd00::/120, so
    that containment is easy to check address by address."""
    v4 = st.builds(
        lambda a, p: ipaddress.ip_network(f"198.18.0.{a}/{p}", strict=False),
        st.integers(0, 255),
        st.integers(24, 32),
    )
    v6 = st.builds(
        lambda a, p: ipaddress.ip_network(f"fd00::{a:x}/{p}", strict=False),
        st.integers(0, 255),
        st.integers(120, 128),
    )
    return st.one_of(v4, v6)


@given(small_networks(), small_networks(), st.booleans())
def test_within_holds_exactly_when_every_address_is_inside(
    inner: Network, outer: Network, as_text: bool
) -> None:
    """The one containment test (audit, verify, the mapped audit): by addresses,
    in either spelling, and never across families."""
    truth = inner.version == outer.version and all(a in outer for a in inner)
    shown = (str(inner), str(outer)) if as_text else (inner, outer)
    assert within(*shown) == truth
