"""CloudFormation's quotas on one template: a policy whose template would
pass one is refused with one line naming the limit and the count, before
anything is written; cfn-lint (E3010, E6010, E1002, E1003, E2011) agrees
that each refused template is one CloudFormation would refuse.

12 roles of 50 rules each compiled, passed the rule quota and emitted a
template of 612 resources (141 KB), exit 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hasg import Policy, compile_policy
from hasg.backends.cloudformation import dumps, template, to_cloudformation
from hasg.cli import main
from hasg.errors import QuotaError

from .tooling import cfn_lint_each

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=18)


def policy_of(roles: int, rules: int) -> dict[str, Any]:
    """`roles` roles, each with `rules` ingress rules: a template of
    roles * (rules + 1) resources (a group and a resource per rule)."""
    return {
        "cluster": "big",
        "roles": [{"id": f"r{r}", "description": f"role {r}"} for r in range(roles)],
        "flows": [
            {
                "source": f"10.{r}.{n}.0/24",
                "destination": f"r{r}",
                "ports": ["tcp/22"],
                "description": f"admins {n} of role {r}",
            }
            for r in range(roles)
            for n in range(rules)
        ],
    }


def test_612_resources_are_refused_naming_the_limit_and_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], linted: dict[str, list[dict[str, Any]]]
) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(policy_of(12, 50)), encoding="utf-8")
    for form, name in (("yaml", "template.yaml"), ("json", "template.json")):
        out = tmp_path / f"out-{form}"
        args = ["emit", "cloudformation", "--policy", str(path), "--format", form]
        assert main([*args, "--out", str(out)]) == 1
        assert main(args) == 1  # printing it: nothing printed either
        printed = capsys.readouterr()
        assert printed.out == "" and not out.exists()
        assert (
            printed.err
            == (
                f"hasg: error: {name} would hold 612 resources; CloudFormation takes at most 500 "
                "in one template: split the policy into clusters of fewer rules\n"
            )
            * 2
        )
    # CloudFormation's own linter on the template hasg no longer writes.
    assert "E3010" in {f["Rule"]["Id"] for f in linted["612 resources"]}


def unchecked_612() -> str:
    """The template of 612 resources, written past hasg's check of the quotas."""
    return dumps(template(compile_policy(Policy.model_validate(policy_of(12, 50)))))


def most_500() -> str:
    """The template of 10 groups and 490 rules: 500 resources, the most there may be."""
    return to_cloudformation(compile_policy(Policy.model_validate(policy_of(10, 49))))


def test_500_resources_are_written_and_501_refused(
    linted: dict[str, list[dict[str, Any]]],
) -> None:
    assert len(yaml.safe_load(most_500())["Resources"]) == 500
    assert linted["500 resources"] == []
    more = policy_of(10, 49)
    more["flows"].append({**more["flows"][0], "source": "10.0.99.0/24"})
    with pytest.raises(
        QuotaError, match=r"would hold 501 resources; CloudFormation takes at most 500"
    ):
        to_cloudformation(compile_policy(Policy.model_validate(more)))


_GROUP = {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "d"}}
_BASE: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"G": _GROUP}}


# (quota, template, the count hasg names, cfn-lint's rule for it or None)
QUOTA_CASES: list[tuple[str, dict[str, Any], int | None, str | None]] = [
    (
        "outputs",
        {**_BASE, "Outputs": {f"O{i}": {"Value": {"Ref": "G"}} for i in range(201)}},
        201,
        "E6010",
    ),
    ("description bytes", {**_BASE, "Description": "x" * 1025}, 1025, "E1003"),
    # CloudFormation counts bytes; cfn-lint counts characters.
    ("description bytes", {**_BASE, "Description": "é" * 513}, 1026, None),
    (
        "parameter value bytes",
        {**_BASE, "Parameters": {"P": {"Type": "String", "Default": "x" * 4097}}},
        4097,
        "E2011",
    ),
    ("resources", {**_BASE, "Resources": {f"G{i}": _GROUP for i in range(501)}}, 501, "E3010"),
    ("bytes", {**_BASE, "Metadata": {"pad": "x" * 1_000_001}}, None, "E1002"),
    # cfn-lint 1.x does not count parameters; CloudFormation's quotas page does.
    (
        "parameters",
        {**_BASE, "Parameters": {f"P{i}": {"Type": "String"} for i in range(201)}},
        201,
        None,
    ),
]


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings for each template this module lints, from one
    cfn-lint run over all of them (tooling.cfn_lint_each): every quota case
    cfn-lint has a rule for (`case N`), the 612-resource template hasg refuses
    and the 500-resource one it writes."""
    directory = tmp_path_factory.mktemp("quotas")
    files = {}
    for case, (_, document, _, lint) in enumerate(QUOTA_CASES):
        if lint is not None:
            files[f"case {case}"] = directory / f"case{case}.json"
            files[f"case {case}"].write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    for name, text in (("612 resources", unchecked_612()), ("500 resources", most_500())):
        files[name] = directory / f"{name.replace(' ', '-')}.yaml"
        files[name].write_text(text, encoding="utf-8")
    return cfn_lint_each(files)


@pytest.mark.parametrize(
    "case",
    range(len(QUOTA_CASES)),
    ids=[f"{what}-{lint}" for what, _, _, lint in QUOTA_CASES],
)
def test_every_quota_on_one_template_is_refused_as_cfn_lint_refuses_it(
    case: int, linted: dict[str, list[dict[str, Any]]]
) -> None:
    from hasg.backends.cloudformation import TEMPLATE_LIMITS, check_template_limits

    what, document, count, lint = QUOTA_CASES[case]
    text = json.dumps(document, ensure_ascii=False)
    shown = f"{count:,}" if count is not None else f"{len(text.encode()):,}"
    with pytest.raises(QuotaError) as caught:
        check_template_limits(document, text, "template.json")
    assert str(caught.value) == (
        f"template.json would hold {shown} {what}; CloudFormation takes at most "
        f"{TEMPLATE_LIMITS[what]:,} in one template: split the policy into clusters of fewer rules"
    )
    if lint is not None:
        assert lint in {f["Rule"]["Id"] for f in linted[f"case {case}"]}
