"""`hasg audit --vpc --map` / `--map-tag` and `hasg verify --vpc --map`: groups
hasg did not build, judged against the policy, reading only.

The foreign cluster is Chef's own: the groups and rules of chef/automate's
a2ha-terraform (`terraform/a2ha-terraform/modules/aws/security.tf` at commit
1bfbf7a66b3c38acd01586b99cee5bc6da9947ff), made in moto with the calls
Terraform's AWS provider makes for them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import botocore.client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hasg
from hasg.backends.aws.permissions import from_ip_permissions
from hasg.checks.audit import audit_mapped
from hasg.checks.reachability import peer_holds
from hasg.cli import main
from hasg.core.blueprint import Peer, Rule
from hasg.core.compile import compile_policy
from hasg.core.mapping import MappedGroup, check_role_map, parse_role_map
from hasg.core.tags import ROLE_TAG
from hasg.core.transforms import resolve_vpc_peers
from hasg.errors import ExitCode, UsageError
from hasg.workflows import audit_vpc, verify_vpc

from .conftest import VPC_CIDR, Cloud, tcp

DOCS = Path(__file__).resolve().parents[2] / "docs" / "aws.md"
POLICY = hasg.chef_automate_ha()
ROLES = tuple(r.id for r in POLICY.roles)
NODES = ("automate", "chef_server", "postgresql", "opensearch")

# --------------------------------------------------------------------------- Chef's groups

# security.tf's variables: `random_id.random.hex` (4 bytes), `var.tag_name`'s
# default, and the ports' defaults in modules/aws/inputs.tf (commit
# 01fac427f3ea5196ec7b10ffe12976435d54b7c1). `var.json_data` (the CIDR allowed
# to SSH to base_linux) and `var.aws_ssh_port` are set by the deployment:
# an admin network, and SSH's own port.
HEX = "5e2f1a9c"
TAG_NAME = "A2"
JSON_DATA = "203.0.113.0/24"
AWS_SSH_PORT = 22
OPENSEARCH, POSTGRESQL, PGLEADERCHK, PROXY = 9200, 5432, 6432, 7432
WORLD = "0.0.0.0/0"

# resource "aws_security_group": name, description, Name tag's suffix.
CHEF_GROUPS = {
    "base_linux": ("base_linux", "base security rules for all linux nodes", "linux"),
    "habitat_supervisor": (
        "habitat_supervisor",
        "Security rules for the Habitat supervisor",
        "habsup",
    ),
    "chef_automate": ("chef_automate", "Chef Automate Server", "automate"),
    "chef_automate_ui": ("chef_automate_ui", "Chef Automate Server protocol", "automate"),
    "efs_mount": ("efs", "NFS for EFS", "efs"),
    "load_balancer": ("load_balancer", "load_balancer rules for all linux nodes", "linux"),
}
# resource "aws_security_group_rule", in the file's order: group, type,
# protocol, from_port, to_port, and cidr_blocks or (as @group)
# source_security_group_id. None of them has a description.
CHEF_RULES: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("base_linux", "ingress", "tcp", 22, 22, JSON_DATA),
    ("habitat_supervisor", "ingress", "tcp", 9631, 9631, "@habitat_supervisor"),
    ("habitat_supervisor", "ingress", "udp", 9631, 9631, "@habitat_supervisor"),
    ("habitat_supervisor", "ingress", "tcp", 9638, 9638, "@habitat_supervisor"),
    ("habitat_supervisor", "ingress", "udp", 9638, 9638, "@habitat_supervisor"),
    ("chef_automate_ui", "ingress", "tcp", 80, 80, WORLD),
    ("chef_automate_ui", "ingress", "tcp", 443, 443, WORLD),
    ("chef_automate", "ingress", "tcp", 7799, 7799, WORLD),
    ("chef_automate", "ingress", "tcp", OPENSEARCH, OPENSEARCH + 200, "@chef_automate"),
    ("chef_automate", "ingress", "tcp", POSTGRESQL, POSTGRESQL, "@chef_automate"),
    ("chef_automate", "ingress", "tcp", PGLEADERCHK, PGLEADERCHK, "@chef_automate"),
    ("chef_automate", "ingress", "tcp", PROXY, PROXY, "@chef_automate"),
    ("chef_automate", "ingress", "tcp", AWS_SSH_PORT, AWS_SSH_PORT, WORLD),
    ("load_balancer", "ingress", "tcp", 80, 80, WORLD),
    ("load_balancer", "ingress", "tcp", 443, 443, WORLD),
    ("load_balancer", "egress", "-1", 0, 0, WORLD),
    ("base_linux", "egress", "-1", 0, 0, WORLD),
    ("chef_automate_ui", "egress", "tcp", 80, 80, WORLD),
    ("chef_automate_ui", "egress", "tcp", 443, 443, WORLD),
    ("base_linux", "egress", "tcp", 6432, 6432, WORLD),
    ("base_linux", "egress", "tcp", 9200, 9200, WORLD),
    ("base_linux", "egress", "tcp", 9631, 9631, WORLD),
    ("base_linux", "egress", "tcp", 9300, 9300, WORLD),
    ("base_linux", "egress", "tcp", 9638, 9638, WORLD),
    ("base_linux", "egress", "udp", 9638, 9638, WORLD),
    ("base_linux", "egress", "tcp", 7432, 7432, WORLD),
    ("base_linux", "egress", "tcp", 5432, 5432, WORLD),
    ("base_linux", "egress", "tcp", 2049, 2049, WORLD),
    ("base_linux", "egress", "tcp", 22, 22, JSON_DATA),
    ("efs_mount", "ingress", "tcp", 2049, 2049, "@base_linux"),
)
# main.tf (commit 08ee7a2f6973f7c9c15468259e4638f10cdac156): every aws_instance
# (chef_automate, chef_server, chef_automate_postgresql,
# chef_automate_elasticsearch) has these three groups. Chef's module has no
# bastion group.
NODE_GROUPS = ("base_linux", "habitat_supervisor", "chef_automate")


def build_chef_groups(ec2: Any, vpc_id: str) -> dict[str, str]:
    """Chef's groups in `vpc_id`, as Terraform makes them: resource name -> group id."""
    ids: dict[str, str] = {}
    for resource, (name, description, kind) in CHEF_GROUPS.items():
        tags = [{"Key": "Name", "Value": f"{TAG_NAME}_{HEX}_{kind}_security_group"}]
        ids[resource] = ec2.create_security_group(
            GroupName=f"{name}_{HEX}",
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
        # The AWS provider revokes the allow-all egress EC2 gives a new group
        # (aws_security_group docs: "Terraform will remove this default rule").
        ec2.revoke_security_group_egress(
            GroupId=ids[resource],
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": WORLD}]}],
        )
    for resource, direction, protocol, low, high, peer in CHEF_RULES:
        permission: dict[str, Any] = {"IpProtocol": protocol}
        if protocol != "-1":
            permission |= {"FromPort": low, "ToPort": high}
        if peer.startswith("@"):
            permission["UserIdGroupPairs"] = [{"GroupId": ids[peer[1:]]}]
        else:
            permission["IpRanges"] = [{"CidrIp": peer}]
        authorize = (
            ec2.authorize_security_group_ingress
            if direction == "ingress"
            else ec2.authorize_security_group_egress
        )
        authorize(GroupId=ids[resource], IpPermissions=[permission])
    return ids


def chef_map(ids: dict[str, str]) -> str:
    """The --map of Chef's nodes: each role has the three groups of every node."""
    groups = "+".join(ids[g] for g in NODE_GROUPS)
    return ",".join(f"{role}={groups}" for role in NODES)


def assert_read_only(cloud: Cloud) -> None:
    assert cloud.calls.names, "no call was recorded"
    writes = [n for n in cloud.calls.names if not n.startswith(("Describe", "Get", "List"))]
    assert writes == [], writes


@pytest.fixture
def chef(cloud: Cloud) -> dict[str, str]:
    ids = build_chef_groups(cloud.ec2, cloud.vpc_id)
    cloud.calls.clear()
    return ids


def test_chefs_groups_name_world_open_ssh_node_to_node_and_allow_all_egress(
    cloud: Cloud, chef: dict[str, str]
) -> None:
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=chef_map(chef))
    assert_read_only(cloud)
    assert not report.ok and report.exit_code == ExitCode.CHANGES
    chef_automate = f"chef_automate_{HEX}"
    base_linux = f"base_linux_{HEX}"

    def details(kind: str, group: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for f in report.of_kind(kind):  # type: ignore[arg-type]
            if f.group == group:
                found.setdefault(f.detail, set()).add(f.role)
        return found

    world = details("world_open", chef_automate)
    ssh = "ingress tcp/22 tcp/7799 from 0.0.0.0/0: open to every IPv4 address"
    assert world == {ssh: set(NODES)}
    free_for_all = details("node_to_node", chef_automate)
    shared = f"group {chef_automate} ({chef['chef_automate']})"
    # Every port of the shared group's self rules is beyond the policy for the
    # frontends; for a backend, the ports its own ring or clients need are not.
    assert free_for_all == {
        f"ingress tcp/5432 tcp/6432 tcp/7432 tcp/9200-9400 from {shared}: "
        "every node may open it on every node": set(NODES)
    }
    habitat = f"habitat_supervisor_{HEX}"
    ring = f"group {habitat} ({chef['habitat_supervisor']})"
    # Every node may reach a backend's Habitat API (tcp/9631) in the policy too.
    assert details("node_to_node", habitat) == {
        f"ingress tcp/9631 tcp/9638 udp/9631 udp/9638 from {ring}: "
        "every node may open it on every node": {"automate", "chef_server"},
        f"ingress tcp/9638 udp/9631 udp/9638 from {ring}: every node may open it on every node": {
            "postgresql",
            "opensearch",
        },
    }
    assert details("open_egress", base_linux) == {
        "egress all to 0.0.0.0/0: all traffic to every IPv4 address": set(NODES)
    }
    # The admin network's SSH is beyond the policy (only the bastion may SSH),
    # but a /24 is not wide open.
    assert details("beyond_policy", base_linux)[
        "ingress tcp/22 from 203.0.113.0/24: the policy does not grant automate this"
    ] == {"automate"}
    # Chef has no bastion group: its flows are missing, on both sides.
    assert [f.role for f in report.of_kind("missing_group")] == ["bastion"]
    missing = {(f.role, f.detail.split(" (flows")[0]) for f in report.of_kind("missing_flow")}
    assert (
        "bastion",
        "egress lacks tcp/22 tcp/7799 tcp/9631 tcp/9638 to group automate",
    ) in missing
    assert (
        "automate",
        # 22 and 7799 are open to the world, which holds the bastion.
        "ingress lacks tcp/9631 tcp/9638 from group bastion",
    ) in missing
    # Users reach 443 through the VPC in the policy; Chef's node groups do not
    # open it at all (chef_automate_ui is not on the nodes).
    assert ("automate", "ingress lacks tcp/80 tcp/443 from 10.20.0.0/16") in missing
    node_rules = sum(1 for g, *_ in CHEF_RULES if g in NODE_GROUPS)
    assert len(report.of_kind("undescribed_rule")) == node_rules


def test_verify_with_a_map_judges_chefs_reachability(cloud: Cloud, chef: dict[str, str]) -> None:
    report = verify_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=chef_map(chef))
    assert_read_only(cloud)
    assert not report.ok and report.exit_code == ExitCode.ERROR
    unexpected = {b.message for b in report.of_kind("unexpected_flow")}
    assert (
        "automate -> chef_server may open tcp/5432 tcp/6432 tcp/7432 tcp/9200-9400 "
        "tcp/9631 tcp/9638 udp/9631 udp/9638, which no flow of the policy asks for" in unexpected
    )
    assert any(
        "bastion has no security group" in b.message for b in report.of_kind("missing_group")
    )
    unnamed = " ".join(b.message for b in report.of_kind("unnamed_cidr"))
    assert "automate egress opens all to 0.0.0.0/0" in unnamed
    assert "automate ingress opens tcp/22 from 0.0.0.0/0" in unnamed


