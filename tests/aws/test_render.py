"""The plan as people read it (a line per change, colour on request) and as JSON."""

from __future__ import annotations

import json

from hasg.backends.aws import apply, plan
from hasg.backends.aws.planner import plan_json, render_plan
from hasg.core.blueprint import Blueprint

from .conftest import VPC_CIDR, Cloud, tcp


def test_a_line_per_change_with_its_sign_and_colour_only_when_asked(
    cloud: Cloud, blueprint: Blueprint
) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    automate = cloud.group_id("chef-automate-ha-automate")
    cloud.ec2.authorize_security_group_ingress(GroupId=automate, IpPermissions=tcp(22, "0.0.0.0/0"))
    cloud.ec2.revoke_security_group_ingress(GroupId=automate, IpPermissions=tcp(80, VPC_CIDR))
    cloud.ec2.update_security_group_rule_descriptions_ingress(
        GroupId=automate, IpPermissions=tcp(443, VPC_CIDR, "old words")
    )
    pending = plan(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)

    text = render_plan(pending)
    lines = text.splitlines()
    assert lines[2:5] == [
        f"~ group chef-automate-ha-automate ({automate})",
        f"    + ingress tcp/80 from {VPC_CIDR}",
        "    - ingress tcp/22 from 0.0.0.0/0",
    ]
    assert lines[5].startswith(
        f"    ~ ingress tcp/443 from {VPC_CIDR}: description 'old words' -> 'Users reach"
    )
    assert lines[6:] == [
        "",
        "Plan: 0 group(s) to create, 0 to delete, 1 rule(s) to add, 1 to remove, 1 to update.",
    ]
    assert "\x1b[" not in text

    coloured = render_plan(pending, color=True).splitlines()
    assert coloured[3] == f"\x1b[32m    + ingress tcp/80 from {VPC_CIDR}\x1b[0m"
    assert coloured[4] == "\x1b[31m    - ingress tcp/22 from 0.0.0.0/0\x1b[0m"
    assert coloured[5].startswith("\x1b[33m    ~ ingress tcp/443")

    data = json.loads(json.dumps(plan_json(pending)))
    assert data["changes_pending"] is True
    assert data["summary"] == {"create": 0, "delete": 0, "add": 1, "remove": 1, "update": 1}
    assert {(r["action"], r["from_port"], r["peer"]["value"]) for r in data["rules"]} == {
        ("add", 80, VPC_CIDR),
        ("remove", 22, "0.0.0.0/0"),
        ("update", 443, VPC_CIDR),
    }
    assert next(r for r in data["rules"] if r["action"] == "update")["old_description"] == (
        "old words"
    )


def test_nothing_to_do_is_one_line(cloud: Cloud, blueprint: Blueprint) -> None:
    apply(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    pending = plan(blueprint, vpc_id=cloud.vpc_id, session=cloud.session)
    assert render_plan(pending, color=True) == (
        f"No changes: the 5 group(s) of cluster chef-automate-ha in {cloud.vpc_id} "
        f"({VPC_CIDR}) match the policy.\n"
    )
