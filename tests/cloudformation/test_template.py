"""The template `hasg emit cloudformation` writes: cfn-lint and checkov pass it
(and fail what they should), every rule is one resource named by what it is,
every group's egress is explicit, and it fits CloudFormation's inline limit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from terraform.tooling import PUBLIC_SSH, Checkov, CheckovReport, every_kind_of_peer, with_flows

from hasg import Blueprint, Policy, chef_automate_ha, compile_policy, dump_policy
from hasg.backends.base import Backend
from hasg.backends.cloudformation import (
    BACKEND,
    NO_TRAFFIC_EGRESS,
    RULE_TYPES,
    TEMPLATE_BODY_LIMIT,
    logical_ids,
    template,
    to_cloudformation,
)
from hasg.cli import main
from hasg.core.blueprint import Peer, Rule, SecurityGroup
from hasg.core.networks import wide_open
from hasg.core.quotas import RULES_PER_GROUP
from hasg.errors import QuotaError, UsageError

from .tooling import cfn_lint_each, write_templates

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=17)

ADMINS = ["203.0.113.7/32", "2001:db8:2::/64"]
USERS = ["198.51.100.0/24", "2001:db8:1::/48"]


RESTRICTING = chef_automate_ha().model_copy(update={"restrict_default_group": True})


def policies() -> dict[str, Policy]:
    return {
        "builtin": chef_automate_ha(),
        "lists": chef_automate_ha(admin_cidrs=ADMINS, user_cidrs=USERS),
        "every_kind_of_peer": every_kind_of_peer(),
    }


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory whose subdirectories checkov scans in one run (scan_each)."""
    return tmp_path_factory.mktemp("scanned")


@pytest.fixture(scope="module")
def templates(scanned: Path) -> tuple[Path, dict[str, Blueprint]]:
    directory = scanned / "templates"
    return directory, write_templates(directory, **policies())


def broken_rule() -> dict[str, Any]:
    """What a careless emitter could write: two peers on one rule and a
    logical id with `_`."""
    document = template(compile_policy(chef_automate_ha()))
    resources = document["Resources"]
    name, rule = next((n, r) for n, r in resources.items() if r["Type"] == RULE_TYPES["ingress"])
    rule["Properties"]["CidrIp"] = "10.0.0.0/8"
    resources["bad_id"] = resources.pop(name)
    return document