# --------------------------------------------------------------------------- hasg's own groups


@pytest.fixture
def applied(cloud: Cloud) -> dict[str, str]:
    result = hasg.apply(compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()
    return dict(result.group_ids)


def own_map(group_ids: dict[str, str]) -> str:
    return ",".join(f"{role}={group_id}" for role, group_id in group_ids.items())


def test_hasgs_own_groups_mapped_are_clean(cloud: Cloud, applied: dict[str, str]) -> None:
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=own_map(applied))
    assert report.ok and report.exit_code == ExitCode.OK, report.to_text()
    assert "clean: the mapped groups allow every flow" in report.to_text()
    document = json.loads(report.to_json())
    assert document["ok"] is True and document["findings"] == []
    assert document["roles"]["automate"] == f"{report.cluster}-automate ({applied['automate']})"
    by_tag = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, map_tag=ROLE_TAG)
    assert by_tag.ok, by_tag.to_text()
    verified = verify_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=applied)
    assert verified.ok, verified.to_text()
    assert_read_only(cloud)


def test_a_world_open_port_and_a_one_sided_flow_are_found(
    cloud: Cloud, applied: dict[str, str]
) -> None:
    cloud.ec2.authorize_security_group_ingress(
        GroupId=applied["automate"], IpPermissions=tcp(22, "0.0.0.0/1", "ssh, half the world")
    )
    cloud.ec2.authorize_security_group_ingress(
        GroupId=applied["automate"], IpPermissions=tcp(22, "128.0.0.0/1", "the other half")
    )
    # postgresql still accepts automate's 5432; automate may no longer send it.
    cloud.ec2.revoke_security_group_egress(
        GroupId=applied["automate"], IpPermissions=tcp(5432, applied["postgresql"])
    )
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=own_map(applied))
    assert report.exit_code == ExitCode.CHANGES
    # Two halves of the internet on one role are the internet.
    assert {(f.role, f.detail) for f in report.of_kind("world_open")} == {
        ("automate", "ingress tcp/22 from 0.0.0.0/1: open to every IPv4 address"),
        ("automate", "ingress tcp/22 from 128.0.0.0/1: open to every IPv4 address"),
    }
    missing = [(f.role, f.detail) for f in report.of_kind("missing_flow")]
    assert len(missing) == 1 and missing[0][0] == "automate"
    assert missing[0][1].startswith("egress lacks tcp/5432 to group postgresql")


