"""`hasg audit --groups-json` and `hasg verify --groups-json`: the VPC as the
AWS CLI dumped it, audited without credentials, finding for finding as the
live audit of the same VPC.

The dumps are of moto-built clusters (hasg's own, made by `hasg apply`, and
Chef's a2ha-terraform groups, tests/aws/test_map.py), read through botocore
as the AWS CLI reads them, and written as the AWS CLI writes them
(`aws_cli`): whole results, or pages one after another in one file."""

from __future__ import annotations

import base64
import codecs
import copy
import datetime
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

import hasg
from hasg.backends.aws import apply
from hasg.backends.aws.dump import ALWAYS, _check_shape, _output_shape
from hasg.cli import main
from hasg.core.tags import ROLE_TAG
from hasg.errors import DumpReadError, ExitCode, HasgError
from hasg.workflows import audit_dumps, audit_vpc, verify_dumps, verify_vpc

from .conftest import Cloud, tcp
from .test_map import build_chef_groups, chef_map

POLICY = hasg.chef_automate_ha(cluster="dumped")
CHEF_POLICY = hasg.chef_automate_ha()

# --------------------------------------------------------------------------- the AWS CLI


def _json_encoder(value: object) -> object:
    """awscli/utils.py `json_encoder`: datetimes as ISO 8601, bytes as base64."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("utf-8")
    raise TypeError("Encountered unrecognized type in JSON encoder.")


def aws_cli_json(response: Any) -> str:
    """What `--output json` prints for a parsed response (awscli/formatter.py
    `JSONFormatter`, after `_remove_request_id`; a list where `--query` made one)."""
    data = copy.deepcopy(response)
    if isinstance(data, dict):
        data.pop("ResponseMetadata", None)
    return json.dumps(data, indent=4, default=_json_encoder, ensure_ascii=False) + "\n"


def aws_cli(client: Any, operation: str, *, max_items: int | None = None, **params: Any) -> str:
    """What `aws ec2 OPERATION --output json` writes: the whole result, paged
    through as the CLI pages (botocore's paginator, `build_full_result`); with
    `max_items`, what a loop of `--max-items N --starting-token TOKEN` appends
    to one file: a document per page, each but the last with its NextToken."""
    paginator = client.get_paginator(operation)
    if max_items is None:
        return aws_cli_json(paginator.paginate(**params).build_full_result())
    written, token = [], None
    while True:
        config: dict[str, Any] = {"MaxItems": max_items}
        if token:
            config["StartingToken"] = token
        page = paginator.paginate(**params, PaginationConfig=config).build_full_result()
        written.append(aws_cli_json(page))
        token = page.get("NextToken")
        if not token:
            return "".join(written)


def dump(
    cloud: Cloud,
    directory: Path,
    *,
    max_items: int | None = None,
    rules: bool = True,
) -> list[Path]:
    """The region's groups (every VPC's, as `aws ec2 describe-security-groups`
    with no filter), the VPC, and the groups' rules, each in a file."""
    client = cloud.session.client("ec2")
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "groups.json": aws_cli(client, "describe_security_groups", max_items=max_items),
        "vpc.json": aws_cli(client, "describe_vpcs", VpcIds=[cloud.vpc_id]),
    }
    if rules:
        files["rules.json"] = aws_cli(client, "describe_security_group_rules", max_items=max_items)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return [directory / name for name in files]


def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, making any AWS client fails the test."""

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("an AWS client was made")

    monkeypatch.setattr(boto3.session.Session, "client", refused)


# --------------------------------------------------------------------------- clusters


@pytest.fixture
def own(cloud: Cloud) -> dict[str, str]:
    """hasg's cluster, made by `hasg apply`, then drifted every way the live
    audit tells: a rule beyond the policy, one gone, one redescribed, a
    stranger's rule (in another VPC) naming a group, a group of another cluster."""
    ids = dict(
        apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session).group_ids
    )
    ec2 = cloud.ec2
    ec2.authorize_security_group_ingress(
        GroupId=ids["bastion"], IpPermissions=tcp(3389, "0.0.0.0/0", "RDP")
    )
    ec2.revoke_security_group_ingress(
        GroupId=ids["automate"], IpPermissions=tcp(7799, ids["bastion"])
    )
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=ids["automate"], IpPermissions=tcp(22, ids["bastion"], "renamed")
    )
    elsewhere = cloud.new_vpc("10.30.0.0/16")
    stranger = cloud.make_group("legacy-admin", vpc_id=elsewhere)
    ec2.authorize_security_group_ingress(
        GroupId=stranger, IpPermissions=tcp(5432, ids["postgresql"], "old admin")
    )
    cloud.make_group("staging-web", tags={"hasg:cluster": "staging", "managed-by": "hasg"})
    return ids


