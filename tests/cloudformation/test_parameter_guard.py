"""The one world guard at deploy time: what a stack's parameters may hold.

`VpcCidr` accepted `0.0.0.0/0` (a stack made with it opened tcp/22 and
tcp/5432 to the world), and the admin list refused only a prefix length of 0
(`0.0.0.0/1`, `::/1`, `2000::/3` passed). Each parameter's AllowedPattern is
now the guard as far as a pattern can take it: judged here against
`hasg.core.networks.wide_open` on every spelling drawn, read by Java's regex
engine (CloudFormation's) as Python reads it, and by cfn-lint (E2015, a
Default its pattern refuses)."""

from __future__ import annotations

import ipaddress
import random
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hasg import Policy, chef_automate_ha, compile_policy
from hasg.backends.cloudformation import VPC_CIDR_PARAMETER, template, to_cloudformation
from hasg.core.networks import wide_open
from tests.policy.graph_parsers import require

from .tooling import cfn_lint_each

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=17)

JAVA_PATTERNS = Path(__file__).with_name("JavaPatterns.java")
REFUSED_BEFORE = ["0.0.0.0/1", "128.0.0.0/1", "1.0.0.0/8", "203.0.112.0/23"]
REFUSED_BEFORE_V6 = ["::/1", "2000::/3", "64:ff9b::/96", "2002::/16", "2001::/32", "::ffff:0:0/96"]


def parameters(policy: Policy) -> dict[str, Any]:
    parameters: dict[str, Any] = template(compile_policy(policy))["Parameters"]
    return parameters


@cache
def admin_patterns() -> tuple[str, str]:
    found = parameters(chef_automate_ha(admin_cidrs=["203.0.113.7/32", "2001:db8:2::/64"]))
    return found["AdminCidrsIpv4"]["AllowedPattern"], found["AdminCidrsIpv6"]["AllowedPattern"]


def vpc_policy(*ports: str, public: bool = False) -> Policy:
    """A policy whose `vpc` peer is opened `ports` on role db."""
    return Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": "db", "description": "databases"}],
            "flows": [
                {
                    "source": "vpc",
                    "destination": "db",
                    "ports": list(ports),
                    "description": "from the VPC",
                    "public": public,
                }
            ],
        }
    )


@cache
def vpc_pattern(*ports: str, public: bool = False) -> str:
    """VpcCidr's pattern in the template of `vpc_policy(*ports, public)`."""
    pattern: str = parameters(vpc_policy(*ports, public=public))[VPC_CIDR_PARAMETER][
        "AllowedPattern"
    ]
    return pattern


JavaMatches = Callable[[str, list[str]], list[bool]]