def test_one_group_for_two_roles_unites_their_rules(cloud: Cloud, applied: dict[str, str]) -> None:
    """automate's group mapped to chef_server too: chef_server holds the union
    of both groups' rules (the two roles need nearly the same), and a rule
    naming automate's group now names chef_server as well."""
    mapping = {**applied, "chef_server": [applied["chef_server"], applied["automate"]]}
    report = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=mapping)
    automate = f"group {report.cluster}-automate ({applied['automate']})"
    # chef_server's own egress to automate's group now reaches chef_server too.
    assert [(f.role, f.detail) for f in report.findings] == [
        ("chef_server", f"egress tcp/443 to {automate}: the policy does not grant chef_server this")
    ]


# --------------------------------------------------------------------------- bad maps


@pytest.mark.parametrize(
    ("role_map", "message"),
    [
        ("automate", "'automate' is not ROLE=GROUP_ID"),
        ("automate=sg-0123456789abcdef0,automate=sg-00000000", "role automate is mapped twice"),
        ("web=sg-0123456789abcdef0", "'web' is not a role of the policy"),
        ("automate=sg-XYZ", "'sg-XYZ' (role automate) is not a group id"),
        ("automate=sg-00000000+sg-00000000", "role automate names no group, or one group twice"),
        ("automate=", "'automate=' is not ROLE=GROUP_ID"),
    ],
)
def test_a_bad_map_is_refused_before_any_call(cloud: Cloud, role_map: str, message: str) -> None:
    for check in (audit_vpc, verify_vpc):
        with pytest.raises(UsageError, match=re.escape(message)):
            check(POLICY, cloud.vpc_id, session=cloud.session, role_map=role_map)
    assert cloud.calls.names == []


