"""The `hasg` command for the foundation: emit-hcl and coverage, errors, start-up imports."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hasg
import hasg.cli
from hasg import chef_automate_ha, compile_policy
from hasg.backends.terraform.hcl import to_hcl, to_hcl_module
from hasg.cli import COMMANDS, build_parser, main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hasg.cli", *args], capture_output=True, text=True, check=False
    )


def test_emit_hcl_prints_the_built_in_policy() -> None:
    result = run("emit-hcl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == to_hcl(compile_policy(chef_automate_ha()))


def test_emit_hcl_out_writes_a_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit-hcl", "--out", str(tmp_path / "sg")]) == 0
    expected = to_hcl_module(compile_policy(chef_automate_ha()))
    written = {p.name: p.read_text() for p in (tmp_path / "sg").iterdir()}
    assert written == expected
    assert capsys.readouterr().out == ""


def test_emit_out_names_what_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An imports.tf of an earlier run would still be loaded by Terraform: the run
    says so (and deletes nothing); files of other kinds are not its business."""
    out = tmp_path / "sg"
    out.mkdir()
    for name in ("imports.tf", "old.tf", "terraform.tfstate", "README.md"):
        (out / name).write_text("")
    (out / ".terraform").mkdir()
    assert main(["emit", "terraform", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (
        f"note: {out} also holds imports.tf, old.tf, which this run did not write: "
        "remove what is stale"
    ) in err.splitlines()
    assert (out / "imports.tf").exists() and (out / "terraform.tfstate").exists()
    (out / "imports.tf").unlink()
    (out / "old.tf").unlink()
    assert main(["emit", "terraform", "--out", str(out)]) == 0
    assert "note:" not in capsys.readouterr().err


def test_emit_hcl_from_a_policy_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = chef_automate_ha(cluster="staging", admin_cidrs=["203.0.113.7/32"])
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy.model_dump(mode="json", exclude_none=True)))
    assert main(["emit-hcl", "--policy", str(path)]) == 0
    assert capsys.readouterr().out == to_hcl(compile_policy(policy))


def test_coverage_passes_for_the_built_in_policy() -> None:
    result = run("coverage")
    assert result.returncode == 0, result.stderr
    assert "42/42 documented cells covered" in result.stdout
    assert "known erratum: 9683 is a typo for 9638" in result.stdout


def test_coverage_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert len(report["cells"]) == 42
    stateful = [c for c in report["cells"] if c["covered_by"] == "stateful return"]
    assert {(c["role"], c["port"]) for c in stateful} >= {("automate", 22), ("automate", 443)}


def test_coverage_fails_when_a_cell_is_uncovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = chef_automate_ha()
    data = policy.model_dump(mode="json", exclude_none=True)
    data["flows"] = [f for f in data["flows"] if f["name"] != "opensearch-ring"]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    assert main(["coverage", "--policy", str(path)]) == 1
    out = capsys.readouterr().out
    uncovered = [line.split() for line in out.splitlines() if "uncovered" in line]
    assert [row[:5] for row in uncovered] == [
        ["OpenSearch", "incoming", "TCP", "9300", "uncovered"],
        ["OpenSearch", "outgoing", "TCP", "9300", "uncovered"],
    ]
    assert "40/42 documented cells covered" in out


def test_a_missing_policy_file_is_one_line_no_traceback(tmp_path: Path) -> None:
    result = run("emit-hcl", "--policy", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "nope.yaml" in result.stderr


def test_over_quota_is_one_line(tmp_path: Path) -> None:
    cidrs = [f"10.{i}.0.0/16" for i in range(70)]
    path = tmp_path / "policy.json"
    data = chef_automate_ha().model_dump(mode="json", exclude_none=True)
    data["user_cidrs"] = cidrs
    path.write_text(json.dumps(data))
    result = run("emit-hcl", "--policy", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "would have 145 ingress IPv4 rules; AWS allows 60" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["emit-hcl"]])
