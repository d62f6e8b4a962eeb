"""Template -> Blueprint: the emitted template reads back as the Blueprint it was
written from, and what the reader cannot evaluate is an error naming the file
and the resource, never a rule left out."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from terraform.tooling import every_kind_of_peer, with_flows

from hasg import chef_automate_ha, compile_policy
from hasg.backends.cloudformation import (
    BACKEND,
    RULE_TYPES,
    read_cloudformation,
    template,
    to_cloudformation,
)
from hasg.core.blueprint import Peer, Rule
from hasg.core.no_traffic import NO_TRAFFIC_EGRESS, is_no_traffic_egress
from hasg.core.protocols import canonical_protocol
from hasg.errors import PolicyError, TemplateReadError

ADMINS = ["203.0.113.7/32", "2001:db8:2::/64"]
USERS = ["198.51.100.0/24", "2001:db8:1::/48"]


@pytest.mark.parametrize("form", ["yaml", "json"])
@pytest.mark.parametrize("kind", ["lists", "every_kind_of_peer"])
def test_read_of_emit_is_the_blueprint(form: str, kind: str) -> None:
    policy = (
        chef_automate_ha(admin_cidrs=ADMINS, user_cidrs=USERS)
        if kind == "lists"
        else every_kind_of_peer()
    )
    blueprint = compile_policy(policy)
    read = BACKEND.read({f"template.{form}": to_cloudformation(blueprint, form)})
    assert read == blueprint  # by value: descriptions included
    assert [dict(g.tags) for g in read] == [dict(g.tags) for g in blueprint]


def test_empty_lists_leave_only_their_rules() -> None:
    """A list the policy leaves empty has no parameter (cfn-lint warns of an
    unused one), so its name is not in the template; every rule still is."""
    blueprint = compile_policy(chef_automate_ha())
    read = read_cloudformation(to_cloudformation(blueprint))
    assert [g.rules for g in read] == [g.rules for g in blueprint]  # descriptions included
    assert read.cidr_lists == {}


def test_parameters_given_replace_the_defaults() -> None:
    blueprint = compile_policy(chef_automate_ha(admin_cidrs=ADMINS))
    read = read_cloudformation(
        to_cloudformation(blueprint), parameters={"AdminCidrsIpv4": "192.0.2.0/24"}
    )
    ssh = {str(r.peer) for r in read["bastion"].rules_for("ingress")}
    assert ssh == {"192.0.2.0/24", ADMINS[1]}


def test_short_form_yaml_reads_as_the_long_form() -> None:
    text = to_cloudformation(compile_policy(chef_automate_ha(admin_cidrs=ADMINS)))
    short = re.sub(r"\{Ref: ([A-Za-z0-9]+)\}", r"!Ref \1", text)
    assert "!Ref Bastion" in short
    assert read_cloudformation(short) == read_cloudformation(text)


def test_a_group_without_inline_egress_keeps_the_default_allow_all() -> None:
    """The reader fails closed: AWS keeps its default egress rule then, so it does too."""
    document = template(compile_policy(chef_automate_ha()))
    del document["Resources"]["Bastion"]["Properties"]["SecurityGroupEgress"]
    read = read_cloudformation(json.dumps(document))
    allow_all = Rule("egress", "-1", -1, -1, Peer("cidr_ipv4", "0.0.0.0/0"))
    assert allow_all in read["bastion"].rules
    assert allow_all not in read["automate"].rules


def first_rule(document: dict[str, Any]) -> dict[str, Any]:
    resources = document["Resources"]
    return next(r for r in resources.values() if r["Type"] == RULE_TYPES["ingress"])


def broken(change: str) -> str:
    document = template(compile_policy(chef_automate_ha(admin_cidrs=ADMINS)))
    rule = first_rule(document)
    if change == "if":
        rule["Properties"]["CidrIp"] = {"Fn::If": ["Open", "0.0.0.0/0", "10.0.0.0/8"]}
        rule["Properties"].pop("SourceSecurityGroupId", None)
    elif change == "condition":
        rule["Condition"] = "Open"
    elif change == "two_peers":
        rule["Properties"]["CidrIp"] = "10.0.0.0/8"
    elif change == "unknown_ref":
        rule["Properties"]["SourceSecurityGroupId"] = {"Ref": "Elsewhere"}
    elif change == "no_default":
        del document["Parameters"]["AdminCidrsIpv4"]["Default"]
    elif change == "select_out_of_range":
        document["Parameters"]["AdminCidrsIpv4"]["Default"] = ""
    return json.dumps(document)


@pytest.mark.parametrize(
    "change",
    ["if", "condition", "two_peers", "unknown_ref", "no_default", "select_out_of_range"],
)
def test_what_cannot_be_evaluated_is_an_error_naming_where(change: str) -> None:
    with pytest.raises(TemplateReadError, match=r"^sg\.json: ") as error:
        read_cloudformation(broken(change), file="sg.json")
    assert "\n" not in str(error.value)


def test_not_a_template_is_an_error() -> None:
    with pytest.raises(TemplateReadError, match=r"sg\.yaml"):
        read_cloudformation("a: [b", file="sg.yaml")
    with pytest.raises(TemplateReadError, match="no Resources"):
        read_cloudformation("{}", file="sg.yaml")


# --------------------------------------------------------------------------- no-traffic rule

EXACT = NO_TRAFFIC_EGRESS
NEAR_PARTS: dict[str, st.SearchStrategy[Any]] = {
    "direction": st.just("ingress"),
    "protocol": st.one_of(
        st.integers(0, 255).filter(lambda n: n != 1).map(canonical_protocol),
        st.just("-1"),
    ),
    "from_port": st.integers(-1, 65535).filter(lambda n: n != EXACT.from_port),
    "to_port": st.integers(-1, 65535).filter(lambda n: n != EXACT.to_port),
    "peer": st.one_of(
        st.integers(0, 31).map(
            lambda bits: Peer(
                "cidr_ipv4", str(ipaddress.ip_network(f"255.255.255.255/{bits}", strict=False))
            )
        ),
        st.ip_addresses(v=4)
        .filter(lambda a: str(a) != "255.255.255.255")
        .map(lambda a: Peer("cidr_ipv4", f"{a}/32")),
        st.sampled_from(["::ffff:255.255.255.255/128", "::/0"]).map(lambda c: Peer("cidr_ipv6", c)),
        # The marker's address as the value of peers of other kinds.
        st.sampled_from(["group", "prefix_list", "cidr_list", "vpc"]).map(
            lambda kind: Peer(kind, EXACT.peer.value)
        ),
    ),
}


# One part changed (the nearest misses), or several.
CHANGED_PARTS = st.one_of(
    st.sampled_from(sorted(NEAR_PARTS)).map(lambda part: {part}),
    st.sets(st.sampled_from(sorted(NEAR_PARTS)), min_size=1),
)


@settings(max_examples=500, deadline=None)
@given(
    CHANGED_PARTS.flatmap(
        lambda changed: st.fixed_dictionaries({k: NEAR_PARTS[k] for k in changed})
    ),
    st.text(max_size=20),
)
def test_only_the_no_traffic_rule_itself_is_no_rule(near: dict[str, Any], description: str) -> None:
    """The marker is recognised by meaning (any description; a CIDR list's
    variable is not part of it); a rule that differs in any part, however near,
    is a rule."""
    assert is_no_traffic_egress(dataclasses.replace(EXACT, description=description))
    variable = Peer("cidr_ipv4", EXACT.peer.value, variable="admin_cidrs")
    assert is_no_traffic_egress(dataclasses.replace(EXACT, peer=variable))
    assert not is_no_traffic_egress(dataclasses.replace(EXACT, **near))


@pytest.mark.parametrize(
    "near",
    [
        {"ToPort": -1},  # any code of type 252
        {"CidrIp": "255.255.255.254/31"},
        {"IpProtocol": "udp", "FromPort": 252, "ToPort": 86},
        {"IpProtocol": "-1"},
    ],
)
def test_a_template_reads_an_inline_near_miss_as_a_rule(near: dict[str, Any]) -> None:
    """Of a group's inline egress, only the no-traffic rule is left out."""
    document = template(compile_policy(chef_automate_ha()))
    inline = document["Resources"]["Bastion"]["Properties"]["SecurityGroupEgress"]
    (marker,) = inline
    inline[:] = [{**marker, "Description": "another description"}, {**marker, **near}]
    read = read_cloudformation(json.dumps(document))
    (more,) = set(read["bastion"].rules) - set(compile_policy(chef_automate_ha())["bastion"].rules)
    assert not is_no_traffic_egress(more)
    assert more.description == "Disallow all traffic"


def test_a_policy_cannot_ask_for_the_no_traffic_rule() -> None:
    """The AWS reader reads it as no rule, so `apply` could never see it in place
    (the port grammar has one spelling of it: icmp/TYPE:CODE)."""
    flow = {
        "name": "to-broadcast",
        "source": "bastion",
        "destination": "255.255.255.255/32",
        "ports": ["icmp/252:86"],
        "description": "nothing",
    }
    with pytest.raises(
        PolicyError, match=r"^egress icmp/252:86 to 255\.255\.255\.255/32 \(flow to-broadcast\) is "
    ):
        compile_policy(with_flows(chef_automate_ha(), flow))
    near = with_flows(chef_automate_ha(), {**flow, "ports": ["icmp/252"]})
    assert compile_policy(near)  # any code of type 252 is a rule like others
