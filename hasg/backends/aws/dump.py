"""What the AWS CLI wrote, answering as EC2 would: audits without credentials.

A security team often holds the output of `aws ec2 describe-security-groups
--output json` and no access to the account. `read_dumps` reads such files,
with `aws ec2 describe-security-group-rules` (for rule ids) and `aws ec2
describe-vpcs` (for the VPC's CIDRs, which the policy's `vpc` peer stands
for) beside them, and answers the read calls the live audit makes of EC2
(DescribeVpcs, and DescribeSecurityGroups and DescribeSecurityGroupRules with
the filters hasg uses) from what they hold. So `hasg audit --groups-json`
runs the live audit's own code (`hasg.backends.aws.read`, `.audit`): the
same reader of IpPermissions, the same ownership rules, the same findings.

What the AWS CLI writes (aws-cli, awscli/formatter.py `JSONFormatter` and
awscli/utils.py `json_encoder`, v1 and v2 alike): the parsed response,
ResponseMetadata removed, as `json.dump(response, indent=4,
ensure_ascii=False, default=json_encoder)` and a newline, where datetimes
are ISO 8601 (`isoformat()`). By default it pages through the whole result
and writes one document without a NextToken; with `--max-items` (or
`--no-paginate`) one page, with a NextToken while more follow. Pages written
one after another into one file are several documents in a row.

Each document is checked against the output shape of its operation in
botocore's EC2 model (the model the AWS CLI parses the response with): every
field is one the model has, of the model's type. What the reader keys on
must be there, as EC2 always answers it. Anything else is refused, naming
the file, the document and the field: an audit of a file hasg misread would
say nothing true.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hasg.errors import DumpReadError

if TYPE_CHECKING:
    from botocore.model import ServiceModel, Shape
    from mypy_boto3_ec2.type_defs import SecurityGroupRuleTypeDef as Rule

# Each command's output, known by the list it holds: (operation, the AWS CLI's command).
OPERATIONS = {
    "SecurityGroups": ("DescribeSecurityGroups", "describe-security-groups"),
    "SecurityGroupRules": ("DescribeSecurityGroupRules", "describe-security-group-rules"),
    "Vpcs": ("DescribeVpcs", "describe-vpcs"),
}
# What EC2 always answers of these shapes, and the reader keys on: a document
# without them was not written by the AWS CLI from EC2's answer (or was cut).
ALWAYS = {
    "SecurityGroup": (
        "GroupId",
        "GroupName",
        "OwnerId",
        "VpcId",
        "IpPermissions",
        "IpPermissionsEgress",
    ),
    "IpPermission": ("IpProtocol",),
    "UserIdGroupPair": ("GroupId",),
    "IpRange": ("CidrIp",),
    "Ipv6Range": ("CidrIpv6",),
    "PrefixListId": ("PrefixListId",),
    "SecurityGroupRule": (
        "SecurityGroupRuleId",
        "GroupId",
        "GroupOwnerId",
        "IsEgress",
        "IpProtocol",
    ),
    "Vpc": ("VpcId", "CidrBlock"),
    "Tag": ("Key",),
}
_PEER_LISTS = ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
_IDS = {"SecurityGroups": "GroupId", "SecurityGroupRules": "SecurityGroupRuleId", "Vpcs": "VpcId"}


@dataclass(frozen=True)
class Document:
    """One JSON document of a dump file: one command's output, or one page of it."""

    file: str
    number: int  # 1-based, in its file
    line: int  # where it starts
    key: str  # which output: a key of OPERATIONS
    body: Mapping[str, Any]

    @property
    def where(self) -> str:
        return f"{self.file}: document {self.number} (line {self.line})"

    @property
    def command(self) -> str:
        return OPERATIONS[self.key][1]


