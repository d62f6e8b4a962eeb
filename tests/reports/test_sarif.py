"""`--format sarif`: every report as a SARIF 2.1.0 log, judged by the OASIS
schema (vendored, README.md), with one rule per kind of finding, a level per
result, the file, line and column of a Terraform resource, and fingerprints
that keep a finding's identity from run to run."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from terraform.tooling import MODULE

import hasg
from hasg import compile_policy
from hasg.checks.coverage import check_coverage
from hasg.checks.reachability import verify
from hasg.cli import main
from hasg.core.blueprint import Blueprint, Peer, Rule
from hasg.core.findings import KIND_ORDER, KINDS
from hasg.core.sarif import FINGERPRINT, to_sarif

from .sarif import SCHEMA, SCHEMA_SHA256, results, valid_sarif

POLICY = hasg.chef_automate_ha()
COMPILED = compile_policy(POLICY)
HOST_INVENTORY = Path(__file__).resolve().parents[1] / "hosts" / "fixtures" / "config.toml"
WORLD_SSH = Rule("ingress", "tcp", 22, 22, Peer("cidr_ipv4", "0.0.0.0/0"), "anyone")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def with_rules(blueprint: Blueprint, role: str, rules: tuple[Rule, ...]) -> Blueprint:
    others = tuple(g for g in blueprint if g.role != role)
    return Blueprint(blueprint.cluster, (*others, blueprint[role].replace(rules=rules)))


# --------------------------------------------------------------------------- the schema


def test_the_vendored_schema_is_the_one_oasis_published() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"] == (
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    )


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda log: log.update(version="2.0.0"), "'2.1.0'"),
        (lambda log: log["runs"][0]["results"][0].update(level="fatal"), "fatal"),
        (lambda log: log["runs"][0]["results"][0].pop("message"), "message"),
        (lambda log: log["runs"][0]["tool"]["driver"].pop("name"), "name"),
        (
            lambda log: log["runs"][0]["results"][0]["locations"][0].update(
                physicalLocation={"artifactLocation": {"uri": "a file.tf"}}
            ),
            "uri-reference",
        ),
        (
            lambda log: log["runs"][0]["results"][0]["locations"][0].update(
                physicalLocation={"region": {"startLine": 0}}
            ),
            "startLine",
        ),
    ],
)
def test_the_schema_check_can_fail(spoil: Any, why: str) -> None:
    report = verify(POLICY, with_rules(COMPILED, "bastion", (WORLD_SSH,)))
    log = valid_sarif(to_sarif(report, check="verify"))
    spoil(log)
    with pytest.raises(jsonschema.ValidationError) as raised:
        valid_sarif(json.dumps(log))
    assert why in str(raised.value)


# --------------------------------------------------------------------------- rules and results


def test_one_rule_per_kind_with_description_help_and_level() -> None:
    log = valid_sarif(to_sarif(check_coverage(COMPILED), check="coverage"))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(KIND_ORDER)
    for rule in rules:
        text = KINDS[rule["id"]]
        assert rule["shortDescription"]["text"] == text.description
        assert rule["help"]["text"] == text.help and text.help.endswith(".")
        assert rule["defaultConfiguration"]["level"] == text.level
        # GitHub ranks security alerts by this number, 0.0 to 10.0.
        severity = rule.get("properties", {}).get("security-severity")
        assert severity is None or 0.0 <= float(severity) <= 10.0


def test_every_result_has_its_kinds_rule_and_level() -> None:
    drifted = with_rules(COMPILED, "bastion", (WORLD_SSH,))
    for check, report in (
        ("verify", verify(POLICY, drifted)),
        ("coverage", check_coverage(drifted)),
        ("audit", hasg.audit_blueprint(COMPILED, drifted)),
    ):
        log = valid_sarif(to_sarif(report, check=check))
        rules = log["runs"][0]["tool"]["driver"]["rules"]
        found = results(log)
        assert len(found) == len(report.findings) > 0, check
        for result, finding in zip(found, report.findings, strict=True):
            assert result["ruleId"] == finding.kind == rules[result["ruleIndex"]]["id"]
            assert result["level"] == KINDS[finding.kind].level
            assert finding.detail in result["message"]["text"]
        assert log["runs"][0]["automationDetails"]["id"] == f"hasg/{check}/"


def test_a_clean_report_is_a_log_without_results(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "coverage", "--format", "sarif")
    assert code == 0
    assert results(valid_sarif(out)) == []


def test_verify_locates_a_breach_at_its_role_without_a_vpc() -> None:
    report = verify(POLICY, with_rules(COMPILED, "bastion", (WORLD_SSH,)))
    log = valid_sarif(to_sarif(report, check="verify"))
    (run_,) = log["runs"]
    by_name = {e["fullyQualifiedName"]: e for e in run_["logicalLocations"]}
    opened = [r for r in results(log) if r["ruleId"] == "unnamed_cidr"]
    assert opened, results(log)
    (where,) = opened[0]["locations"]
    assert where["logicalLocations"][0]["fullyQualifiedName"] == "bastion"
    assert by_name["bastion"]["kind"] == "role"


def test_coverage_locates_an_uncovered_cell_in_its_role() -> None:
    report = check_coverage(
        Blueprint(COMPILED.cluster, tuple(g for g in COMPILED if g.role != "automate"))
    )
    log = valid_sarif(to_sarif(report, check="coverage"))
    names = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results(log)}
    assert names and all(name.startswith("automate/") for name in names)
    assert "automate/incoming TCP 443" in names
    (run_,) = log["runs"]
    parents = {e["fullyQualifiedName"]: e.get("parentIndex") for e in run_["logicalLocations"]}
    assert run_["logicalLocations"][parents["automate/incoming TCP 443"]]["name"] == "automate"


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("command", ["coverage", "verify", "audit"])
def test_json_is_the_spelling_of_format_json(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    source = ["--hcl", str(MODULE)] if command == "audit" else []
    old = run(capsys, command, *source, "--json")
    new = run(capsys, command, *source, "--format", "json")
    text = run(capsys, command, *source)
    assert old == new and json.loads(old[1])
    assert text == run(capsys, command, *source, "--format", "text") != old
    with pytest.raises(SystemExit) as refused:
        main([command, *source, "--json", "--format", "sarif"])
    out, err = capsys.readouterr()
    assert (refused.value.code, out) == (1, "") and "not allowed with argument --json" in err


@pytest.mark.parametrize("command", ["coverage", "verify", "audit"])
def test_every_command_writes_valid_sarif(capsys: pytest.CaptureFixture[str], command: str) -> None:
    source = ["--hcl", str(MODULE)] if command == "audit" else []
    code, out, err = run(capsys, command, *source, "--format", "sarif")
    assert (code, err) == (0, "")
    log = valid_sarif(out)
    assert log["runs"][0]["tool"]["driver"]["version"] == hasg.__version__


def test_the_host_audit_writes_valid_sarif(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nft = tmp_path / "host.json"
    nft.write_text('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', encoding="utf-8")
    code, out, _ = run(
        capsys,
        "audit",
        *("--nft", str(nft), "--inventory", str(HOST_INVENTORY)),
        *("--host", "198.18.0.10", "--bastion", "198.18.0.5", "--network", "198.18.0.0/24"),
        "--format",
        "sarif",
    )
    assert code == 2
    log = valid_sarif(out)
    # No table: nothing is dropped, so every port the policy keeps closed is open.
    found = results(log)
    assert {r["ruleId"] for r in found} == {"beyond_policy"}
    for result in found:
        (location,) = result["locations"]
        assert location["logicalLocations"][0]["name"] == "198.18.0.10"
    assert log["runs"][0]["automationDetails"]["id"] == f"hasg/audit/{nft}/"


# --------------------------------------------------------------------------- audit --hcl


def drifted_module(directory: Path, *, pad: int = 0, description: str = "anyone") -> Path:
    """The committed module, with SSH from anywhere on the bastion (a rule
    resource written by hand, indented), the chef_server's 443 from the
    frontends gone, and `pad` comment lines on top of main.tf."""
    module = directory / "module"
    shutil.copytree(MODULE, module)
    main_tf = module / "main.tf"
    text = main_tf.read_text(encoding="utf-8")
    start = text.index('resource "aws_vpc_security_group_ingress_rule" "automate_tcp_443_from_chef')
    end = text.index("\n}\n", start) + 3
    text = "# edited by hand\n" * pad + text[:start] + text[end:]
    text += (
        '\n  resource "aws_vpc_security_group_ingress_rule" "ssh_from_anywhere" {\n'
        "  security_group_id = aws_security_group.bastion.id\n"
        f'  description       = "{description}"\n'
        '  ip_protocol       = "tcp"\n'
        "  from_port         = 22\n"
        "  to_port           = 22\n"
        '  cidr_ipv4         = "0.0.0.0/0"\n'
        "}\n"
    )
    main_tf.write_text(text, encoding="utf-8")
    return module


def hcl_sarif(capsys: pytest.CaptureFixture[str], module: Path) -> dict[str, Any]:
    code, out, err = run(capsys, "audit", "--hcl", str(module), "--format", "sarif")
    assert (code, err) == (2, "")
    return valid_sarif(out)


def header(path: Path, block: str) -> tuple[int, int]:
    """The line and column (1-based) of `block`'s first word in `path`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if block in line:
            return number, line.index(block) + 1
    raise AssertionError(f"{block} not in {path}")


