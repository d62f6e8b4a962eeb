"""What a set of CIDRs means, judged by meaning and never by spelling: unions,
other spellings of the same network, zone ids, and where "wide open" begins."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hasg import Policy, PolicyError
from hasg.cli import main
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


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_an_address_is_of_its_own_networks_family(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    network = ipaddress.ip_network(address)
    expected = "ipv6" if address.version == 6 else "ipv4"
    assert family_of(address) == family_of(network) == family_of(str(network)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("10.0.0.1/8", "did you mean 10.0.0.0/8?"), ("10.0.0.0/33", "not a valid")],
)
def test_a_refused_cidr_is_refused_every_time_it_is_asked(text: str, message: str) -> None:
    """parse_network keeps what it parsed (an audit asks it thousands of times),
    never what it refused."""
    for _ in range(3):
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_network(text)
    assert parse_network("10.0.0.0/8") == ipaddress.ip_network("10.0.0.0/8")


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


# --------------------------------------------------------------------------- IPv4 inside IPv6

# (prefix, bit offset of the IPv4 address, whether it is inverted: Teredo)
EMBEDDINGS = [
    ("64:ff9b::/96", 96, False),
    ("64:ff9b:1::/48", 96, False),
    ("2002::/16", 16, False),
    ("2001::/32", 96, True),
    ("::ffff:0:0/96", 96, False),
    ("::ffff:0:0:0/96", 96, False),
    ("::/96", 96, False),
]


def embedded(prefix: str, offset: int, inverted: bool, v4: ipaddress.IPv4Network) -> list[str]:
    """The IPv6 network that stands for `v4` through `prefix`, in several spellings."""
    bits = int(v4.network_address) ^ (0xFFFFFFFF if inverted else 0)
    bits &= int(v4.netmask)
    base = int(ipaddress.IPv6Network(prefix).network_address)
    network = ipaddress.IPv6Network((base | bits << (96 - offset), offset + v4.prefixlen))
    forms = [str(network), f"{network.network_address.exploded.upper()}/{network.prefixlen}"]
    if offset == 96:  # the IPv4 part written as IPv4, as RFC 4291 allows
        head = ":".join(network.network_address.exploded.split(":")[:6])
        dotted = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        forms.append(f"{head}:{dotted}/{network.prefixlen}")
    return forms


def ipv4_side(cidrs: list[str]) -> tuple[bool, int]:
    found = [o for o in wide_open(cidrs) if o.family == "ipv4"]
    return (found[0].world, found[0].public) if found else (False, 0)


@given(
    st.sampled_from(EMBEDDINGS),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
def test_ipv6_that_embeds_ipv4_is_as_open_as_the_ipv4_it_stands_for(
    embedding: tuple[str, int, bool], address: int, length: int
) -> None:
    """NAT64, 6to4, Teredo, IPv4-mapped, -translated and -compatible
    prefixes stand for IPv4 space: `64:ff9b::/96` is the IPv4 internet."""
    prefix, offset, inverted = embedding
    v4 = ipaddress.IPv4Network((address, length), strict=False)
    for form in embedded(prefix, offset, inverted, v4):
        assert canonical_cidr(form) == canonical_cidr(embedded(prefix, offset, inverted, v4)[0])
        assert ipv4_side([form]) == ipv4_side([str(v4)]), form
        assert covers_world([form], "ipv4") is (length == 0)


@given(st.sampled_from(EMBEDDINGS), st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_a_policy_refuses_embedded_ipv4_exactly_as_the_ipv4_itself(
    embedding: tuple[str, int, bool], address: int, length: int
) -> None:
    prefix, offset, inverted = embedding
    v4 = ipaddress.IPv4Network((address, length), strict=False)
    (v6, *_) = embedded(prefix, offset, inverted, v4)

    def refused(cidr: str) -> bool:
        flow = {"source": cidr, "destination": "web", "ports": ["all"], "description": "d"}
        try:
            Policy.model_validate(
                {"cluster": "c", "roles": [{"id": "web", "description": "w"}], "flows": [flow]}
            )
        except PolicyError:
            return True
        return False

    ipv6_wide = any(o.family == "ipv6" for o in wide_open([v6]))
    assert refused(v6) == (refused(str(v4)) or ipv6_wide)


def test_nat64_on_all_ports_needs_public(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`64:ff9b::/96` on `all` was accepted without `public: true`: by count it
    is 2**32 IPv6 addresses, far below a /48; by meaning, the IPv4 internet."""
    policy = tmp_path / "nat64.yaml"
    text = (
        "cluster: demo\nroles:\n  - id: web\n    description: web servers\nflows:\n"
        "  - source: 64:ff9b::/96\n    destination: web\n    ports: [all]\n"
        "    description: everything from NAT64\n"
    )
    policy.write_text(text, encoding="utf-8")
    assert main(["emit-hcl", "--policy", str(policy)]) == 1
    error = capsys.readouterr().err
    assert error == (
        f"hasg: error: {policy}:6:5: flows[0]: flow 64:ff9b::/96-to-web opens all to "
        "64:ff9b::/96: 64:ff9b::/96 holds every IPv4 address (through 64:ff9b::/96, NAT64, "
        "RFC 6052); only tcp/80 and tcp/443 may be open that wide unless the flow says "
        "public: true\n"
    )
    policy.write_text(text + "    public: true\n", encoding="utf-8")
    assert main(["emit-hcl", "--policy", str(policy)]) == 0