@dataclass
class Dumps:
    """Everything the dump files hold, by id; and the answers to the read calls
    the audit makes of EC2, as an EC2 client would give them (duck-typed: the
    audit's code takes it where it takes a client)."""

    files: tuple[str, ...]
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    vpcs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def meta(self) -> _Meta:
        # Where the live reader names the region ("group sg-1 not found in ..."),
        # the dumps are where it looked.
        return _Meta(f"the dumps ({', '.join(self.files)})")

    # The keyword arguments are EC2's, as the live reader passes them.
    def describe_vpcs(self, *, VpcIds: Sequence[str]) -> dict[str, Any]:
        missing = [vpc_id for vpc_id in VpcIds if vpc_id not in self.vpcs]
        if missing:
            raise DumpReadError(
                f"--groups-json: no describe-vpcs output in {', '.join(self.files)} holds "
                f"{', '.join(missing)}, whose CIDRs the policy's vpc peer stands for: add the "
                f"output of `aws ec2 describe-vpcs --vpc-ids {' '.join(missing)} --output json`"
            )
        return {"Vpcs": [self.vpcs[vpc_id] for vpc_id in VpcIds]}

    def get_paginator(self, operation: str) -> _Pages:
        held = {
            "describe_security_groups": self.groups,
            "describe_security_group_rules": self.rules,
        }
        if operation not in held:
            raise DumpReadError(f"--groups-json: the dumps cannot answer {operation}")
        key = "SecurityGroups" if operation == "describe_security_groups" else "SecurityGroupRules"
        return _Pages(key, list(held[operation].values()))

    def only_vpc(self) -> str:
        """The VPC the dumps are of, where they hold exactly one."""
        if len(self.vpcs) == 1:
            return next(iter(self.vpcs))
        if not self.vpcs:
            raise DumpReadError(
                f"--groups-json: no describe-vpcs output in {', '.join(self.files)}: the "
                "VPC's CIDRs are what the policy's vpc peer stands for; add the output of "
                "`aws ec2 describe-vpcs --vpc-ids VPC --output json`"
            )
        raise DumpReadError(
            f"--groups-json: the dumps hold several VPCs ({', '.join(sorted(self.vpcs))}): "
            "name the one to audit with --vpc"
        )


@dataclass(frozen=True)
class _Meta:
    region_name: str


