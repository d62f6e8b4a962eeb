"""`hasg audit`: drift between the policy and what is deployed, from any Blueprint,
and from a live VPC (moto's in-process EC2)."""

from __future__ import annotations

import json

import pytest

import hasg
from hasg import compile_policy
from hasg.backends.terraform.hcl import to_hcl
from hasg.backends.terraform.read import read_hcl
from hasg.checks.audit import audit_blueprint, audit_json, audit_text
from hasg.cli import main
from hasg.core.blueprint import Blueprint, Peer, Rule
from hasg.workflows import audit_vpc

from .conftest import REGION, VPC_CIDR, Deployed

BUILT_IN = hasg.chef_automate_ha()
COMPILED = compile_policy(BUILT_IN)


def with_rules(blueprint: Blueprint, role: str, rules: tuple[Rule, ...]) -> Blueprint:
    others = tuple(g for g in blueprint if g.role != role)
    return Blueprint(blueprint.cluster, (*others, blueprint[role].replace(rules=rules)))


def kinds(findings: object) -> list[tuple[str, str, str]]:
    return [(f.kind, f.role, f.detail) for f in findings]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- any Blueprint


def test_a_blueprint_audited_against_itself_is_clean() -> None:
    report = audit_blueprint(COMPILED, COMPILED, source="compiled")

    assert report.ok
    assert audit_text(report).endswith(
        "clean: the groups and rules read hold exactly the policy's\n"
    )


def test_a_blueprint_read_from_terraform_audits_clean() -> None:
    """Any source of Blueprints will do: here the HCL hasg emits, read back."""
    assert audit_blueprint(COMPILED, read_hcl(to_hcl(COMPILED)), source="main.tf").ok


def test_missing_extra_and_changed_rules() -> None:
    automate = COMPILED["automate"].rules
    gone = next(r for r in automate if str(r) == "ingress tcp/443 from group chef_server")
    widened = next(r for r in automate if str(r) == "ingress tcp/7799 from group bastion")
    redescribed = next(r for r in automate if str(r) == "ingress tcp/22 from group bastion")
    actual = with_rules(
        COMPILED,
        "automate",
        (
            *(r for r in automate if r not in (gone, widened, redescribed)),
            Rule("ingress", "tcp", 7000, 7999, widened.peer, widened.description),
            Rule("ingress", "tcp", 22, 22, redescribed.peer, "hand-edited"),
            Rule("ingress", "tcp", 22, 22, Peer("cidr_ipv4", "0.0.0.0/0")),
        ),
    )

    report = audit_blueprint(COMPILED, actual)

    assert kinds(report.findings) == [
        (
            "missing_rule",
            "automate",
            f"ingress tcp/443 from group chef_server ({gone.description})",
        ),
        ("extra_rule", "automate", "ingress tcp/22 from 0.0.0.0/0"),
        (
            "changed_rule",
            "automate",
            "ingress tcp/22 from group bastion: description is 'hand-edited', the policy says "
            f"{redescribed.description!r}",
        ),
        (
            "changed_rule",
            "automate",
            "ingress tcp/7000-7999 from group bastion: ports are tcp/7000-7999, the policy says "
            "tcp/7799",
        ),
    ]


def test_missing_and_extra_groups_are_reported_once_not_rule_by_rule() -> None:
    extra = COMPILED["bastion"].replace(role="jumpbox", name="chef-automate-ha-jumpbox")
    actual = Blueprint(COMPILED.cluster, (*(g for g in COMPILED if g.role != "opensearch"), extra))

    report = audit_blueprint(COMPILED, actual)

    assert [(f.kind, f.role, f.group) for f in report.findings] == [
        ("missing_group", "opensearch", "chef-automate-ha-opensearch"),
        ("extra_group", "jumpbox", "chef-automate-ha-jumpbox"),
    ]


def test_a_group_description_aws_cannot_change_is_reported() -> None:
    renamed = COMPILED["bastion"].replace(description="Jump host")
    actual = Blueprint(COMPILED.cluster, (*(g for g in COMPILED if g.role != "bastion"), renamed))

    (finding,) = audit_blueprint(COMPILED, actual).findings

    assert finding.kind == "changed_group"
    assert "its description is 'Jump host'" in finding.detail


# --------------------------------------------------------------------------- a live VPC


def test_the_freshly_applied_policy_audits_clean_and_audit_only_reads(deployed: Deployed) -> None:
    report = audit_vpc(BUILT_IN, deployed.vpc_id, session=deployed.session)

    assert report.ok, audit_text(report)
    assert (report.groups_checked, report.rules_checked) == (5, COMPILED.rule_count())
    assert deployed.calls and all(name.startswith("Describe") for name in deployed.calls)