@pytest.fixture(scope="module")
def linted(
    templates: tuple[Path, dict[str, Blueprint]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings for each template hasg writes (by file name) and for
    the broken one, from one run (tooling.cfn_lint_each)."""
    directory, _ = templates
    files = {path.name: path for path in directory.iterdir()}
    broken = tmp_path_factory.mktemp("broken") / "broken.json"
    broken.write_text(json.dumps(broken_rule()), encoding="utf-8")
    return cfn_lint_each({**files, "broken": broken})


def test_cfn_lint_finds_nothing(linted: dict[str, list[dict[str, Any]]]) -> None:
    written = {name: found for name, found in linted.items() if name != "broken"}
    assert len(written) == 2 * len(policies())
    assert all(found == [] for found in written.values()), written


def test_cfn_lint_ignores_only_its_icmpv6_misreading() -> None:
    """E3688 is ignored on ICMPv6 rules of one type with any code, on no other rule."""
    blueprint = compile_policy(every_kind_of_peer())
    ignoring = {
        (r["Properties"]["IpProtocol"], r["Properties"]["FromPort"], r["Properties"]["ToPort"])
        for r in rule_resources(template(blueprint)).values()
        if "Metadata" in r
    }
    assert ignoring == {("icmpv6", 8, -1)}


def test_cfn_lint_does_fail_a_broken_rule(linted: dict[str, list[dict[str, Any]]]) -> None:
    """The pass means something: a broken rule (broken_rule) is an error to cfn-lint."""
    assert "Error" in {f["Level"] for f in linted["broken"]}


@pytest.fixture(scope="module")
def checkov_reports(
    checkov: Checkov, scanned: Path, templates: tuple[Path, dict[str, Blueprint]]
) -> dict[str, CheckovReport]:
    """The templates of every policy, and one of a policy with SSH open to the
    world, in one checkov run: a report each."""
    blueprint = compile_policy(with_flows(chef_automate_ha(), PUBLIC_SSH))
    (scanned / "open").mkdir()
    (scanned / "open" / "open.yaml").write_text(to_cloudformation(blueprint), encoding="utf-8")
    return checkov.scan_each(scanned, framework="cloudformation")


@pytest.fixture(scope="module")
def checkov_report(checkov_reports: dict[str, CheckovReport]) -> CheckovReport:
    return checkov_reports["templates"]


def test_checkov_passes_every_check(checkov_report: CheckovReport) -> None:
    assert checkov_report.resource_count > 0
    assert not checkov_report.parsing_errors
    assert checkov_report.failed == ()
    assert checkov_report.skipped == ()


def test_checkov_evaluated_every_rule(
    checkov_report: CheckovReport, templates: tuple[Path, dict[str, Blueprint]]
) -> None:
    """checkov saw each rule resource of each template (by logical id), and ran
    the description and open-ingress checks on them."""
    expected = set()
    for blueprint in templates[1].values():
        ids = logical_ids(blueprint)
        for group in blueprint:
            expected |= {f"{RULE_TYPES[r.direction]}.{ids[(group.role, r)]}" for r in group.rules}
    assert checkov_report.resources("CKV_AWS_23") >= expected
    ingress = {a for a in expected if a.startswith(RULE_TYPES["ingress"])}
    assert checkov_report.resources("CKV_AWS_24") >= ingress


def test_checkov_fails_ssh_open_to_the_world(checkov_reports: dict[str, CheckovReport]) -> None:
    report = checkov_reports["open"]
    failed = {(c["check_id"], c["resource"]) for c in report.failed}
    assert ("CKV_AWS_24", f"{RULE_TYPES['ingress']}.BastionTcp22From0x0x0x0x0") in failed


def rule_resources(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in document["Resources"].items() if r["Type"] in RULE_TYPES.values()}


@pytest.mark.parametrize("name", sorted(policies()))
def test_one_resource_per_rule_and_all_egress_explicit(name: str) -> None:
    blueprint = compile_policy(policies()[name])
    document = template(blueprint)
    assert len(rule_resources(document)) == blueprint.rule_count()
    groups = [r for r in document["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroup"]
    assert len(groups) == len(blueprint.groups)
    for group in groups:
        # Listed inline, it is what makes CloudFormation drop AWS's allow-all egress.
        (inline,) = group["Properties"]["SecurityGroupEgress"]
        assert inline["CidrIp"] == NO_TRAFFIC_EGRESS.peer.value
        assert (inline["IpProtocol"], inline["FromPort"], inline["ToPort"]) == ("icmp", 252, 86)
    for rule in rule_resources(document).values():
        assert rule["Properties"]["Description"]


def test_restrict_default_group_is_refused_naming_where_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CloudFormation has no resource for a VPC's default group: a policy with
    restrict_default_group is refused before anything is written, naming
    hasg apply and Terraform, never turned into a template that does less."""
    for attempt in (
        lambda: BACKEND.emit(compile_policy(RESTRICTING)),
        lambda: to_cloudformation(compile_policy(RESTRICTING)),
    ):
        with pytest.raises(UsageError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith("cloudformation cannot express restrict_default_group")
        assert "hasg apply" in message and "aws_default_security_group" in message
    policy = tmp_path / "policy.yaml"
    policy.write_text(dump_policy(RESTRICTING), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["emit", "cloudformation", "--policy", str(policy), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 1 and printed.out == "" and not out.exists()
    assert (
        printed.err.startswith("hasg: error: cloudformation cannot express")
        and printed.err.count("\n") == 1
    )


def test_yaml_and_json_say_the_same() -> None:
    blueprint = compile_policy(every_kind_of_peer())
    from_yaml = yaml.safe_load(to_cloudformation(blueprint, "yaml"))
    assert from_yaml == json.loads(to_cloudformation(blueprint, "json")) == template(blueprint)


def test_reordering_the_policy_renames_nothing() -> None:
    policy = every_kind_of_peer()
    reordered = Policy.model_validate(
        {**policy.model_dump(), "flows": list(reversed(policy.model_dump()["flows"]))}
    )
    assert to_cloudformation(compile_policy(reordered)) == to_cloudformation(compile_policy(policy))


def test_outputs_export_each_group_id_by_stack_and_role() -> None:
    document = template(compile_policy(chef_automate_ha()))
    exports = {o["Export"]["Name"]["Fn::Sub"] for o in document["Outputs"].values()}
    assert "${AWS::StackName}-chef-server" in exports
    assert len(exports) == 5


def test_the_builtin_yaml_template_fits_cloudformations_inline_limit() -> None:
    """YAML, the default, passes inline; JSON is the larger (docs/cloudformation.md)."""
    for policy in (chef_automate_ha(), chef_automate_ha(admin_cidrs=ADMINS, user_cidrs=USERS)):
        blueprint = compile_policy(policy)
        size = len(to_cloudformation(blueprint, "yaml").encode())
        assert size < TEMPLATE_BODY_LIMIT, size
        assert size < len(to_cloudformation(blueprint, "json").encode())


def test_the_json_template_is_indented_for_review() -> None:
    """One key per line, two spaces a level: a reviewer reads it, a diff shows
    the rule that changed; and it is the same document as the YAML."""
    blueprint = compile_policy(chef_automate_ha())
    text = to_cloudformation(blueprint, "json")
    lines = text.splitlines()
    assert len(lines) > 1000 and max(len(line) for line in lines) < 300
    assert lines[1].startswith('  "AWSTemplateFormatVersion": ')
    assert json.loads(text) == yaml.safe_load(to_cloudformation(blueprint, "yaml"))
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_clashing_readable_ids_are_made_unique() -> None:
    """`a_1` and `a1` are both `A1`; a role `vpc_id` would be the parameter VpcId."""
    rule = Rule("ingress", "tcp", 22, 22, Peer("cidr_ipv4", "10.0.0.0/8"), "ssh")
    groups = tuple(
        SecurityGroup(role, f"c-{role}", "d", {}, rules=(rule,)) for role in ("a_1", "a1", "vpc_id")
    )
    document = template(Blueprint("c", groups))
    ids = logical_ids(Blueprint("c", groups))
    assert len(set(ids.values())) == len(ids) == 6
    assert "VpcId" not in {ids[(g.role, None)] for g in groups}
    assert document["Parameters"]["VpcId"]["Type"] == "AWS::EC2::VPC::Id"


def test_backend_registers_by_name() -> None:
    assert isinstance(BACKEND, Backend)
    files = BACKEND.emit(compile_policy(chef_automate_ha()), {"format": "json"})
    assert list(files) == ["template.json"]
    with pytest.raises(UsageError, match="'xml'"):
        BACKEND.emit(compile_policy(chef_automate_ha()), {"format": "xml"})


# --------------------------------------------------------------------------- quota


def _cidrs(count: int) -> list[tuple[Peer, int]]:
    return [(Peer("cidr_ipv4", f"10.0.{n}.0/24"), 1) for n in range(count)]


def _prefix_list(n: int, size: int, family: Literal["ipv4", "ipv6"]) -> tuple[Peer, int]:
    peer = Peer("prefix_list", f"pl-{n:017x}", max_entries=size, prefix_list_family=family)
    return peer, size if family == "ipv4" else 0


# Each peer with what AWS counts for it against a group's IPv4 egress quota
# (Amazon VPC quotas, "Inbound or outbound rules per security group"): a CIDR
# one rule of its family, a referenced group one rule in each family, a
# customer-managed prefix list its max entries in its family.
egress_peers = st.one_of(
    st.builds(
        lambda n: (Peer("cidr_ipv4", f"10.{n // 256}.{n % 256}.0/24"), 1), st.integers(0, 9999)
    ),
    st.builds(lambda n: (Peer("cidr_ipv6", f"2001:db8:{n:x}::/48"), 0), st.integers(0, 9999)),
    st.just((Peer("group", "web"), 1)),
    st.builds(
        lambda n, size, family: _prefix_list(n, size, family),
        st.integers(0, 999),
        st.integers(1, 30),
        st.sampled_from(["ipv4", "ipv6"]),
    ),
)


@settings(max_examples=200, deadline=None)
# At the quota and one past it, written out: 59 rules and the inline one fit.
@example(_cidrs(59), "tcp")
@example([*_cidrs(59), (Peer("group", "web"), 1)], "tcp")
@example([_prefix_list(1, 30, "ipv4"), _prefix_list(2, 29, "ipv4")], "50")
@example([_prefix_list(1, 30, "ipv4"), _prefix_list(2, 30, "ipv4")], "-1")
@example([_prefix_list(n, 30, "ipv6") for n in range(3)] + _cidrs(59), "udp")
@given(
    # One rule per peer: rules of a protocol without ports to one peer are one rule.
    st.lists(egress_peers, max_size=80, unique_by=lambda peer_cost: peer_cost[0].value),
    st.sampled_from(["tcp", "udp", "-1", "50"]),
)
def test_egress_quota_counts_the_inline_rule_as_aws_does(
    peers: list[tuple[Peer, int]], protocol: str
) -> None:
    """AWS counts a group reference in both families and a prefix list at its max
    entries; the inline no-traffic rule is one more IPv4 egress rule."""
    # Distinct ports keep rules to the same peer apart (AWS counts each).
    rules = tuple(
        Rule("egress", protocol, *((n, n) if protocol in ("tcp", "udp") else (-1, -1)), p, "out")
        for n, (p, _) in enumerate(peers)
    )
    group = SecurityGroup("web", "c-web", "d", {}, rules=rules)
    ipv4 = sum(cost for _, cost in peers)
    blueprint = Blueprint("c", (group,))
    if ipv4 + 1 > 60:  # AWS's quota: 60 egress rules per family
        with pytest.raises(QuotaError, match=f"c-web.* would have {ipv4 + 1} egress IPv4 rules"):
            template(blueprint)
    else:
        template(blueprint)


def test_a_policy_at_the_egress_quota_is_refused() -> None:
    flows = [
        {
            "source": "bastion",
            "destination": f"10.{n}.0.0/16",
            "ports": [22],
            "description": f"subnet {n}",
        }
        for n in range(RULES_PER_GROUP - 20)
    ]
    policy = with_flows(chef_automate_ha(), *flows)
    blueprint = compile_policy(policy)  # within quota for `hasg apply`
    assert len(blueprint["bastion"].rules_for("egress")) == RULES_PER_GROUP
    with pytest.raises(QuotaError, match="bastion"):
        to_cloudformation(blueprint)


# --------------------------------------------------------------------------- world guard


def list_patterns(blueprint: Blueprint) -> dict[str, str]:
    return {
        name: p["AllowedPattern"]
        for name, p in template(blueprint)["Parameters"].items()
        if p["Type"] == "CommaDelimitedList"
    }


@st.composite
def spelled_networks(draw: st.DrawFn) -> tuple[str, int]:
    """A network of either family, in one of the spellings EC2 or a person may use:
    compressed, exploded, upper case, the prefix length with leading zeros."""
    import ipaddress

    ipv6 = draw(st.booleans())
    bits = 128 if ipv6 else 32
    length = draw(st.sampled_from([0, 0, 1, 8, 24, bits]) | st.integers(0, bits))
    address = draw(st.integers(0, 2**bits - 1)) >> (bits - length) << (bits - length)
    network = ipaddress.ip_network((address, length))
    text = draw(st.sampled_from([network.compressed, network.exploded]))
    if draw(st.booleans()):
        text = text.upper()
    if length == 0 and draw(st.booleans()):
        text = text.replace("/0", "/" + "0" * draw(st.integers(2, 3)))
    return text, length


@settings(max_examples=300, deadline=None)
@given(spelled_networks())
def test_ssh_list_parameters_refuse_the_world_in_any_spelling(network: tuple[str, int]) -> None:
    """admin_cidrs opens SSH: no element may be a /0, or wide open alone,
    however it is written (tests/cloudformation/test_parameter_guard.py);
    user_cidrs opens only 80 and 443, which may face the internet."""
    text, length = network
    patterns = list_patterns(compile_policy(chef_automate_ha(admin_cidrs=ADMINS, user_cidrs=USERS)))
    family = "Ipv6" if ":" in text else "Ipv4"
    admin, users = patterns[f"AdminCidrs{family}"], patterns[f"UserCidrs{family}"]
    if length == 0:
        assert re.fullmatch(admin, text) is None
    if re.fullmatch(admin, text) is not None:
        assert re.fullmatch(users, text) is not None
        assert not wide_open([text.lower()])


def test_the_python_example_of_the_docs_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cloudformation.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/cloudformation.md", "exec"), {})
    written = yaml.safe_load((tmp_path / "sg.yaml").read_text(encoding="utf-8"))
    assert "AdminCidrsIpv4" in written["Parameters"]