@dataclass(frozen=True)
class _Pages:
    """One page holding every item that the filters match, as EC2 filters:
    filters and-ed, the values of one filter or-ed."""

    key: str
    items: list[dict[str, Any]]

    def paginate(self, *, Filters: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        tests = [_filter(f["Name"], set(f["Values"])) for f in Filters]
        yield {self.key: [item for item in self.items if all(test(item) for test in tests)]}


def _filter(name: str, values: set[str]) -> Any:
    """An EC2 filter of DescribeSecurityGroups or DescribeSecurityGroupRules,
    with exact values (hasg checks wildcard characters itself)."""

    def referenced(key: str) -> Any:
        return lambda item: any(
            pair.get("GroupId") in values
            for permission in item.get(key, [])
            for pair in permission.get("UserIdGroupPairs", [])
        )

    tests = {
        "vpc-id": lambda item: item.get("VpcId") in values,
        "group-id": lambda item: item.get("GroupId") in values,
        "tag-key": lambda item: any(tag.get("Key") in values for tag in item.get("Tags", [])),
        "ip-permission.group-id": referenced("IpPermissions"),
        "egress.ip-permission.group-id": referenced("IpPermissionsEgress"),
    }
    if name not in tests:
        raise DumpReadError(f"--groups-json: the dumps cannot answer the filter {name}")
    return tests[name]


# --------------------------------------------------------------------------- reading


def read_dumps(paths: Sequence[Path]) -> Dumps:
    """The dump files, checked to be what the AWS CLI writes, merged.

    The same group (or rule, or VPC) on several pages or in several files must
    be the same each time; the last page of each command must not say more
    follows (a NextToken): the dump would be cut short. Where a group's rules
    are in the describe-security-group-rules output, they must be the rules
    its IpPermissions hold: dumps of two moments do not make one VPC."""
    if not paths:
        raise DumpReadError("--groups-json: no file")
    dumps = Dumps(tuple(str(p) for p in paths))
    documents = [document for path in paths for document in _documents(path)]
    for key in OPERATIONS:
        pages = [d for d in documents if d.key == key]
        if pages and "NextToken" in pages[-1].body:
            raise DumpReadError(
                f"{pages[-1].where}: a page of {pages[-1].command} that says more follows "
                "(NextToken), and no page follows it: add the next pages (aws ec2 "
                f"{pages[-1].command} --starting-token ...), or dump without --max-items"
            )
    held = {"SecurityGroups": dumps.groups, "SecurityGroupRules": dumps.rules, "Vpcs": dumps.vpcs}
    first: dict[tuple[str, str], Document] = {}
    for document in documents:
        for item in document.body[document.key]:
            item_id = item[_IDS[document.key]]
            known = held[document.key].setdefault(item_id, item)
            if known != item:
                raise DumpReadError(
                    f"{document.where}: {item_id} differs from what "
                    f"{first[(document.key, item_id)].where} says of it: dumps of different "
                    "moments; dump again, all at once"
                )
            first.setdefault((document.key, item_id), document)
    _check_agreement(dumps, first)
    return dumps


def _documents(path: Path) -> Iterator[Document]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DumpReadError(f"{path}: cannot read: {error.strerror}") from None
    text = _text(path, data)
    decoder = json.JSONDecoder(object_pairs_hook=_no_key_twice)
    at, number = 0, 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            break
        number += 1
        line = text.count("\n", 0, at) + 1
        try:
            body, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as error:
            raise DumpReadError(
                f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}"
            ) from None
        except _KeyTwice as error:
            raise DumpReadError(
                f"{path}: document {number} (line {line}): the key {error.args[0]!r} is there "
                "twice in one object, which the AWS CLI never writes"
            ) from None
        yield _document(str(path), number, line, body)
    if number == 0:
        raise DumpReadError(f"{path}: empty: no output of aws ec2 describe-security-groups")


def _text(path: Path, data: bytes) -> str:
    """The file's text: UTF-8 as the AWS CLI writes it, or UTF-16 with its
    byte order mark (what Windows PowerShell's `>` makes of it)."""
    encoding = "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise DumpReadError(f"{path}: not {encoding.upper()} text ({error.reason})") from None


class _KeyTwice(ValueError):
    pass


def _no_key_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _KeyTwice(key)
        found[key] = value
    return found


def _document(file: str, number: int, line: int, body: object) -> Document:
    where = f"{file}: document {number} (line {line})"
    expected = ", ".join(f"aws ec2 {command} --output json" for _, command in OPERATIONS.values())
    if not isinstance(body, dict):
        raise DumpReadError(
            f"{where}: a JSON {type(body).__name__.replace('dict', 'object')}, not the object "
            f"the AWS CLI writes for {expected} (was --query used?)"
        )
    keys = [key for key in OPERATIONS if key in body]
    if len(keys) != 1:
        shown = ", ".join(sorted(body)) or "none"
        raise DumpReadError(f"{where}: not the output of {expected} (its keys: {shown})")
    (key,) = keys
    _check_shape(body, _output_shape(OPERATIONS[key][0]), where, "")
    for item in body[key]:
        if key == "SecurityGroups":
            for direction in ("IpPermissions", "IpPermissionsEgress"):
                for index, permission in enumerate(item[direction]):
                    if not any(permission.get(peers) for peers in _PEER_LISTS):
                        raise DumpReadError(
                            f"{where}: {item['GroupId']}: {direction}[{index}] names no peer "
                            f"({', '.join(_PEER_LISTS)} all empty), which EC2 never answers"
                        )
    return Document(file, number, line, key, body)


def _output_shape(operation: str) -> Shape:
    shape = _ec2_model().operation_model(operation).output_shape
    assert shape is not None  # every Describe operation has an output
    return shape