@pytest.fixture(scope="module")
def java_matches(tmp_path_factory: pytest.TempPathFactory) -> JavaMatches:
    """Whether CloudFormation's regex engine (java.util.regex) takes each value.
    JavaPatterns.java is compiled once for the module: run as `java FILE.java`,
    Java compiled it again on every call (about 0.8 s of CPU each)."""
    require(
        "java and javac",
        shutil.which("java") is not None and shutil.which("javac") is not None,
        "apt-get install default-jdk-headless",
    )
    classes = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-d", str(classes), str(JAVA_PATTERNS)], check=True, timeout=300)

    def matches(pattern: str, values: list[str]) -> list[bool]:
        done = subprocess.run(
            ["java", "-cp", str(classes), "JavaPatterns"],
            input="\n".join([pattern, *values]) + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return [line == "1" for line in done.stdout.splitlines()]

    return matches


def alone_is_wide(text: str) -> bool:
    return bool(wide_open([str(ipaddress.ip_network(text, strict=False))]))


# --------------------------------------------------------------------------- spellings

_TRANSLATING = ["64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::ffff:0:0/96"]
_PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A network of either family: anywhere, inside private space, or inside
    a prefix that translates IPv4, at any length."""
    where = draw(st.sampled_from(["v4", "v6", "private", "translating"]))
    if where in ("v4", "v6"):
        bits = 32 if where == "v4" else 128
        outer = ipaddress.ip_network("0.0.0.0/0" if bits == 32 else "::/0")
    else:
        outer = ipaddress.ip_network(
            draw(st.sampled_from(_PRIVATE if where == "private" else _TRANSLATING))
        )
        bits = outer.max_prefixlen
    length = draw(st.integers(outer.prefixlen, bits) | st.sampled_from([outer.prefixlen, 24, 48]))
    length = min(max(length, outer.prefixlen), bits)
    offset = draw(st.integers(0, 2 ** (bits - outer.prefixlen) - 1))
    address = int(outer.network_address) + offset
    return ipaddress.ip_network((address >> (bits - length) << (bits - length), length))


def spellings(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    forms = [network.compressed]
    if network.version == 6:
        forms += [network.exploded, network.compressed.upper()]
        head = ":".join(network.network_address.exploded.split(":")[:6])
        tail = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        forms.append(f"{head}:{tail}/{network.prefixlen}")
    return forms


@settings(max_examples=400, deadline=None)
@given(networks())
def test_the_admin_patterns_take_only_what_the_guard_takes_alone(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    """No spelling of a network that is wide open alone passes the pattern of
    a list that opens SSH; every IPv4 network that is not, passes."""
    v4, v6 = admin_patterns()
    pattern = v4 if network.version == 4 else v6
    wide = bool(wide_open([network]))
    for text in spellings(network):
        if re.fullmatch(pattern, text):
            assert not wide, text
    if network.version == 4:
        assert bool(re.fullmatch(pattern, str(network))) is not wide
    elif not wide and not written_like_a_translation(network):
        assert re.fullmatch(pattern, str(network)), network


def written_like_a_translation(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether its text starts as an IPv4-translating prefix's does (a zero
    first hextet, 64:ff9b, Teredo's 2001:0), where the pattern, which cannot
    read the IPv4 part, asks for a /120 (docs/cloudformation.md)."""
    first, second = int(network.network_address) >> 112, int(network.network_address) >> 96 & 0xFFFF
    return first == 0 or (first, second) in ((0x64, 0xFF9B), (0x2001, 0))


@settings(max_examples=200, deadline=None)
@given(networks(), st.sampled_from(["tcp/22", "all", "tcp/5432"]))
def test_vpccidr_takes_only_a_vpcs_block_and_what_the_guard_takes(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, port: str
) -> None:
    if network.version == 6:
        return
    text = str(network)
    narrow = vpc_pattern(port)
    loose = vpc_pattern("tcp/443", "tcp/80")
    public = vpc_pattern(port, public=True)
    a_vpc_block = 16 <= network.prefixlen <= 28  # Amazon VPC: a /16 to a /28
    assert bool(re.fullmatch(loose, text)) is a_vpc_block
    assert bool(re.fullmatch(public, text)) is a_vpc_block
    assert bool(re.fullmatch(narrow, text)) is (a_vpc_block and not wide_open([network]))


def test_the_values_that_passed_before_are_refused_now(java_matches: JavaMatches) -> None:
    v4, v6 = admin_patterns()
    assert not any(java_matches(v4, REFUSED_BEFORE))
    assert not any(java_matches(v6, REFUSED_BEFORE_V6))
    assert java_matches(v4, ["203.0.113.0/24", "10.0.0.0/8"]) == [True, True]
    assert java_matches(v6, ["2001:db8::/48", "fd00::/8", "64:ff9b::cb00:7100/120"]) == [True] * 3
    for pattern in (
        vpc_pattern("tcp/22", "tcp/5432"),
        vpc_pattern("tcp/443"),
    ):
        assert java_matches(pattern, ["0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/16"]) == [
            False,
            False,
            True,
        ]
    assert java_matches(vpc_pattern("tcp/22"), ["52.0.0.0/16", "52.0.0.0/24"]) == [
        False,
        True,
    ]


def test_java_reads_every_pattern_as_python_does(java_matches: JavaMatches) -> None:
    """CloudFormation evaluates AllowedPattern with java.util.regex; the tests
    above read it with Python's `re`: both agree on a large sample."""
    sample = random.Random(15)
    values: list[str] = [*REFUSED_BEFORE, *REFUSED_BEFORE_V6, "", "10.0.0.0/08", "1.2.3.4/33"]
    for _ in range(1500):
        bits = sample.choice([32, 128])
        length = sample.randint(0, bits)
        address = sample.getrandbits(bits) >> (bits - length) << (bits - length)
        if bits == 128 and sample.random() < 0.5:
            prefix = ipaddress.ip_network(sample.choice([*_TRANSLATING, "fc00::/7", "fe80::/10"]))
            address = int(prefix.network_address) | (address >> prefix.prefixlen)
            length = max(length, prefix.prefixlen)
        network = ipaddress.ip_network((address >> (bits - length) << (bits - length), length))
        values.append(sample.choice(spellings(network)))
    patterns = [
        *admin_patterns(),
        vpc_pattern("tcp/22"),
        vpc_pattern("tcp/443"),
    ]
    for pattern in patterns:
        assert java_matches(pattern, values) == [
            re.fullmatch(pattern, v) is not None for v in values
        ]


# A default the guard takes that a pattern over its text cannot tell from a wide one.
UNTELLABLE = chef_automate_ha(admin_cidrs=["64:ff9b::a00:0/104"])


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings, from one run (tooling.cfn_lint_each), for: the
    template as written ("written"); it with each value that passed the
    pattern before as AdminCidrsIpv4's Default ("refused N"); and the
    template of UNTELLABLE ("untellable")."""
    directory = tmp_path_factory.mktemp("defaults")
    text = to_cloudformation(compile_policy(chef_automate_ha(admin_cidrs=["203.0.113.7/32"])))
    files = {"written": directory / "template.yaml"}
    files["written"].write_text(text, encoding="utf-8")
    document = yaml.safe_load(text)
    for index, value in enumerate(REFUSED_BEFORE):
        document["Parameters"]["AdminCidrsIpv4"]["Default"] = value
        files[f"refused {index}"] = directory / f"refused{index}.yaml"
        files[f"refused {index}"].write_text(yaml.safe_dump(document), encoding="utf-8")
    files["untellable"] = directory / "untellable.yaml"
    files["untellable"].write_text(to_cloudformation(compile_policy(UNTELLABLE)), "utf-8")
    return cfn_lint_each(files)


def test_cfn_lint_refuses_a_default_the_guard_refuses(
    linted: dict[str, list[dict[str, Any]]],
) -> None:
    """cfn-lint's own reading (E2015: a Default its AllowedPattern refuses),
    on the template as written and with each value that passed before: the
    template's own defaults pass, each refused value is E2015, and nothing else."""
    assert linted["written"] == []
    for index in range(len(REFUSED_BEFORE)):
        assert [f["Rule"]["Id"] for f in linted[f"refused {index}"]] == ["E2015"], index


def test_a_default_the_pattern_cannot_tell_from_a_wide_one_still_deploys(
    java_matches: JavaMatches, linted: dict[str, list[dict[str, Any]]]
) -> None:
    """`64:ff9b::a00:0/104` stands for 10.0.0.0/8 (private): the guard takes
    it, a pattern over its text cannot tell it from 64:ff9b::/104; the
    template's own default, which the guard judged, passes as written."""
    pattern = parameters(UNTELLABLE)["AdminCidrsIpv6"]["AllowedPattern"]
    assert java_matches(pattern, ["64:ff9b::a00:0/104", "64:ff9b::/104"]) == [True, False]
    assert linted["untellable"] == []


@given(st.integers(0, 300), st.integers(0, 300))
def test_number_ranges_match_exactly_their_numbers(low: int, high: int) -> None:
    from hasg.core.cidr_patterns import number_range

    low, high = min(low, high), max(low, high)
    pattern = number_range(low, high)
    for number in range(0, 1000):
        assert bool(re.fullmatch(pattern, str(number))) is (low <= number <= high)
    assert re.fullmatch(pattern, f"0{low}") is None