def physical(result: dict[str, Any]) -> tuple[str, int, int]:
    (location,) = result["locations"]
    found = location["physicalLocation"]
    region = found["region"]
    return found["artifactLocation"]["uri"], region["startLine"], region["startColumn"]


def test_hcl_findings_are_where_the_resources_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = drifted_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    log = hcl_sarif(capsys, Path("module"))
    by_kind = {r["ruleId"]: r for r in results(log)}
    assert set(by_kind) == {"missing_rule", "extra_rule"}

    # The extra rule: its own resource, at its `resource` keyword (indented by two).
    line, column = header(module / "main.tf", 'resource "aws_vpc_security_group_ingress_rule" "ssh')
    assert column == 3
    assert physical(by_kind["extra_rule"]) == ("module/main.tf", line, column)
    address = "aws_vpc_security_group_ingress_rule.ssh_from_anywhere"
    (where,) = by_kind["extra_rule"]["locations"]
    assert where["logicalLocations"][0]["fullyQualifiedName"] == f"module/{address}"
    assert where["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    # The missing rule: the group that lacks it.
    line, column = header(module / "main.tf", 'resource "aws_security_group" "automate"')
    assert physical(by_kind["missing_rule"]) == ("module/main.tf", line, column)
    base = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == tmp_path.resolve().as_uri() + "/"


def test_a_finding_keeps_its_fingerprint_when_lines_move_and_descriptions_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = results(hcl_sarif(capsys, drifted_module(tmp_path / "a")))
    after = results(
        hcl_sarif(capsys, drifted_module(tmp_path / "b", pad=3, description="SSH for all"))
    )

    def by_fingerprint(found: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
        return {r["partialFingerprints"][FINGERPRINT]: (r["ruleId"], physical(r)[1]) for r in found}

    old, new = by_fingerprint(before), by_fingerprint(after)
    assert len(old) == len(before) == 2  # distinct findings, distinct fingerprints
    assert old.keys() == new.keys()
    for fingerprint, (kind, line) in old.items():
        assert new[fingerprint] == (kind, line + 3)


def test_inline_blocks_and_json_resources_are_located_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A classic inline `ingress` block, at its keyword; a rule in Terraform's
    JSON syntax, at the key that names it."""
    module = drifted_module(tmp_path)
    main_tf = module / "main.tf"
    text = main_tf.read_text(encoding="utf-8")
    cut = text.index('\n  resource "aws_vpc_security_group_ingress_rule" "ssh_from_anywhere"')
    main_tf.write_text(text[:cut] + "\n", encoding="utf-8")
    opened = text.index('resource "aws_security_group" "bastion" {')
    inline = (
        "\n    ingress {\n"
        '      description = "anyone"\n'
        '      protocol    = "tcp"\n'
        "      from_port   = 22\n"
        "      to_port     = 22\n"
        '      cidr_blocks = ["0.0.0.0/0"]\n'
        "    }\n"
    )
    at = text.index("\n", opened)
    main_tf.write_text(text[:at] + inline + text[at:cut] + "\n", encoding="utf-8")
    extra = {
        "resource": {
            "aws_vpc_security_group_egress_rule": {
                "leak": {
                    "security_group_id": "${aws_security_group.postgresql.id}",
                    "description": "anything",
                    "ip_protocol": "tcp",
                    "from_port": 25,
                    "to_port": 25,
                    "cidr_ipv4": "0.0.0.0/0",
                }
            }
        }
    }
    (module / "extra.tf.json").write_text(json.dumps(extra, indent=2), encoding="utf-8")
    found = [r for r in results(hcl_sarif(capsys, module)) if r["ruleId"] == "extra_rule"]
    places = sorted(physical(r) for r in found)
    assert places == sorted(
        [
            ((module / "extra.tf.json").as_uri(), *header(module / "extra.tf.json", '"leak"')),
            (main_tf.as_uri(), *header(main_tf, "ingress {")),
        ]
    )


def test_emit_hcl_starts_without_the_report_writers() -> None:
    """Start-up is benchmarked (docs/benchmarks.md): SARIF and its JSON load
    with the commands that write reports, never with `hasg emit-hcl`."""
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from hasg.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['emit-hcl'])\n"
        "heavy = ('json', 'jsonschema', 'hasg.core.sarif', 'hasg.core.findings',\n"
        "         'hasg.backends.aws.dump', 'hasg.cli.precommit')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr
