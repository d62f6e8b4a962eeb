"""The policy commands as a user runs them: `hasg init`, `schema`, `verify`, `graph`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import hasg
from hasg.checks.graph import to_dot, to_mermaid
from hasg.cli import main
from hasg.policy.file import dump_policy, policy_document
from hasg.policy.schema import policy_json_schema

BUILT_IN = hasg.chef_automate_ha()


@pytest.mark.parametrize("graph_format, render", [("mermaid", to_mermaid), ("dot", to_dot)])
def test_hasg_graph_prints_the_picture(
    graph_format: str, render: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", "--format", graph_format]) == 0

    assert capsys.readouterr().out == render(BUILT_IN)  # type: ignore[operator]


def test_hasg_verify_passes_the_built_in_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("Allowed role-to-role connections")
    assert "ok    all 17 flows of the policy are allowed" in out
    assert out.endswith("verify: ok\n")


def test_hasg_verify_reads_a_policy_file_and_speaks_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(dump_policy(BUILT_IN), encoding="utf-8")

    assert main(["verify", "--policy", str(path), "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["breaches"] == []


def test_hasg_schema_is_json_schema_that_accepts_init_files_and_refuses_bad_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    for options in ({}, {"managed_postgresql": True, "load_balancer": True}):
        document = policy_document(hasg.chef_automate_ha(**options))
        assert not list(validator.iter_errors(document))

    document = policy_document(BUILT_IN)
    document["flows"][0]["ports"] += [
        443,
        "udp/9638",
        "icmp/3:4",
        {"protocol": "tcp", "from_port": 1},
    ]
    assert not list(validator.iter_errors(document))
    for path, bad in (
        (("flows", 0, "ports", 0), 70000),
        (("flows", 0, "ports", 0), "tcp/x"),
        (("flows", 0, "colour"), "red"),
        (("ssh_port",), "22"),
    ):
        broken = json.loads(json.dumps(policy_document(BUILT_IN)))
        target = broken
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = bad
        assert list(validator.iter_errors(broken)), path


def test_the_schema_describes_every_field() -> None:
    schema = policy_json_schema()
    for definition in [schema, *schema["$defs"].values()]:
        for name, field in definition.get("properties", {}).items():
            assert field.get("description"), name


@pytest.mark.parametrize(
    "argv", [["--help"], ["init"], ["schema"], ["graph"], ["verify"], ["emit-hcl"]]
)
def test_commands_that_need_no_aws_never_import_boto3(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from hasg.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'hcl2') if m in sys.modules)\n"
        "print(','.join(heavy), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # The last line; a warning may come before it (the built-in bastion, hasg.lockouts).
    assert run.stderr.endswith("\n") and run.stderr.splitlines()[-1] == ""


def test_hasg_graph_draws_roles_named_like_dot_keywords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hasg graph --format dot` for roles called node and strict: Graphviz reads
    both as nodes joined by the flow's edge (bare, they are DOT syntax errors)."""
    from .graph_parsers import read_dot

    path = tmp_path / "policy.yaml"
    path.write_text(
        "cluster: c\n"
        "roles:\n  - {id: node, description: nodes}\n  - {id: strict, description: stricts}\n"
        "flows:\n  - {source: node, destination: strict, ports: [443], description: x}\n",
        encoding="utf-8",
    )
    assert main(["graph", "--format", "dot", "--policy", str(path)]) == 0

    drawn = read_dot(capsys.readouterr().out)
    assert drawn.nodes == {"node": "node", "strict": "strict"}
    assert drawn.edges == [("node", "strict", "tcp/443")]