def test_groups_not_found_or_elsewhere_and_tags_on_nothing_are_refused(
    cloud: Cloud, applied: dict[str, str]
) -> None:
    other = cloud.make_group("elsewhere", vpc_id=cloud.new_vpc("10.30.0.0/16"))
    cases = {
        "automate=sg-00000000": "--map: group sg-00000000 not found in us-east-1",
        f"automate={other}": f"--map: group {other} is in ",
    }
    for role_map, message in cases.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, role_map=role_map)
    with pytest.raises(UsageError, match=r"no security group in .* has the tag 'Role'"):
        audit_vpc(POLICY, cloud.vpc_id, session=cloud.session, map_tag="Role")
    cloud.make_group("web", tags={"Role": "automate+web"})
    with pytest.raises(UsageError, match=r"'web' is not a role of the policy"):
        verify_vpc(POLICY, cloud.vpc_id, session=cloud.session, map_tag="Role")
    assert_read_only(cloud)


def test_the_cli_refuses_in_one_line(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["audit", "--hcl", "x.tf", "--map", "automate=sg-00000000"],
        ["verify", "--map-tag", "Role"],
        ["audit", "--vpc", cloud.vpc_id, "--map", "automate=sg-00000000", "--map-tag", "Role"],
        ["audit", "--vpc", cloud.vpc_id, "--map", "automate=sg-00000000", "--known-cluster", "x"],
        ["audit", "--vpc", cloud.vpc_id, "--map", "nobody=sg-00000000"],
    ):
        try:
            code = main(argv)
        except SystemExit as stopped:  # argparse's own refusals
            code = int(stopped.code or 0)
        assert code == ExitCode.ERROR, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err