@cache
def _ec2_model() -> ServiceModel:
    """botocore's EC2 model, from the files botocore ships: no credentials, no network."""
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


def _check_shape(value: object, shape: Shape, where: str, path: str) -> None:
    """`value` is what the AWS CLI writes for `shape` (botocore's model)."""

    def refuse(problem: str) -> DumpReadError:
        return DumpReadError(f"{where}: {path or 'the document'}: {problem}")

    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise refuse(f"{_json_type(value)}, where the AWS CLI writes an object ({shape.name})")
        members = shape.members  # type: ignore[attr-defined]
        for name in ALWAYS.get(shape.name, ()):
            if name not in value:
                raise refuse(f"no {name}, which EC2 always answers in a {shape.name}")
        for name, item in value.items():
            if name not in members:
                raise refuse(
                    f"{name} is no field of {shape.name} in botocore's EC2 model (a newer AWS "
                    "CLI? then upgrade botocore; else the file is not the AWS CLI's output)"
                )
            _check_shape(item, members[name], where, f"{path}.{name}" if path else name)
    elif kind == "list":
        if not isinstance(value, list):
            raise refuse(f"{_json_type(value)}, where the AWS CLI writes a list")
        for index, item in enumerate(value):
            _check_shape(item, shape.member, where, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif kind == "map":
        if not isinstance(value, dict):
            raise refuse(f"{_json_type(value)}, where the AWS CLI writes an object")
        for name, item in value.items():
            _check_shape(item, shape.value, where, f"{path}.{name}")  # type: ignore[attr-defined]
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse(f"{_json_type(value)} {json.dumps(value)}, where EC2 answers an integer")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse(f"{_json_type(value)} {json.dumps(value)}, where EC2 answers a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise refuse(f"{_json_type(value)} {json.dumps(value)}, where EC2 answers a boolean")
    elif kind == "timestamp":
        if not isinstance(value, str) or not _iso_8601(value):
            raise refuse(
                f"{json.dumps(value)} is not an ISO 8601 time, which the AWS CLI writes "
                "for a timestamp"
            )
    elif not isinstance(value, str):  # string, blob (base64)
        raise refuse(f"{_json_type(value)} {json.dumps(value)}, where EC2 answers a string")


def _iso_8601(text: str) -> bool:
    """Python's `isoformat()` (the AWS CLI v2; v1 with cli_timestamp_format
    iso8601), or EC2's own `2024-05-02T17:43:04.000Z` (v1's default, the wire's)."""
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False
    return "T" in text


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _check_agreement(dumps: Dumps, first: Mapping[tuple[str, str], Document]) -> None:
    """A group's rules as describe-security-group-rules lists them are the
    rules of its IpPermissions, where the dumps hold both."""
    from hasg.backends.aws.permissions import from_ip_permissions
    from hasg.backends.aws.read import rule_of

    listed: dict[str, set[object]] = {}
    for rule in dumps.rules.values():
        listed.setdefault(rule["GroupId"], set()).add(rule_of(cast("Rule", rule), {}).key)
    for group_id, keys in listed.items():
        raw = dumps.groups.get(group_id)
        if raw is None:
            continue
        held = {
            rule.key
            for direction, permissions in _directions(raw)
            for rule in from_ip_permissions(direction, permissions, {}, raw["OwnerId"])
        }
        if held != keys:
            rules_document = next(
                first[("SecurityGroupRules", rule_id)]
                for rule_id, rule in dumps.rules.items()
                if rule["GroupId"] == group_id
            )
            raise DumpReadError(
                f"{rules_document.where}: the rules of {group_id} are not those its "
                f"IpPermissions hold in {first[('SecurityGroups', group_id)].where}: dumps of "
                "different moments; dump again, all at once"
            )


def _directions(raw: Mapping[str, Any]) -> Iterable[tuple[Any, Any]]:
    yield "ingress", raw["IpPermissions"]
    yield "egress", raw["IpPermissionsEgress"]
