"""The built-in policy's options for real clusters: managed backends, prefix
lists for long CIDR lists, IPv6, and a clear error where AWS's quota ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hasg
from hasg import PrefixListPeer, QuotaError, compile_policy
from hasg.core.blueprint import Blueprint, Peer
from hasg.core.quotas import quota_usage

HABITAT_AND_SSH = {22, 9631, 9638, 7799}
PL = "pl-0123456789abcdef0"


def ports_from(blueprint: Blueprint, role: str, peer_role: str, direction: str) -> set[str]:
    return {
        r.ports_text()
        for r in blueprint[role].rules_for(direction)  # type: ignore[arg-type]
        if r.peer == Peer("group", peer_role)
    }


def test_managed_backends_accept_only_their_service_ports_from_the_frontends() -> None:
    blueprint = compile_policy(
        hasg.chef_automate_ha(managed_postgresql=True, managed_opensearch=True)
    )

    rds, domain = blueprint["postgresql"], blueprint["opensearch"]
    assert {(r.direction, r.ports_text(), str(r.peer)) for r in rds.rules} == {
        ("ingress", "tcp/5432", "group automate"),
        ("ingress", "tcp/5432", "group chef_server"),
    }
    assert {(r.direction, r.ports_text(), str(r.peer)) for r in domain.rules} == {
        ("ingress", "tcp/443", "group automate"),
        ("ingress", "tcp/443", "group chef_server"),
    }
    assert "Amazon RDS for PostgreSQL" in rds.description
    assert "Amazon OpenSearch Service" in domain.description
    for frontend in ("automate", "chef_server"):
        assert ports_from(blueprint, frontend, "postgresql", "egress") == {"tcp/5432"}
        assert ports_from(blueprint, frontend, "opensearch", "egress") == {"tcp/443"}


def test_nothing_reaches_a_managed_backend_on_habitat_or_ssh() -> None:
    blueprint = compile_policy(
        hasg.chef_automate_ha(managed_postgresql=True, managed_opensearch=True)
    )

    for group in blueprint:
        for rule in group.rules:
            touches_backend = group.role in ("postgresql", "opensearch") or rule.peer.value in (
                "postgresql",
                "opensearch",
            )
            if touches_backend:
                assert rule.from_port not in HABITAT_AND_SSH, (group.role, str(rule))
    assert not ports_from(blueprint, "bastion", "postgresql", "egress")
    assert not ports_from(blueprint, "bastion", "opensearch", "egress")


def test_one_managed_backend_leaves_the_other_ring_intact_but_not_the_shared_ring() -> None:
    default = compile_policy(hasg.chef_automate_ha())
    blueprint = compile_policy(hasg.chef_automate_ha(managed_postgresql=True))

    assert blueprint["opensearch"].rules_for("ingress") != ()
    assert ports_from(blueprint, "opensearch", "opensearch", "ingress") == ports_from(
        default, "opensearch", "opensearch", "ingress"
    )
    assert not ports_from(blueprint, "opensearch", "postgresql", "egress")
    assert not ports_from(blueprint, "postgresql", "opensearch", "egress")
    assert ports_from(blueprint, "bastion", "opensearch", "egress") == ports_from(
        default, "bastion", "opensearch", "egress"
    )


def test_seventy_user_cidrs_fail_with_a_message_that_says_what_to_do() -> None:
    cidrs = [f"10.{i}.0.0/16" for i in range(70)]

    policy = hasg.chef_automate_ha(user_cidrs=cidrs)  # the quota is the compiler's to check
    with pytest.raises(QuotaError) as caught:
        compile_policy(policy)

    message = str(caught.value)
    assert "\n" not in message
    # 70 CIDRs x (443, 80) + 5 ingress rules that reference groups.
    assert "would have 145 ingress IPv4 rules; AWS allows 60" in message
    assert "chef-automate-ha-automate" in message
    assert "customer-managed prefix lists" in message
    assert "max entries once per port" in message


def test_seventy_user_cidrs_fit_in_a_prefix_list_counted_by_its_max_entries() -> None:
    def automate_ipv4_ingress(max_entries: int) -> int:
        policy = hasg.chef_automate_ha(
            user_prefix_lists=[PrefixListPeer(prefix_list_id=PL, max_entries=max_entries)]
        )
        return quota_usage(compile_policy(policy)["automate"])[("ingress", "ipv4")]

    # Each of tcp/443 and tcp/80 costs max_entries; 5 rules reference groups.
    assert automate_ipv4_ingress(27) == 2 * 27 + 5 == 59
    with pytest.raises(QuotaError, match="61 ingress IPv4 rules"):
        automate_ipv4_ingress(28)
    policy = hasg.chef_automate_ha(
        http_redirect=False,
        user_prefix_lists=[PrefixListPeer(prefix_list_id=PL, max_entries=55)],
    )
    assert quota_usage(compile_policy(policy)["automate"])[("ingress", "ipv4")] == 55 + 5


def test_user_prefix_lists_replace_the_vpc_fallback_of_an_empty_user_list() -> None:
    only_lists = compile_policy(
        hasg.chef_automate_ha(user_prefix_lists=[PrefixListPeer(prefix_list_id=PL, max_entries=10)])
    )
    both = compile_policy(
        hasg.chef_automate_ha(
            user_cidrs=["198.51.100.0/24"],
            user_prefix_lists=[PrefixListPeer(prefix_list_id=PL, max_entries=10)],
        )
    )

    def user_peers(blueprint: Blueprint) -> set[str]:
        return {
            str(r.peer) for r in blueprint["automate"].rules_for("ingress") if r.from_port == 443
        }

    assert user_peers(only_lists) == {PL, "group chef_server"}
    assert user_peers(both) == {PL, "198.51.100.0/24", "group chef_server"}


def test_admin_prefix_lists_reach_only_the_bastion_on_the_ssh_port() -> None:
    blueprint = compile_policy(
        hasg.chef_automate_ha(
            ssh_port=2222,
            admin_prefix_lists=[PrefixListPeer(prefix_list_id=PL, max_entries=5)],
        )
    )

    opened = {(g.role, r.ports_text()) for g in blueprint for r in g.rules if r.peer.value == PL}
    assert opened == {("bastion", "tcp/2222")}


def test_ipv6_user_cidrs_become_ipv6_rules_counted_apart_from_ipv4() -> None:
    blueprint = compile_policy(
        hasg.chef_automate_ha(user_cidrs=["198.51.100.0/24", "2001:db8::/48"])
    )

    kinds = {r.peer.kind for r in blueprint["automate"].rules_for("ingress") if r.from_port == 443}
    assert kinds == {"cidr_ipv4", "cidr_ipv6", "group"}
    usage = quota_usage(blueprint["automate"])
    assert usage[("ingress", "ipv6")] == 2 + 5
    assert usage[("ingress", "ipv4")] == 2 + 5


def test_the_builtin_policy_builds_one_validator_its_own() -> None:
    """chef_automate_ha() validates the policy once, as a whole: no nested model
    builds a validator of its own (what `hasg emit-hcl` starts up with)."""
    probe = (
        "from pydantic import BaseModel\n"
        "from hasg import chef_automate_ha\n"
        "import hasg.policy.model as m\n"
        "chef_automate_ha()\n"
        "print(sorted(n for n, c in vars(m).items() if isinstance(c, type)"
        " and issubclass(c, BaseModel) and c.__pydantic_complete__))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "['Policy']"