# --------------------------------------------------------------------------- the guards


def _group(
    rules: list[Rule], roles: tuple[str, ...] = NODES, group_id: str = "sg-0a0a0a0a"
) -> MappedGroup:
    return MappedGroup(group_id, "theirs", roles, tuple(rules))


def _kinds(group: MappedGroup) -> set[str]:
    expected = resolve_vpc_peers(compile_policy(POLICY), VPC_CIDR)
    # The other roles have a group of their own (with no rules), so that
    # `group` is not on every node unless it serves every role.
    rest = MappedGroup("sg-0c0c0c0c", "rest", tuple(r for r in ROLES if r not in group.roles), ())
    report = audit_mapped(expected, [group, rest], vpc_cidrs=[VPC_CIDR])
    grants = ("world_open", "node_to_node", "open_egress", "beyond_policy")
    return {f.kind for f in report.findings if f.group == group.name and f.kind in grants}


ALL_TRAFFIC_SPELLINGS = st.sampled_from(["-1", "all", "ALL", " -1 ", "All"])


def _cover(family: str, pieces: int) -> list[str]:
    world = ipaddress.ip_network("0.0.0.0/0" if family == "ipv4" else "::/0")
    return [str(n) for n in world.subnets(prefixlen_diff=pieces)]


@settings(max_examples=60, deadline=None)
@given(ALL_TRAFFIC_SPELLINGS, st.sampled_from(["ipv4", "ipv6"]), st.integers(0, 3))
def test_allow_all_egress_is_found_in_any_spelling_and_any_split(
    spelling: str, family: str, pieces: int
) -> None:
    key, cidr_key = ("IpRanges", "CidrIp") if family == "ipv4" else ("Ipv6Ranges", "CidrIpv6")
    permission: Any = {
        "IpProtocol": spelling,
        key: [{cidr_key: c, "Description": "out"} for c in _cover(family, pieces)],
        # Peers that are no CIDR beside them are no part of the union.
        "UserIdGroupPairs": [{"GroupId": "sg-0f0f0f0f", "Description": "a stranger"}],
        "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0", "Description": "s3"}],
    }
    rules = list(from_ip_permissions("egress", [permission], {}, "1"))
    assert "open_egress" in _kinds(_group(rules))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 255), st.integers(0, 2))
