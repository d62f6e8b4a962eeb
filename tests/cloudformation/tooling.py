"""What the CloudFormation tests judge templates with: cfn-lint (checkov: terraform.tooling)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hasg import Blueprint, Policy, compile_policy
from hasg.backends.cloudformation import to_cloudformation

# cfn-lint as installed with the test extras, beside this interpreter.
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


def write_templates(directory: Path, **policies: Policy) -> dict[str, Blueprint]:
    """Each policy's template, YAML and JSON, as `hasg emit cloudformation` writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    blueprints = {}
    for name, policy in policies.items():
        blueprints[name] = blueprint = compile_policy(policy)
        for form in ("yaml", "json"):
            (directory / f"{name}.{form}").write_text(
                to_cloudformation(blueprint, form), encoding="utf-8"
            )
    return blueprints


def cfn_lint(*templates: Path) -> list[dict[str, Any]]:
    """cfn-lint's findings (errors, warnings and informational) for the templates."""
    done = subprocess.run(
        [CFN_LINT, "--format", "json", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # 0: clean; 2, 4, 8 (and sums): errors, warnings, informational; else it broke.
    assert done.returncode & ~(2 | 4 | 8) == 0, done.stderr[-3000:]
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    return findings


def cfn_lint_each(templates: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings for each named template, from one run over all of
    them. Each run pays cfn-lint's start-up (about 1.7 s of CPU) and fills its
    caches again: the 612- and 500-resource templates of test_limits take
    13.2 s of CPU linted one at a time, 9.4 s in one run."""
    paths = {Path(path): name for name, path in templates.items()}
    findings: dict[str, list[dict[str, Any]]] = {name: [] for name in templates}
    for finding in cfn_lint(*paths):
        # A file cfn-lint names that was not given fails loudly (KeyError).
        findings[paths[Path(finding["Filename"])]].append(finding)
    return findings
