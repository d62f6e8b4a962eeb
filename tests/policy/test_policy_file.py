"""Policy files: what `hasg init` writes reads back exactly, and every way a
file can be wrong is reported as file:line:column: field: message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import hasg
from hasg import Policy, compile_policy
from hasg.cli import main
from hasg.core.blueprint import Blueprint
from hasg.policy.file import (
    FILE_FORMATS,
    FileFormat,
    PolicyFileError,
    dump_document,
    dump_policy,
    load_policy_file,
    load_policy_text,
    policy_document,
)
from hasg.policy.schema import FIELD_HELP, FILE_MODELS

from .strategies import policies

VARIANTS: list[dict[str, Any]] = [
    {},
    {"load_balancer": True, "http_redirect": False},
    {"legacy_haproxy_from_frontends": False, "ssh_port": 2222},
    {"managed_postgresql": True, "managed_opensearch": True, "internet_egress_ports": ()},
    {
        "cluster": "prod-eu",
        "user_cidrs": ["198.51.100.0/24", "2001:db8::/48"],
        "admin_cidrs": ["203.0.113.7/32"],
        "user_prefix_lists": [hasg.PrefixListPeer(prefix_list_id="pl-0123abcd", max_entries=9)],
        "tags": {"team": "platform", "cost center": "no"},
    },
]


def exactly(blueprint: Blueprint) -> list[tuple[object, ...]]:
    """Everything a Blueprint holds, descriptions and provenance included."""
    return [
        (g.role, g.name, g.description, dict(g.tags), r, r.description, r.origins)
        for g in blueprint
        for r in g.rules + g.list_rules
    ] + [tuple(blueprint.cidr_lists.items())]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("options", VARIANTS)
@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_the_built_in_policy_reads_back_exactly(
    options: dict[str, Any], file_format: FileFormat
) -> None:
    policy = hasg.chef_automate_ha(**options)

    again = load_policy_text(dump_policy(policy, file_format), file_format=file_format)

    assert again == policy
    assert exactly(compile_policy(again)) == exactly(compile_policy(policy))


def test_hasg_init_writes_a_file_that_compiles_to_the_built_in_blueprint(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"

    assert main(["init", "--out", str(path)]) == 0

    assert exactly(compile_policy(load_policy_file(path))) == exactly(
        compile_policy(hasg.chef_automate_ha())
    )


def test_hasg_init_options_choose_the_variant(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    argv = ["init", "--format", "json", "--out", str(path), "--cluster", "prod"]
    argv += ["--ssh-port", "2222", "--admin-cidr", "203.0.113.7/32", "--managed-backends"]

    assert main(argv) == 0

    assert load_policy_file(path) == hasg.chef_automate_ha(
        "prod",
        admin_cidrs=["203.0.113.7/32"],
        ssh_port=2222,
        managed_postgresql=True,
        managed_opensearch=True,
    )


def test_hasg_init_restrict_default_group_writes_the_option(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    assert main(["init", "--restrict-default-group", "--out", str(path)]) == 0
    policy = load_policy_file(path)
    assert policy == hasg.chef_automate_ha(restrict_default_group=True)
    assert policy.restrict_default_group
    assert hasg.compile_policy(policy).default_group == ()
    assert hasg.compile_policy(hasg.chef_automate_ha()).default_group is None


def test_hasg_init_never_overwrites_a_file_unasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("my edits\n", encoding="utf-8")

    assert main(["init", "--out", str(path)]) == 1
    assert path.read_text(encoding="utf-8") == "my edits\n"
    assert capsys.readouterr().err == (
        f"hasg: error: {path} exists: give --force to overwrite it\n"
    )

    assert main(["init", "--out", str(path), "--force"]) == 0
    assert load_policy_file(path) == hasg.chef_automate_ha()


def test_hasg_init_reports_a_bad_option_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--user-cidr", "10.0.0.1/8"]) == 1

    assert capsys.readouterr().err == (
        "hasg: error: hasg init: user_cidrs[0]: 10.0.0.1/8 has host bits set; "
        "did you mean 10.0.0.0/8?\n"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), st.sampled_from(FILE_FORMATS))
def test_any_policy_survives_a_file_round_trip(policy: Policy, file_format: FileFormat) -> None:
    text = dump_policy(policy, file_format)

    assert load_policy_text(text, file_format=file_format) == policy


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), st.data())
def test_an_error_points_at_the_line_of_the_bad_value(policy: Policy, data: st.DataObject) -> None:
    document = policy_document(policy)
    if not document["flows"]:
        document["flows"] = [
            {"source": {"role": policy.roles[0].id}, "destination": "vpc", "ports": ["all"]}
        ]
        document["flows"][0]["description"] = "d"
    flow = data.draw(st.integers(0, len(document["flows"]) - 1))
    port = data.draw(st.integers(0, len(document["flows"][flow]["ports"]) - 1))
    document["flows"][flow]["ports"][port] = 70000

    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(dump_document(document), name="policy.yaml")

    (problem,) = caught.value.problems
    assert (problem.path, problem.message) == (
        f"flows[{flow}].ports[{port}]",
        "70000 is not a valid port (0-65535)",
    )
    line = dump_document(document).splitlines()[problem.line - 1]
    assert line[problem.column - 1 :].startswith("70000")


def test_ssh_in_a_file_follows_ssh_port() -> None:
    text = dump_policy(hasg.chef_automate_ha())
    assert "ports: [ssh, tcp/9631, tcp/9638, tcp/7799]" in text

    moved = load_policy_text(text.replace("ssh_port: 22", "ssh_port: 2222"))

    assert moved == hasg.chef_automate_ha(ssh_port=2222).model_copy(update={"flows": moved.flows})
    ssh_rules = {
        (g.role, r.ports_text()) for g in compile_policy(moved) for r in g.rules if "22" in str(r)
    }
    assert ssh_rules and all(ports == "tcp/2222" for _, ports in ssh_rules)


def test_the_writer_knows_every_field_of_the_model() -> None:
    """A field added to the model must be written too, or round trips lose it."""
    restricting = hasg.chef_automate_ha().model_copy(update={"restrict_default_group": True})
    handled = {
        Policy: set(policy_document(restricting)),
        hasg.Role: set().union(
            *policy_document(hasg.chef_automate_ha(managed_postgresql=True))["roles"]
        ),
        hasg.Flow: {"name", "source", "destination", "ports", "description", "public"},
    }
    for model, fields in handled.items():
        assert fields == set(model.model_fields), model.__name__


def test_restrict_default_group_round_trips_and_is_written_only_when_on() -> None:
    restricting = hasg.chef_automate_ha().model_copy(update={"restrict_default_group": True})
    for file_format in ("yaml", "json"):
        text = dump_policy(restricting, file_format)
        assert load_policy_text(text, file_format=file_format) == restricting
    assert "restrict_default_group: true" in dump_policy(restricting)
    assert "restrict_default_group" not in dump_policy(hasg.chef_automate_ha())


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("yes", "YAML 1.1 reads yes as a boolean"),
        ("1", "input should be a valid boolean (got 1)"),
        ('"true"', "input should be a valid boolean (got 'true')"),
    ],
)
def test_restrict_default_group_takes_only_true_or_false(written: str, problem: str) -> None:
    text = dump_policy(
        hasg.chef_automate_ha().model_copy(update={"restrict_default_group": True})
    ).replace("restrict_default_group: true", f"restrict_default_group: {written}")
    with pytest.raises(PolicyFileError, match="restrict_default_group: ") as raised:
        load_policy_text(text, name="p.yaml")
    assert problem in str(raised.value)
    assert str(raised.value).startswith("p.yaml:")


@pytest.mark.parametrize("model", FILE_MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_sentence_of_help(model: type[BaseModel]) -> None:
    assert set(FIELD_HELP[model]) == set(model.model_fields)


# --------------------------------------------------------------------------- errors

ROLES = (
    "roles:\n  - id: web\n    description: Web servers\n  - id: db\n    description: Databases\n"
)


def flows(*lines: str) -> str:
    return "cluster: shop\n" + ROLES + "flows:\n" + "".join(f"{line}\n" for line in lines)


YAML_ERRORS = {
    "out-of-range port": (
        flows(
            "  - source: web",
            "    destination: db",
            "    ports:",
            "      - tcp/5432",
            "      - 70000",
            "    description: SQL",
        ),
        "policy.yaml:12:9: flows[0].ports[1]: 70000 is not a valid port (0-65535)",
    ),
    "reversed range": (
        flows("  - {source: web, destination: db, ports: [tcp/9300-9200], description: x}"),
        "policy.yaml:8:44: flows[0].ports[0]: port range 9300-9200 is reversed; write 9200-9300",
    ),
    "not a port": (
        flows("  - {source: web, destination: db, ports: [http], description: x}"),
        "policy.yaml:8:44: flows[0].ports[0]: 'http' is not a port; write 443, 'tcp/443', "
        "'tcp/9200-9300', 'udp/9638', 'icmp', 'icmp/8' or 'all'",
    ),
    "unknown field, near a known one": (
        flows("  - {source: web, destination: db, port: [443], description: x}"),
        "policy.yaml:8:5: flows[0].ports: required field is missing\n"
        "policy.yaml:8:36: flows[0].port: unknown field; did you mean 'ports'? "
        "Flow fields: source, destination, ports, description, public, name",
    ),
    "unknown top-level field": (
        "cluster: shop\nrules: []\n" + ROLES,
        "policy.yaml:2:1: rules: unknown field; did you mean 'roles'? Policy fields: "
        "cluster, roles, flows, user_cidrs, admin_cidrs, ssh_port, tags, restrict_default_group",
    ),
    "unknown field in a peer mapping": (
        flows("  - {source: web, destination: {role: db, port: 1}, ports: [1], description: x}"),
        "policy.yaml:8:43: flows[0].destination.port: unknown field; RolePeer fields: role",
    ),
    "unknown field in a port mapping": (
        flows("  - {source: web, destination: db, ports: [{proto: udp}], description: x}"),
        "policy.yaml:8:45: flows[0].ports[0].proto: unknown field; did you mean 'protocol'? "
        "Port fields: protocol, from_port, to_port",
    ),
    "wrong type": (
        "cluster: shop\nssh_port: twenty-two\n" + ROLES,
        "policy.yaml:2:11: ssh_port: expected a whole number, got 'twenty-two'",
    ),
    "a mapping where a list belongs": (
        "cluster: shop\nroles: {id: web}\n",
        "policy.yaml:2:8: roles: expected a list, got a mapping",
    ),
    "a list where a mapping belongs": (
        "- cluster: shop\n",
        "policy.yaml:1:1: expected a mapping, got a list",
    ),
    "YAML's yes is a boolean": (
        "cluster: shop\nroles:\n  - id: yes\n    description: x\n",
        "policy.yaml:3:9: roles[0].id: YAML 1.1 reads yes as a boolean, YAML 1.2 as text: "
        "write true or false, or quote it",
    ),
    "a boolean where a string belongs": (
        "cluster: shop\nroles:\n  - id: true\n    description: x\n",
        "policy.yaml:3:9: roles[0].id: input should be a valid string (got True)",
    ),
    "missing field": (
        "cluster: shop\nroles:\n  - id: web\n",
        "policy.yaml:3:5: roles[0].description: required field is missing",
    ),
    "empty list": (
        flows("  - {source: web, destination: db, ports: [], description: x}"),
        "policy.yaml:8:43: flows[0].ports: needs at least 1 item",
    ),
    "bad CIDR shorthand": (
        flows("  - {source: web, destination: 10.0.0.300/8, ports: [1], description: x}"),
        "policy.yaml:8:32: flows[0].destination: '10.0.0.300/8' is not a valid IPv4 or IPv6 CIDR",
    ),
    "host bits": (
        "cluster: shop\nuser_cidrs:\n  - 10.1.2.3/16\n" + ROLES,
        "policy.yaml:3:5: user_cidrs[0]: 10.1.2.3/16 has host bits set; did you mean 10.1.0.0/16?",
    ),
    "not a peer": (
        flows("  - {source: web, destination: [db], ports: [1], description: x}"),
        "policy.yaml:8:32: flows[0].destination: ['db'] is not a peer; a peer is a role id "
        "(bastion), a CIDR (10.0.0.0/8, 2001:db8::/32), vpc, user_cidrs, admin_cidrs, or a "
        "mapping with one of the keys role, cidr, prefix_list_id (with max_entries), "
        "cidr_list or vpc",
    ),
    "unknown role": (
        flows("  - {source: web, destination: cache, ports: [1], description: x}"),
        "policy.yaml:8:32: flows[0].destination: unknown role 'cache' (roles: db, web)",
    ),
    "role defined twice": (
        "cluster: shop\n" + ROLES + "  - id: web\n    description: again\n",
        "policy.yaml:7:9: roles[2].id: role 'web' is defined twice",
    ),
    "flow name used twice": (
        flows(
            "  - {name: sql, source: web, destination: db, ports: [1], description: x}",
            "  - {name: sql, source: web, destination: db, ports: [2], description: x}",
        ),
        "policy.yaml:9:12: flows[1].name: flow name 'sql' is used twice",
    ),
    "SSH to the world": (
        flows("  - {source: 0.0.0.0/0, destination: web, ports: [ssh], description: x}"),
        "policy.yaml:8:5: flows[0]: flow 0.0.0.0/0-to-web opens tcp/22 to 0.0.0.0/0: "
        "0.0.0.0/0 holds every IPv4 address; only tcp/80 and tcp/443 may be open that wide "
        "unless the flow says public: true",
    ),
    "SSH to the world through a CIDR list": (
        "cluster: shop\nadmin_cidrs: ['::/0']\n"
        + ROLES
        + "flows:\n  - {source: admin_cidrs, destination: web, ports: [ssh], description: x}\n",
        "policy.yaml:9:14: flows[0].source: flow admin_cidrs-to-web opens tcp/22 to "
        "admin_cidrs: ::/0 holds every IPv6 address; only tcp/80 and tcp/443 may be open "
        "that wide unless the flow says public: true",
    ),
    "character AWS refuses": (
        "cluster: shop\nroles:\n  - id: web\n    description: Web servers <main>\n",
        "policy.yaml:4:18: roles[0].description: contains '<>', which AWS does not allow "
        "(allowed: letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*)",
    ),
    "reserved tag": (
        "cluster: shop\ntags: {Name: shop}\n" + ROLES,
        "policy.yaml:2:7: tags: tag 'Name': hasg sets Name, managed-by, hasg:cluster, "
        "hasg:role, hasg:policy-digest itself and reserves the hasg: prefix",
    ),
    "key given twice": (
        "cluster: shop\n" + ROLES + "cluster: shop2\n",
        "policy.yaml:7:1: 'cluster' is given twice",
    ),
    "broken YAML: bad indentation": (
        "cluster: shop\nroles:\n  - id: web\n   description: x\n",
        "policy.yaml:4:4: broken YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block collection at 3:3)",
    ),
    "broken YAML: unclosed bracket": (
        "cluster: shop\nuser_cidrs: [10.0.0.0/8\n",
        "policy.yaml:3:1: broken YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at 2:13)",
    ),
    "broken YAML: a tab": (
        "cluster: shop\nroles:\n\t- id: web\n",
        "policy.yaml:3:1: broken YAML: found character '\\t' that cannot start any token",
    ),
    "two documents": (
        "cluster: shop\n---\ncluster: shop2\n",
        "policy.yaml:2:1: broken YAML: but found another document "
        "(expected a single document in the stream at 1:1)",
    ),
    "empty file": ("# nothing yet\n", "policy.yaml:1:1: the file is empty"),
}


@pytest.mark.parametrize("text, expected", YAML_ERRORS.values(), ids=YAML_ERRORS)
def test_yaml_errors_name_file_line_column_and_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="policy.yaml")

    assert str(caught.value) == expected


JSON_ERRORS = {
    "out-of-range port": (
        '{"cluster": "shop",\n "roles": [{"id": "web", "description": "w"}],\n'
        ' "flows": [{"source": "web", "destination": "vpc", "ports": [80, 70000],'
        ' "description": "x"}]}',
        "policy.json:3:66: flows[0].ports[1]: 70000 is not a valid port (0-65535)",
    ),
    "unknown field": (
        '{\n  "cluster": "shop",\n  "roles": [{"id": "web", "description": "w", "colour": 1}]\n}',
        "policy.json:3:47: roles[0].colour: unknown field; Role fields: id, description, managed",
    ),
    "wrong type": (
        '{"cluster": 7, "roles": [{"id": "web", "description": "w"}]}',
        "policy.json:1:13: cluster: input should be a valid string (got 7)",
    ),
    "trailing comma": (
        '{"cluster": "shop",\n}',
        "policy.json:2:1: broken JSON: Expecting property name enclosed in double quotes",
    ),
    "key given twice": (
        '{"cluster": "shop",\n "cluster": "shop"}',
        "policy.json:2:2: 'cluster' is given twice",
    ),
    "YAML is not JSON": (
        "cluster: shop\n",
        "policy.json:1:1: broken JSON: Expecting value",
    ),
}


@pytest.mark.parametrize("text, expected", JSON_ERRORS.values(), ids=JSON_ERRORS)
def test_json_errors_name_file_line_column_and_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="policy.json", file_format="json")

    assert str(caught.value) == expected


def test_a_file_with_several_problems_lists_them_in_file_order() -> None:
    text = flows(
        "  - {source: web, destination: db, ports: [70000], description: x}",
        "  - {source: web, destination: db, ports: [1], descripton: x}",
    )

    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="p.yaml")

    assert [(p.line, p.path) for p in caught.value.problems] == [
        (8, "flows[0].ports[0]"),
        (9, "flows[1].description"),
        (9, "flows[1].descripton"),
    ]


def test_files_are_read_by_suffix_and_errors_use_the_path_as_given(tmp_path: Path) -> None:
    policy = hasg.chef_automate_ha()
    for name, file_format in (("p.yml", "yaml"), ("p.JSON", "json"), ("p.policy", "yaml")):
        (tmp_path / name).write_text(dump_policy(policy, file_format), encoding="utf-8")
        assert load_policy_file(tmp_path / name) == policy

    (tmp_path / "bad.json").write_text("cluster: x\n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match=r"^.*bad\.json:1:1: broken JSON"):
        load_policy_file(tmp_path / "bad.json")


def test_a_file_that_is_not_text_says_so(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"cluster: caf\xe9\n")

    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(path)

    assert str(caught.value) == f"{path}:1:13: is not UTF-8 text (byte 12)"


def test_the_cli_prints_loading_errors_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("cluster: shop\nssh_port: 0\n" + ROLES, encoding="utf-8")

    assert main(["emit-hcl", "--policy", str(path)]) == 1

    assert capsys.readouterr().err == (
        f"hasg: error: {path}:2:11: ssh_port: input should be greater than or equal to 1 (got 0)\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"5432"', "'5432' is text; write 5432 without quotes"),
        ("true", "True is a yes/no value, not a number; write a whole number"),
    ],
)
def test_a_bad_from_port_is_blamed_once_not_also_as_the_to_port(value: str, message: str) -> None:
    """`to_port` left out is `from_port`: a from_port that is refused is not
    refused again as a to_port the file never wrote."""
    text = dump_policy(hasg.chef_automate_ha()).replace(
        "ports: [tcp/5432, tcp/6432, tcp/7432, tcp/9631]",
        f"ports: [{{protocol: tcp, from_port: {value}}}, tcp/6432]",
        1,
    )
    with pytest.raises(PolicyFileError) as caught:
        load_policy_text(text, name="policy.yaml")
    (problem,) = caught.value.problems
    assert (problem.path, problem.message) == ("flows[0].ports[0].from_port", message)
    fixed = text.replace(f"from_port: {value}", "from_port: 5432")
    assert load_policy_text(fixed).flows[0].ports[0] == hasg.Port.tcp(5432)