def test_a_single_protocol_to_the_world_is_not_allow_all_egress(number: int, pieces: int) -> None:
    permission: Any = {
        "IpProtocol": str(number),
        "FromPort": 0,
        "ToPort": 65535 if number in (6, 17) else -1,
        "IpRanges": [{"CidrIp": c, "Description": "out"} for c in _cover("ipv4", pieces)],
    }
    rules = list(from_ip_permissions("egress", [permission], {}, "1"))
    assert "open_egress" not in _kinds(_group(rules))


def _ingress(spelling: str, port: int, cidr: str) -> list[Rule]:
    permission: Any = {"IpProtocol": spelling, "FromPort": port, "ToPort": port}
    if ":" in cidr:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr, "Description": "in"}]
    else:
        permission["IpRanges"] = [{"CidrIp": cidr, "Description": "in"}]
    return list(from_ip_permissions("ingress", [permission], {}, "1"))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["tcp", "6", "TCP", " Tcp "]),
    st.integers(1, 99).filter(lambda octet: octet != 10),
    st.integers(0, 255),
    st.integers(20, 23),
    st.integers(1, 65535),
)
def test_world_open_ingress_is_judged_on_the_union(
    spelling: str, first: int, second: int, prefix: int, port: int
) -> None:
    """Public /24s, each in a group of its own and none wide open alone, that
    together are broader than a /24 open the port wide: every one is named.
    One of them alone, or the same port open to private space, is not."""
    block = ipaddress.ip_network(f"{first}.{second}.0.0/{prefix}")
    pieces = [str(n) for n in block.subnets(new_prefix=24)]
    groups = [
        _group(_ingress(spelling, port, cidr), roles=("automate",), group_id=f"sg-{i:08x}")
        for i, cidr in enumerate(pieces)
    ]
    expected = resolve_vpc_peers(compile_policy(POLICY), VPC_CIDR)
    report = audit_mapped(expected, groups, vpc_cidrs=[VPC_CIDR])
    assert len(report.of_kind("world_open")) == len(pieces)
    alone = audit_mapped(expected, groups[:1], vpc_cidrs=[VPC_CIDR])
    assert not alone.of_kind("world_open") and alone.of_kind("beyond_policy")
    private = _group(_ingress(spelling, port, "10.0.0.0/8"), roles=("automate",))
    assert "world_open" not in _kinds(private)


@settings(max_examples=40, deadline=None)
@given(st.integers(0x2000, 0x3FFF), st.integers(0, 0xFFFF), st.integers(44, 47))
def test_world_open_ipv6_is_judged_on_the_union(first: int, second: int, prefix: int) -> None:
    """The same in IPv6, where wide open is more than a public /48."""
    block = ipaddress.ip_network(f"{first:x}:{second:x}::/32")
    site = next(block.subnets(new_prefix=prefix))
    pieces = [str(n) for n in site.subnets(new_prefix=48)]
    groups = [
        _group(_ingress("tcp", 22, cidr), roles=("postgresql",), group_id=f"sg-{i:08x}")
        for i, cidr in enumerate(pieces)
    ]
    expected = resolve_vpc_peers(compile_policy(POLICY), VPC_CIDR)
    report = audit_mapped(expected, groups, vpc_cidrs=[VPC_CIDR])
    assert len(report.of_kind("world_open")) == len(pieces)
    assert not audit_mapped(expected, groups[:1], vpc_cidrs=[VPC_CIDR]).of_kind("world_open")
    unique_local = _group(_ingress("tcp", 22, "fd00::/8"), roles=("postgresql",))
    assert "world_open" not in _kinds(unique_local)