def test_fast_paths_never_import_boto3(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from hasg.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('boto3', 'botocore', 'hcl2', 'lark', 'tfparse', 'hasg.backends.terraform.read',\n"
        "         'shtab', 'hasg.cli.completion')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip().splitlines()[-1] == "[]"


def _subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_a_command_declared_alone_parses_as_among_all() -> None:
    """A run declares only the command it names (start-up): that parser must be
    the one `hasg --help` documents, option for option."""
    every = _subcommand_parsers(build_parser())
    assert list(every) == list(COMMANDS)
    for name in COMMANDS:
        alone = _subcommand_parsers(build_parser(name))
        assert list(alone) == [name]
        assert alone[name].format_help() == every[name].format_help()
        assert alone[name].get_default("run") is not None


ARGPARSE_FORMATTERS: dict[type[argparse.HelpFormatter], type[argparse.HelpFormatter]] = {
    hasg.cli.HelpFormatter: argparse.HelpFormatter,
    hasg.cli.RawDescriptionHelpFormatter: argparse.RawDescriptionHelpFormatter,
}


@pytest.mark.parametrize("columns", ["40", "80", "123", "", "0", "wide"])
def test_help_is_what_argparse_would_print(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    """hasg's formatters only tell argparse the width it would find itself
    (so that it need not import shutil): every help text is argparse's own."""
    monkeypatch.setenv("COLUMNS", columns)
    top = build_parser()
    parsers = [top, *_subcommand_parsers(top).values()]
    for parser in parsers:
        ours = parser.format_help()
        parser.formatter_class = ARGPARSE_FORMATTERS[parser.formatter_class]
        assert ours == parser.format_help(), parser.prog


def test_a_run_declares_only_its_command(monkeypatch: pytest.MonkeyPatch) -> None:
    declared: list[str | None] = []
    original = hasg.cli.build_parser

    def recording(command: str | None = None) -> argparse.ArgumentParser:
        declared.append(command)
        return original(command)

    monkeypatch.setattr(hasg.cli, "build_parser", recording)
    assert main(["schema"]) == 0
    with pytest.raises(SystemExit):
        main(["no-such-command"])
    assert declared == ["schema", None]


def test_help_does_not_even_import_pydantic() -> None:
    code = (
        "import sys\nfrom hasg.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\nprint('pydantic' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("name", hasg.__all__)
def test_a_public_name_is_the_object_of_its_home_module(name: str) -> None:
    import importlib

    import hasg
    import hasg.checks.audit  # imports every submodule a public name might be shadowed by

    home = importlib.import_module(hasg._HOME_OF[name])
    assert getattr(hasg, name) is getattr(home, name)


def test_public_api_lists_every_lazy_name_where_type_checkers_see_it() -> None:
    """__all__, the lazy table and the imports type checkers read agree, and a
    name that is not public is an AttributeError."""
    import ast

    import hasg

    assert sorted(hasg.__all__) == sorted(hasg._HOME_OF)
    assert set(hasg.__all__) <= set(dir(hasg))
    tree = ast.parse(Path(hasg.__file__).read_text(encoding="utf-8"))
    (checking,) = [n for n in tree.body if isinstance(n, ast.If)]
    typed = {
        alias.asname or alias.name: node.module
        for node in checking.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == hasg._HOME_OF
    with pytest.raises(AttributeError, match="no attribute 'make_client'"):
        hasg.make_client  # noqa: B018


def python_without_plugin_setting(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -c code` with PYDANTIC_DISABLE_PLUGINS unset, as a user's shell has it."""
    base = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}
    )


def test_emit_hcl_does_not_import_importlib_metadata() -> None:
    """With plugins off, pydantic's loader is not imported (nor importlib.metadata)."""
    result = python_without_plugin_setting(
        "import sys\nfrom hasg.cli import main\nmain(['emit-hcl'])\n"
        "print(sorted(m for m in ('importlib.metadata', 'email.message') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_hasgs_plugin_loader_has_what_pydantic_takes_from_the_real_one() -> None:
    """The loader the command gives pydantic must answer every name pydantic
    imports from its own, in this pydantic: read from pydantic's source."""
    import pydantic

    importing = re.compile(r"from (?:\.|pydantic\.plugin\.|\.plugin\.)_loader import ([\w, ]+)")
    taken: set[str] = set()
    for path in Path(pydantic.__file__).parent.rglob("*.py"):
        for names in importing.findall(path.read_text(encoding="utf-8")):
            taken.update(n.strip() for n in names.split(","))
    assert taken == {"get_plugins"}, taken
    result = python_without_plugin_setting(
        "import sys\nfrom hasg.cli import PLUGIN_LOADER, _without_pydantic_plugins\n"
        "_without_pydantic_plugins()\nloader = sys.modules[PLUGIN_LOADER]\n"
        "print(list(loader.get_plugins()))\n"
    )
    assert result.stdout == "[]\n", result.stderr


def test_the_command_loads_no_pydantic_plugin_unless_asked(tmp_path: Path) -> None:
    """A pydantic plugin is third-party code run on every validation of the
    policy: `hasg` does not load one, unless PYDANTIC_DISABLE_PLUGINS is set."""
    dist = tmp_path / "spy_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (tmp_path / "spy_plugin.py").write_text(
        "import os\n"
        "class Spy:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        with open(os.environ['SPY_LOG'], 'a') as log:\n"
        "            log.write('validated\\n')\n"
        "        return None, None, None\n"
        "plugin = Spy()\n"
    )
    log = tmp_path / "spy.log"
    code = "import sys\nfrom hasg.cli import main\nsys.exit(main(['emit-hcl']))\n"
    path = os.pathsep.join([str(tmp_path), *sys.path])
    for setting, loaded in (({}, False), ({"PYDANTIC_DISABLE_PLUGINS": ""}, True)):
        log.unlink(missing_ok=True)
        result = python_without_plugin_setting(code, PYTHONPATH=path, SPY_LOG=str(log), **setting)
        assert result.returncode == 0, result.stderr
        assert log.exists() == loaded


# Errors a user can meet before any AWS call, in the CLI's own words: never a
# library function's name, and the library raises the same line.
WORDED = [
    (
        ["audit", "--vpc", "vpc-12345678", "--map", "automat=sg-12345678"],
        {"role_map": {"automat": "sg-12345678"}},
        "--map: 'automat' is not a role of the policy (roles: automate, chef_server, "
        "postgresql, opensearch, bastion)",
    ),
    (["audit", "--vpc", "vpc-12345678", "--map-tag", ""], {"map_tag": ""}, "--map-tag: a tag key"),
    (
        ["audit", "--vpc", "vpc-12345678", "--known-cluster", "st*"],
        {"known_clusters": ["st*"]},
        "--known-cluster: cluster: 'st*' is not a cluster name",
    ),
    (
        ["audit", "--vpc", "vpc-12345678", "--known-cluster", "x", "--map", "automate=sg-12345678"],
        {"known_clusters": ["x"], "role_map": "automate=sg-12345678"},
        "--known-cluster names hasg clusters: not with --map or --map-tag",
    ),
    (
        ["verify", "--vpc", "vpc-12345678", "--map", "automate=sg-1"],
        {"role_map": "automate=sg-1"},
        "--map: 'sg-1' (role automate) is not a group id (sg-...)",
    ),
]


@pytest.mark.parametrize(("argv", "keywords", "message"), WORDED)
def test_errors_are_said_in_the_clis_words(
    argv: list[str],
    keywords: dict[str, object],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"hasg: error: {message}") and error.count("\n") == 1, error
    assert not re.search(r"hasg\.[a-z_]+", error), error
    function = hasg.verify_vpc if argv[0] == "verify" else hasg.audit_vpc
    with pytest.raises(hasg.HasgError) as raised:
        function(chef_automate_ha(), "vpc-12345678", **keywords)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_plan_refuses_a_vpc_id_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--vpc", "vpc-1"]) == 1
    assert capsys.readouterr().err == (
        "hasg: error: 'vpc-1' is not a VPC id (vpc- and 8 or 17 hex digits)\n"
    )


def test_help_names_every_target() -> None:
    """`hasg --help` imports no backend, so it names the targets itself: all of them."""
    from hasg.backends.base import target_names

    shown = run("--help").stdout.lower()
    emit = shown.split("\n    emit ", 1)[1].split("\n    emit-hcl ", 1)[0]
    assert target_names() and all(name in emit for name in target_names()), emit


def test_emit_warns_when_nobody_can_reach_the_bastion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The built-in policy without admin CIDRs: the command says so on stderr,
    with the option that fixes it, and writes what it was asked to."""
    for argv in (["emit-hcl"], ["emit", "cloudformation"], ["emit", "terraform"]):
        assert main(argv) == 0
        printed = capsys.readouterr()
        assert printed.out and printed.err == (
            "hasg: warning: nobody can reach bastion on tcp/22: the policy's admin_cidrs is "
            "empty; add the CIDRs that may reach it (`hasg init --admin-cidr CIDR` writes a policy "
            "with them)\n"
        )
    policy = tmp_path / "policy.yaml"
    assert main(["init", "--admin-cidr", "203.0.113.7/32", "--out", str(policy)]) == 0
    capsys.readouterr()
    assert main(["emit-hcl", "--policy", str(policy)]) == 0
    assert capsys.readouterr().err == ""
    assert hasg.lockouts(compile_policy(hasg.load_policy_file(policy))) == ()
    assert len(hasg.lockouts(compile_policy(chef_automate_ha()))) == 1