def test_hasgs_own_cluster_dumped_is_audited_as_live(
    cloud: Cloud, own: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    kinds = {f.kind for f in live.findings}
    assert {
        "extra_rule",
        "missing_rule",
        "changed_rule",
        "foreign_reference",
        "other_cluster",
    } <= kinds
    whole, paged = dump(cloud, tmp_path / "whole"), dump(cloud, tmp_path / "paged", max_items=2)
    assert (tmp_path / "paged" / "groups.json").read_text().count('"NextToken"') >= 3
    no_aws(monkeypatch)
    for files in (whole, paged, [*reversed(paged)]):
        dumped = audit_dumps(POLICY, files)
        # Finding for finding: kind, role, group, id, detail and where (VPC, group, rule).
        assert dumped.findings == live.findings
        assert (dumped.groups_checked, dumped.rules_checked) == (
            live.groups_checked,
            live.rules_checked,
        )
    assert any(len(loc.logical) == 3 for f in live.findings for loc in f.locations)


def test_the_cli_audits_a_dump_as_it_audits_the_vpc(
    cloud: Cloud,
    own: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = dump(cloud, tmp_path, max_items=3)
    policy = tmp_path / "policy.yaml"
    assert main(["init", "--cluster", "dumped", "--out", str(policy)]) == 0
    capsys.readouterr()
    live_code = main(["audit", "--vpc", cloud.vpc_id, "--policy", str(policy), "--json"])
    live = json.loads(capsys.readouterr().out)
    no_aws(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    arguments = [a for f in files for a in ("--groups-json", str(f))]
    code = main(["audit", *arguments, "--policy", str(policy), "--json"])
    dumped = json.loads(capsys.readouterr().out)
    assert code == live_code == ExitCode.CHANGES
    assert dumped["findings"] == live["findings"]
    assert dumped["source"] == f"{cloud.vpc_id} as dumped in {', '.join(map(str, files))}"

    code = main(["audit", *arguments, "--vpc", cloud.vpc_id, "--policy", str(policy)])
    text = capsys.readouterr().out
    assert code == ExitCode.CHANGES and "extra rule" in text
    code = main(["audit", *arguments, "--policy", str(policy), "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    assert code == ExitCode.CHANGES
    assert log["runs"][0]["automationDetails"]["id"] == f"hasg/audit/{','.join(map(str, files))}/"


def test_a_clean_cluster_dumped_is_clean(
    cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    files = dump(cloud, tmp_path)
    report = audit_dumps(POLICY, files)
    assert report.ok, report.to_text()
    assert verify_dumps(POLICY, files).ok
    assert audit_dumps(POLICY, files, map_tag=ROLE_TAG).ok


def test_without_the_rules_the_findings_are_the_same_but_for_rule_ids(
    cloud: Cloud, own: dict[str, str], tmp_path: Path
) -> None:
    live = audit_vpc(POLICY, cloud.vpc_id, session=cloud.session)
    dumped = audit_dumps(POLICY, dump(cloud, tmp_path, rules=False))

    def without_rules(findings: Any) -> list[Any]:
        return [
            (
                f.kind,
                f.role,
                f.group,
                f.group_id,
                f.detail,
                [loc.logical[:2] for loc in f.locations],
            )
            for f in findings
        ]

    assert without_rules(dumped.findings) == without_rules(live.findings)
    assert all(len(loc.logical) <= 2 for f in dumped.findings for loc in f.locations)


def test_chefs_cluster_dumped_is_audited_and_verified_as_live(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chef = build_chef_groups(cloud.ec2, cloud.vpc_id)
    role_map = chef_map(chef)
    live = audit_vpc(CHEF_POLICY, cloud.vpc_id, session=cloud.session, role_map=role_map)
    reachable = verify_vpc(CHEF_POLICY, cloud.vpc_id, session=cloud.session, role_map=role_map)
    assert {"world_open", "node_to_node", "open_egress"} <= {f.kind for f in live.findings}
    files = dump(cloud, tmp_path, max_items=4)
    no_aws(monkeypatch)
    dumped = audit_dumps(CHEF_POLICY, files, vpc_id=cloud.vpc_id, role_map=role_map)
    assert dumped.findings == live.findings
    assert dumped.role_groups == live.role_groups
    verified = verify_dumps(CHEF_POLICY, files, role_map=role_map)
    assert verified.breaches == reachable.breaches
    assert verified.findings == reachable.findings
    assert verified.to_text() == reachable.to_text()


# --------------------------------------------------------------------------- not the AWS CLI's


@pytest.fixture
def written(cloud: Cloud, tmp_path: Path) -> dict[str, Any]:
    """A small dump: hasg's groups, the VPC, the rules, as parsed JSON."""
    apply(hasg.compile_policy(POLICY), vpc_id=cloud.vpc_id, session=cloud.session)
    files = dump(cloud, tmp_path / "dump")
    return {f.name: json.loads(f.read_text(encoding="utf-8")) for f in files}


def refused(tmp_path: Path, texts: dict[str, str], **options: Any) -> str:
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DumpReadError) as raised:
        audit_dumps(POLICY, [tmp_path / name for name in texts], **options)
    message = str(raised.value)
    assert "\n" not in message
    return message


def cli(document: Any) -> str:
    return aws_cli_json(document)


def first_group(written: dict[str, Any]) -> dict[str, Any]:
    return next(g for g in written["groups.json"]["SecurityGroups"] if g["IpPermissions"])


def test_a_file_that_is_not_json_is_refused_at_its_line_and_column(
    tmp_path: Path, written: dict[str, Any]
) -> None:
    text = cli(written["groups.json"])
    cut = text[: len(text) // 2]
    message = refused(tmp_path, {"groups.json": cut, "vpc.json": cli(written["vpc.json"])})
    assert message.startswith(f"{tmp_path / 'groups.json'}:") and ": not JSON: " in message
    yaml = "SecurityGroups:\n- GroupId: sg-1\n"
    message = refused(tmp_path, {"groups.json": yaml, "vpc.json": cli(written["vpc.json"])})
    assert message.startswith(f"{tmp_path / 'groups.json'}:1:1: not JSON")


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        # `--query SecurityGroups`: a list, not the command's output.
        (lambda w: w["groups.json"]["SecurityGroups"], "a JSON list, not the object"),
        (lambda w: {"Groups": []}, "not the output of aws ec2 describe-security-groups"),
        (lambda w: {}, "its keys: none"),
        (
            lambda w: {**w["groups.json"], **w["vpc.json"]},
            "not the output of aws ec2 describe-security-groups",
        ),
        (
            lambda w: first_group(w)["IpPermissions"][0].update(FromPort="22") or w["groups.json"],
            'IpPermissions[0].FromPort: a string "22", where EC2 answers an integer',
        ),
        (
            lambda w: first_group(w).update(Colour="blue") or w["groups.json"],
            "Colour is no field of SecurityGroup",
        ),
        (
            lambda w: first_group(w).pop("IpPermissionsEgress") and w["groups.json"],
            "no IpPermissionsEgress, which EC2 always answers",
        ),
        (
            lambda w: first_group(w)["IpPermissions"][0].pop("IpProtocol") and w["groups.json"],
            "no IpProtocol, which EC2 always answers",
        ),
        (
            lambda w: (
                [
                    first_group(w)["IpPermissions"][0].update({key: []})
                    for key in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
                ]
                and w["groups.json"]
            ),
            "IpPermissions[0] names no peer",
        ),
        (lambda w: {**w["groups.json"], "NextToken": "eyJ..."}, "says more follows (NextToken)"),
    ],
)
def test_a_dump_the_aws_cli_did_not_write_is_refused_naming_why(
    tmp_path: Path, written: dict[str, Any], spoil: Any, why: str
) -> None:
    document = spoil(copy.deepcopy(written))
    message = refused(
        tmp_path, {"groups.json": cli(document), "vpc.json": cli(written["vpc.json"])}
    )
    assert message.startswith(f"{tmp_path / 'groups.json'}: document 1 (line 1)"), message
    assert why in message


def test_a_key_twice_and_an_empty_file_are_refused(tmp_path: Path, written: dict[str, Any]) -> None:
    vpc = cli(written["vpc.json"])
    twice = '{"SecurityGroups": [], "SecurityGroups": []}\n'
    assert "the key 'SecurityGroups' is there twice" in refused(
        tmp_path, {"groups.json": twice, "vpc.json": vpc}
    )
    assert "empty" in refused(tmp_path, {"groups.json": "\n", "vpc.json": vpc})


def test_dumps_of_two_moments_are_refused(tmp_path: Path, written: dict[str, Any]) -> None:
    vpc = cli(written["vpc.json"])
    later = copy.deepcopy(written["groups.json"])
    first_group({"groups.json": later})["Description"] = "changed since"
    message = refused(
        tmp_path,
        {"a.json": cli(written["groups.json"]), "b.json": cli(later), "vpc.json": vpc},
    )
    assert message.startswith(f"{tmp_path / 'b.json'}: document 1 (line 1): sg-")
    assert f"differs from what {tmp_path / 'a.json'}: document 1 (line 1)" in message
    # A rules dump that lists a group's rules, but not all it holds.
    rules = copy.deepcopy(written["rules.json"])
    group_id = first_group(written)["GroupId"]
    listed = rules["SecurityGroupRules"]
    listed.remove(next(r for r in listed if r["GroupId"] == group_id))
    assert any(r["GroupId"] == group_id for r in listed)
    message = refused(
        tmp_path,
        {"groups.json": cli(written["groups.json"]), "rules.json": cli(rules), "vpc.json": vpc},
    )
    assert message.startswith(f"{tmp_path / 'rules.json'}: document 1")
    assert "are not those its IpPermissions hold" in message


def test_the_vpc_comes_from_describe_vpcs(
    cloud: Cloud, tmp_path: Path, written: dict[str, Any]
) -> None:
    groups = cli(written["groups.json"])
    assert "no describe-vpcs output" in refused(tmp_path, {"groups.json": groups})
    other = aws_cli_json(cloud.session.client("ec2").describe_vpcs())
    message = refused(tmp_path, {"groups.json": groups, "vpcs.json": other})
    assert "several VPCs" in message and "--vpc" in message
    # Named, it is found among them.
    assert audit_dumps(
        POLICY, [tmp_path / "groups.json", tmp_path / "vpcs.json"], vpc_id=cloud.vpc_id
    ).ok
    message = refused(
        tmp_path,
        {"groups.json": groups, "vpc.json": cli(written["vpc.json"])},
        vpc_id="vpc-0123456789abcdef0",
    )
    assert "no describe-vpcs output" in message and "vpc-0123456789abcdef0" in message


def test_what_the_aws_cli_writes_in_any_arrangement_is_read(
    tmp_path: Path, written: dict[str, Any]
) -> None:
    """One file of all three outputs, a page given twice, UTF-16 as Windows
    PowerShell's `>` writes it, a UTF-8 byte order mark."""
    together = tmp_path / "all.json"
    texts = [cli(written[name]) for name in ("vpc.json", "groups.json", "rules.json")]
    together.write_text("".join([*texts, texts[1]]), encoding="utf-8")
    assert audit_dumps(POLICY, together).ok
    for encoding, mark in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-8", codecs.BOM_UTF8)):
        together.write_bytes(mark + "".join(texts).encode(encoding))
        assert audit_dumps(POLICY, together).ok, encoding


def test_a_timestamp_is_read_as_the_aws_cli_writes_it(cloud: Cloud) -> None:
    """None of the three outputs holds a timestamp in botocore's model today;
    one that does is checked as the AWS CLI writes them (v2's isoformat, v1's
    wire form), here on DescribeInstances' LaunchTime."""
    client = cloud.session.client("ec2")
    image = client.describe_images()["Images"][0]["ImageId"]
    client.run_instances(ImageId=image, MinCount=1, MaxCount=1)
    document = json.loads(aws_cli(client, "describe_instances"))
    launched = document["Reservations"][0]["Instances"][0]["LaunchTime"]
    assert datetime.datetime.fromisoformat(launched).tzinfo is not None
    shape = _output_shape("DescribeInstances")
    _check_shape(document, shape, "d.json", "")
    document["Reservations"][0]["Instances"][0]["LaunchTime"] = "2024-05-02T17:43:04.000Z"
    _check_shape(document, shape, "d.json", "")
    document["Reservations"][0]["Instances"][0]["LaunchTime"] = "yesterday"
    with pytest.raises(DumpReadError, match=r"LaunchTime: \"yesterday\" is not an ISO 8601"):
        _check_shape(document, shape, "d.json", "")


def test_every_field_the_reader_keys_on_is_in_botocores_model() -> None:
    """The fields hasg requires are fields of the shapes it requires them of."""
    shapes: dict[str, Any] = {}

    def walk(shape: Any) -> None:
        if shape.name in shapes:
            return
        shapes[shape.name] = shape
        for member in getattr(shape, "members", {}).values():
            walk(member)
        if hasattr(shape, "member"):
            walk(shape.member)

    for operation in ("DescribeSecurityGroups", "DescribeSecurityGroupRules", "DescribeVpcs"):
        walk(_output_shape(operation))
    for name, fields in ALWAYS.items():
        assert set(fields) <= set(shapes[name].members), name


# --------------------------------------------------------------------------- the CLI


def test_the_cli_refuses_what_does_not_fit_in_one_line(
    tmp_path: Path, written: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    groups = tmp_path / "groups.json"
    groups.write_text(cli(written["groups.json"]), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("[]\n", encoding="utf-8")
    for argv, message in (
        (["audit", "--groups-json", str(bad)], f"{bad}: document 1 (line 1): a JSON list"),
        (
            ["audit", "--groups-json", str(groups), "--hcl", "x.tf"],
            "not with --from, --hcl or --nft",
        ),
        (["audit", "--groups-json", str(groups), "--region", "eu-west-1"], "reads files, not AWS"),
        (["verify", "--groups-json", str(groups), "--profile", "p"], "reads files, not AWS"),
        (["verify", "--groups-json", str(bad)], "a JSON list"),
        (["verify", "--map", "automate=sg-12345678"], "use them with --vpc or --groups-json"),
    ):
        code = main(argv)
        out, err = capsys.readouterr()
        assert (code, out) == (ExitCode.ERROR, ""), argv
        assert err.startswith("hasg: error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: audit_dumps("policy", ["x.json"]), "expected a hasg.Policy"),
        (lambda: audit_dumps(POLICY, None), "files are paths"),  # type: ignore[arg-type]
        (lambda: audit_dumps(POLICY, [1]), "files are paths"),  # type: ignore[list-item]
        (lambda: audit_dumps(POLICY, []), "--groups-json: no file"),
        (lambda: audit_dumps(POLICY, ["x.json"], vpc_id="vpc-x"), "is not a VPC id"),
        (lambda: verify_dumps(POLICY, ["x.json"], role_map="nobody=sg-12345678"), "not a role"),
        (lambda: audit_dumps(POLICY, ["/nonexistent/x.json"]), "cannot read"),
    ],
)
def test_the_library_refuses_as_the_cli_does(call: Any, message: str) -> None:
    with pytest.raises(HasgError) as raised:
        call()
    assert message in str(raised.value) and "\n" not in str(raised.value)