NETWORKS = st.one_of(
    st.builds(
        lambda address, length: ipaddress.ip_network(f"{address}/{length}", strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    st.builds(
        lambda address, length: ipaddress.ip_network(f"{address}/{length}", strict=False),
        st.ip_addresses(v=6),
        st.integers(0, 128),
    ),
)


def _peer(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Peer:
    return Peer("cidr_ipv6" if network.version == 6 else "cidr_ipv4", str(network))


@settings(max_examples=300, deadline=None)
@given(NETWORKS, NETWORKS)
def test_a_cidr_holds_another_exactly_when_it_contains_it(
    outer: ipaddress.IPv4Network | ipaddress.IPv6Network,
    inner: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    """The guard under "beyond the policy" and "missing flow", on any pair of
    networks of either family, and through the policy's word `vpc`."""
    contained = inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]
    assert peer_holds(_peer(outer), _peer(inner)) == contained
    vpc = [str(outer)] if outer.version == 4 else [VPC_CIDR]
    if outer.version == 4:
        assert peer_holds(Peer("vpc"), _peer(inner), vpc) == contained
    # A role's group is held by what holds the whole VPC, never by less.
    holds_vpc = outer.version == 4 and ipaddress.ip_network(vpc[0]).subnet_of(outer)  # type: ignore[arg-type]
    whole = outer.prefixlen == 0 or holds_vpc
    assert peer_holds(_peer(outer), Peer("group", "automate"), vpc, ROLES) == whole
    assert not peer_holds(_peer(outer), Peer("group", "sg-0a0a0a0a"), vpc, ROLES)


@settings(max_examples=80, deadline=None)
@given(st.integers(-1, 255), st.sampled_from([VPC_CIDR, "10.0.0.0/8", "0.0.0.0/0"]))
def test_every_port_from_every_node_is_any_node_to_any_node(number: int, source: str) -> None:
    """Every port (all traffic, or a whole tcp/udp range) from a CIDR that
    holds the VPC, on one role's group, is "any node to any node"; one
    protocol of the others is a grant beyond the policy, no more."""
    whole = number in (-1, 6, 17)
    permission: Any = {
        "IpProtocol": str(number),
        "FromPort": 0,
        "ToPort": 65535 if number in (6, 17) else -1,
        "IpRanges": [{"CidrIp": source, "Description": "nodes"}],
    }
    rules = list(from_ip_permissions("ingress", [permission], {}, "1"))
    kinds = _kinds(_group(rules, roles=("opensearch",)))
    if source == "0.0.0.0/0":
        assert kinds == {"world_open"}
    else:
        assert kinds == ({"node_to_node"} if whole else {"beyond_policy"})


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 65535))
def test_a_grant_is_beyond_the_policy_exactly_when_no_flow_asks_for_it(port: int) -> None:
    """opensearch accepting tcp/PORT from the bastion's group: the policy asks
    for 22, 7799, 9200, 9631 and 9638 only."""
    bastion = MappedGroup("sg-0b0b0b0b", "bastion", ("bastion",), ())
    mine = _group(
        [Rule("ingress", "tcp", port, port, Peer("group", "sg-0b0b0b0b"), "from the bastion")],
        roles=("opensearch",),
    )
    expected = resolve_vpc_peers(compile_policy(POLICY), VPC_CIDR)
    report = audit_mapped(expected, [bastion, mine], vpc_cidrs=[VPC_CIDR])
    beyond = [f for f in report.findings if f.group == "theirs" and f.kind == "beyond_policy"]
    assert bool(beyond) == (port not in (22, 7799, 9200, 9631, 9638))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_dropping_any_rule_of_the_policy_is_a_missing_flow_on_that_side(
    data: st.DataObject,
) -> None:
    expected = resolve_vpc_peers(compile_policy(POLICY), VPC_CIDR)
    ids = {role: f"sg-{i:08x}" for i, role in enumerate(expected.roles, start=1)}

    def as_live(rule: Rule) -> Rule:
        if rule.peer.kind == "group":
            return Rule(
                rule.direction,
                rule.protocol,
                rule.from_port,
                rule.to_port,
                Peer("group", ids[rule.peer.value]),
                rule.description,
            )
        return rule

    role = data.draw(st.sampled_from(expected.roles))
    dropped = data.draw(st.sampled_from(expected[role].rules))
    groups = [
        MappedGroup(
            ids[g.role],
            g.name,
            (g.role,),
            tuple(as_live(r) for r in g.rules if (g.role, r) != (role, dropped)),
        )
        for g in expected
    ]
    report = audit_mapped(expected, groups, vpc_cidrs=[VPC_CIDR])
    # The policy opens automate's and chef_server's 80 and 443 to the whole VPC,
    # which holds every group: a group rule on those ports is redundant there.
    redundant = dropped.peer.kind == "group" and any(
        r.peer == Peer("cidr_ipv4", VPC_CIDR)
        and r.direction == dropped.direction
        and r.covers(dropped.protocol, dropped.from_port)
        for r in expected[role].rules
    )
    if redundant:
        assert report.findings == ()
        return
    assert [f.kind for f in report.findings] == ["missing_flow"]
    (finding,) = report.findings
    assert finding.role == role and finding.detail.startswith(
        f"{dropped.direction} lacks {dropped.ports_text()}"
    )


def test_a_rule_naming_an_unmapped_group_grants_nothing_the_policy_does() -> None:
    """The stranger may be anyone (another VPC, another account): even on a
    port the policy opens to a role, it is beyond the policy."""
    stranger = Rule("ingress", "tcp", 9200, 9200, Peer("group", "sg-0d0d0d0d"), "who?")
    elsewhere = Rule("ingress", "tcp", 9200, 9200, Peer("group", "123456789012/sg-0e0e0e0e"), "x")
    for rule in (stranger, elsewhere):
        group = _group([rule], roles=("opensearch",))
        assert _kinds(group) == {"beyond_policy"}


def test_role_maps_parse_and_check() -> None:
    assert parse_role_map("automate=sg-00000001+sg-00000002, bastion=sg-00000003") == {
        "automate": ("sg-00000001", "sg-00000002"),
        "bastion": ("sg-00000003",),
    }
    assert check_role_map("t", {"automate": "sg-00000001"}, ROLES) == {"automate": ("sg-00000001",)}
    with pytest.raises(UsageError, match="names at least one role"):
        check_role_map("t", {}, ROLES)
    for nonsense in (7, None, [7], [""]):
        with pytest.raises(UsageError, match="role automate"):
            check_role_map("t", {"automate": nonsense}, ROLES)


# --------------------------------------------------------------------------- the docs

AWS_ID = re.compile(r"\b(sg|vpc)-[0-9a-f]{8,17}\b")


def _ids_hidden(text: str) -> str:
    """Group and VPC ids are moto's, new on every run; all of one length."""
    return AWS_ID.sub(lambda m: f"{m.group(1)}-<id>", text)


def test_the_chef_audit_in_the_docs_is_what_hasg_prints(
    cloud: Cloud,
    chef: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    section = DOCS.read_text(encoding="utf-8").split("## Auditing groups hasg did not build")[1]
    command, printed = re.findall(r"^```\w*\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)[:2]
    nodes = re.search(r"^NODES=(\S+)", command, re.MULTILINE)
    line = re.search(r"^hasg (audit .*)$", command, re.MULTILINE)
    assert nodes and line
    argv = line.group(1).replace("$NODES", nodes.group(1)).split()
    assert _ids_hidden(" ".join(argv)) == _ids_hidden(
        f"audit --vpc {cloud.vpc_id} --map {chef_map(chef)}"
    )
    # The command makes its own session: record every call any client makes.
    made: list[str] = []
    send = botocore.client.BaseClient._make_api_call

    def recorded(client: Any, operation: str, params: Any) -> Any:
        made.append(operation)
        return send(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    code = main(["audit", "--vpc", cloud.vpc_id, "--map", chef_map(chef)])
    assert code == ExitCode.CHANGES
    assert _ids_hidden(capsys.readouterr().out) == _ids_hidden(printed)
    assert made and all(op.startswith(("Describe", "Get", "List")) for op in made), made