def test_live_drift_of_every_kind(deployed: Deployed) -> None:
    pg = deployed.group_ids["postgresql"]
    deployed.authorize(
        "postgresql",
        "ingress",
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    )
    deployed.revoke(
        "automate",
        "ingress",
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": VPC_CIDR}]},
    )
    legacy = deployed.stranger("legacy-admin")
    deployed.ec2.authorize_security_group_ingress(
        GroupId=legacy,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": pg}],
            }
        ],
    )
    staging = deployed.stranger(
        "staging-automate",
        {"managed-by": "hasg", "hasg:cluster": "staging", "hasg:role": "automate"},
    )
    stray = deployed.stranger("half-tagged", {"hasg:cluster": "chef-automate-ha"})

    report = audit_vpc(BUILT_IN, deployed.vpc_id, session=deployed.session)

    assert [(f.kind, f.role, f.group_id) for f in report.findings] == [
        ("missing_rule", "automate", deployed.group_ids["automate"]),
        ("extra_rule", "postgresql", pg),
        ("foreign_reference", "postgresql", legacy),
        ("other_cluster", "", staging),
        ("stray_group", "", stray),
    ]
    assert report.findings[2].detail == (
        "ingress tcp/5432 from group postgresql: a group hasg does not manage refers to "
        "postgresql's group"
    )
    text = audit_text(report)
    assert f"  foreign reference  legacy-admin ({legacy})" in text
    assert text.endswith("drift: 5 finding(s)\n")

    known = audit_vpc(
        BUILT_IN, deployed.vpc_id, session=deployed.session, known_clusters=["staging"]
    )
    assert not known.of_kind("other_cluster")


def test_hasg_audit_exits_0_when_clean_and_2_on_drift_with_json(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "--vpc", deployed.vpc_id, "--region", REGION]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(
        f"Audit of cluster chef-automate-ha in {deployed.vpc_id}: 5 groups"
    )

    deployed.revoke(
        "bastion",
        "egress",
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        },
    )
    assert main([*argv, "--json"]) == 2

    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["findings"] == [
        {
            "kind": "missing_rule",
            "role": "bastion",
            "group": "chef-automate-ha-bastion",
            "group_id": deployed.group_ids["bastion"],
            "detail": "egress tcp/443 to 0.0.0.0/0 (Bastion downloads Chef packages and the "
            "airgap bundle from the internet)",
        }
    ]
    assert json.loads(audit_json(audit_vpc(BUILT_IN, deployed.vpc_id))) == document


def test_hasg_audit_of_a_vpc_that_is_not_there_is_an_error(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--vpc", "vpc-0123456789abcdef0", "--region", REGION]) == 1
    assert "VPC vpc-0123456789abcdef0 not found" in capsys.readouterr().err


def test_hasg_verify_vpc_checks_what_is_live(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "--vpc", deployed.vpc_id, "--region", REGION]
    assert main(argv) == 0
    assert capsys.readouterr().out.endswith("verify: ok\n")

    deployed.authorize(
        "postgresql",
        "ingress",
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "UserIdGroupPairs": [{"GroupId": deployed.group_ids["automate"]}],
        },
    )
    deployed.authorize(
        "automate",
        "egress",
        {
            "IpProtocol": "tcp",
            "FromPort": 0,
            "ToPort": 65535,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        },
    )
    assert main(argv) == 1

    out = capsys.readouterr().out
    assert "automate -> postgresql may open tcp/22, which no flow of the policy asks for" in out
    assert "automate egress opens tcp/0-65535 to 0.0.0.0/0, which the policy does not name" in out
    assert out.endswith("verify: 2 breaches\n")


@pytest.mark.parametrize(("protocol", "shown"), [("50", "proto/50"), ("47", "proto/47")])
def test_hasg_verify_vpc_reports_an_esp_or_gre_rule_and_audit_finds_it(
    deployed: Deployed, capsys: pytest.CaptureFixture[str], protocol: str, shown: str
) -> None:
    """It crashed with a KeyError traceback on any protocol but tcp, udp, icmp(v6), all."""
    deployed.authorize(
        "automate",
        "ingress",
        {"IpProtocol": protocol, "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": VPC_CIDR}]},
    )
    assert main(["verify", "--vpc", deployed.vpc_id, "--region", REGION]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert (
        f"automate ingress opens {shown} from {VPC_CIDR}, which the policy does not name"
        in captured.out
    )

    assert main(["audit", "--vpc", deployed.vpc_id, "--region", REGION]) == 2
    assert f"ingress {shown} from {VPC_CIDR}" in capsys.readouterr().out


def test_a_group_with_hasgs_tags_but_not_its_name_is_a_finding(deployed: Deployed) -> None:
    payments = deployed.stranger(
        "payments-db",
        {"managed-by": "hasg", "hasg:cluster": "chef-automate-ha", "hasg:role": "ledger"},
    )
    report = audit_vpc(BUILT_IN, deployed.vpc_id, session=deployed.session)
    assert [(f.kind, f.role, f.group, f.group_id) for f in report.findings] == [
        ("misnamed_group", "ledger", "payments-db", payments)
    ]
