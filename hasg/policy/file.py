"""Policy files: YAML or JSON in, `Policy` out, and back.

Loading reports every problem as `file:line:column: field: message`, whether
the YAML is broken, a key is unknown, a value has the wrong type or is out of
range: PyYAML's node marks give the positions, and each pydantic error's
location is followed through the node tree. JSON files are read by the json
module (so that only real JSON passes) and located with the same node tree,
JSON being YAML.

Writing (`dump_policy`) uses the file shorthands (`bastion`, `tcp/443`,
`ssh`) and, for YAML, comments every field, so that `hasg init` gives a file
people can edit. Reading a written file gives back exactly the same `Policy`.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic_core import ErrorDetails

from hasg.core.input_files import read_text_capped
from hasg.core.yaml_source import MAX_DEPTH, field_path, mark_position, parse_yaml, yaml_ambiguity
from hasg.errors import PolicyError, PolicyFileError, Problem
from hasg.policy.model import (
    AnyPeer,
    CidrListPeer,
    CidrPeer,
    Flow,
    Policy,
    Port,
    Role,
    RolePeer,
    VpcPeer,
    error_message,
    peer_from_text,
    relevant_errors,
)
from hasg.policy.schema import FIELD_HELP, PEER_SHORTHAND, PORT_SHORTHAND, SSH_PORT_WORD

FileFormat = Literal["yaml", "json"]
FILE_FORMATS: tuple[FileFormat, ...] = ("yaml", "json")
# --------------------------------------------------------------------------- reading


# A policy is a few kilobytes; these bound what a hostile or broken file can
# cost (memory, Python's recursion limit) far above any real one.
MAX_FILE_BYTES = 1 << 20


def load_policy_file(path: Path) -> Policy:
    """Read a policy file: JSON if it is named *.json, YAML otherwise."""
    text = read_text_capped(path, MAX_FILE_BYTES, "policy", PolicyFileError, encoding="utf-8-sig")
    return load_policy_text(text, name=str(path), file_format=file_format_of(path))


def _too_large(name: str) -> PolicyFileError:
    message = f"is larger than {MAX_FILE_BYTES:,} bytes, which no policy is"
    return PolicyFileError([Problem(0, 0, name, "", message)])


def file_format_of(path: Path) -> FileFormat:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def load_policy_text(
    text: str, *, name: str = "<policy>", file_format: FileFormat = "yaml"
) -> Policy:
    """Parse and validate a policy; `name` is what error messages call the file."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise _too_large(name)
    document = _parse_json(text, name) if file_format == "json" else _parse_yaml(text, name)
    data = _expand_ssh_word(document.data)
    try:
        return Policy.model_validate(data)
    except PolicyError as error:
        if not isinstance(error.__cause__, ValidationError):
            raise
        raise document.error(error.__cause__) from None


def validation_error(error: ValidationError | PolicyError, name: str) -> PolicyFileError:
    """A refused Policy built in code, as one line per problem that starts with
    `name` (say, the command whose options built it)."""
    cause = error.__cause__ if isinstance(error, PolicyError) else error
    if not isinstance(cause, ValidationError):
        return PolicyFileError([Problem(0, 0, name, "", str(error))])
    return _Document(name, None, None).error(cause)


@dataclass(frozen=True)
class _Document:
    name: str
    data: Any
    root: yaml.Node | None  # None where there is no file

    def error(self, error: ValidationError) -> PolicyFileError:
        details = relevant_errors(error.errors(include_url=False))
        return PolicyFileError([self.problem(e) for e in details])

    def problem(self, error: ErrorDetails) -> Problem:
        loc, message = _relocate(error["loc"], error_message(error))
        place = _locate(self.root, loc, at_key=error["type"] == "extra_forbidden")
        if error["type"] == "extra_forbidden" and place.model is not None:
            message += _suggestion(str(loc[-1]), place.model)
        return Problem(*mark_position(place.mark), self.name, place.path, message)


def _parse_yaml(text: str, name: str) -> _Document:
    parsed = parse_yaml(text, name)
    return _Document(name, parsed.data, parsed.root)


# --------------------------------------------------------------------------- JSON


def _parse_json(text: str, name: str) -> _Document:
    reader = _JsonReader(text, name)
    try:
        parsed = reader.read()
    except json.JSONDecodeError as error:
        raise PolicyFileError(
            [Problem(error.lineno, error.colno, name, "", f"broken JSON: {error.msg}")]
        ) from None
    if reader.problems:
        raise PolicyFileError(reader.problems)
    return _Document(name, parsed.data, parsed.node)


@dataclass(frozen=True)
class _Parsed:
    data: Any
    node: yaml.Node


_STR_TAG = "tag:yaml.org,2002:str"
_JSON_SCANNER: Any = json.scanner
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four (RFC 8259, section 2)


class _JsonReader:
    """The json module's own scanner, reading objects and arrays here so that
    every key and value keeps its position and a key given twice is refused
    (json.loads lets the last one win), whatever the whitespace."""

    def __init__(self, text: str, name: str) -> None:
        self.text, self.name = text, name
        self.problems: list[Problem] = []
        self.depth = 0
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        # The pure-Python scanner: the C one parses objects and arrays itself.
        decoder: Any = json.JSONDecoder(strict=True)
        decoder.parse_object = self._object
        decoder.parse_array = self._array
        decoder.parse_constant = self._not_json  # NaN, Infinity: Python's, not JSON's
        decoder.memo = {}
        self.scan_once = _JSON_SCANNER.py_make_scanner(decoder)

    def read(self) -> _Parsed:
        parsed, end = self._value(self._skip(0))
        end = self._skip(end)
        if end != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, end)
        return parsed

    def mark(self, index: int) -> yaml.Mark:
        line = bisect_right(self.line_starts, index) - 1
        return yaml.Mark(self.name, index, line, index - self.line_starts[line], "", 0)

    def _not_json(self, constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    def _skip(self, index: int) -> int:
        match = _WHITESPACE.match(self.text, index)
        return match.end() if match else index

    def _value(self, index: int) -> tuple[_Parsed, int]:
        try:
            value, end = self.scan_once(self.text, index)
        except StopIteration as stop:
            raise json.JSONDecodeError("Expecting value", self.text, stop.value) from None
        except json.JSONDecodeError:
            raise
        except ValueError as error:  # 5,000 digits: Python's int-from-text limit
            reason = str(error).split(";")[0]
            raise json.JSONDecodeError(reason, self.text, index) from None
        if isinstance(value, _Parsed):
            return value, end
        node = yaml.ScalarNode(_STR_TAG, str(value), self.mark(index), self.mark(end))
        return _Parsed(value, node), end

    def _enter(self, index: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise json.JSONDecodeError(message, self.text, index)

    def _after_item(self, end: int, close: str) -> tuple[bool, int]:
        """Past the `,` to the next item (False), or at the closing bracket (True)."""
        end = self._skip(end)
        if self.text[end : end + 1] == close:
            return True, end
        if self.text[end : end + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", self.text, end)
        return False, self._skip(end + 1)

    def _object(self, s_and_end: tuple[str, int], *_: Any) -> tuple[_Parsed, int]:
        text, end = s_and_end
        start = end - 1
        self._enter(start)
        data: dict[str, Any] = {}
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        end = self._skip(end)
        if text[end : end + 1] != "}":
            while True:
                if text[end : end + 1] != '"':
                    raise json.JSONDecodeError(
                        "Expecting property name enclosed in double quotes", text, end
                    )
                key_start = end
                key, end = scanstring(text, end + 1, True)
                key_node = yaml.ScalarNode(_STR_TAG, key, self.mark(key_start), self.mark(end))
                end = self._skip(end)
                if text[end : end + 1] != ":":
                    raise json.JSONDecodeError("Expecting ':' delimiter", text, end)
                value, end = self._value(self._skip(end + 1))
                if key in data:
                    where = mark_position(key_node.start_mark)
                    self.problems.append(Problem(*where, self.name, "", f"{key!r} is given twice"))
                data[key] = value.data
                pairs.append((key_node, value.node))
                done, end = self._after_item(end, "}")
                if done:
                    break
        self.depth -= 1
        node = yaml.MappingNode("tag:yaml.org,2002:map", pairs, self.mark(start), self.mark(end))
        return _Parsed(data, node), end + 1

    def _array(self, s_and_end: tuple[str, int], *_: Any) -> tuple[_Parsed, int]:
        text, end = s_and_end
        start = end - 1
        self._enter(start)
        items: list[_Parsed] = []
        end = self._skip(end)
        if text[end : end + 1] != "]":
            while True:
                item, end = self._value(end)
                items.append(item)
                done, end = self._after_item(end, "]")
                if done:
                    break
        self.depth -= 1
        nodes = [i.node for i in items]
        node = yaml.SequenceNode("tag:yaml.org,2002:seq", nodes, self.mark(start), self.mark(end))
        return _Parsed([i.data for i in items], node), end + 1


def _expand_ssh_word(data: Any) -> Any:
    """`ssh` among a flow's ports means tcp on the policy's ssh_port."""
    if not isinstance(data, Mapping) or not isinstance(data.get("flows"), list):
        return data
    default = Policy.model_fields["ssh_port"].default
    ssh_port = data.get("ssh_port", default)
    if not isinstance(ssh_port, int) or isinstance(ssh_port, bool):
        ssh_port = default  # ssh_port's own error says what is wrong; one is enough
    ssh = f"tcp/{ssh_port}"

    def flow(item: Any) -> Any:
        if not isinstance(item, Mapping) or not isinstance(item.get("ports"), list):
            return item
        ports = [ssh if p == SSH_PORT_WORD else p for p in item["ports"]]
        return {**item, "ports": ports}

    return {**data, "flows": [flow(f) for f in data["flows"]]}


# --------------------------------------------------------------------------- errors


# A message that begins with a field path ("flows[3].source: unknown role")
# names a better place than the model that raised it.
_MESSAGE_PATH = re.compile(r"((?:[a-z_]+)(?:\[\d+\])*(?:\.[a-z_]+(?:\[\d+\])*)*): (.+)")
_PATH_PART = re.compile(r"([a-z_]+)|\[(\d+)\]")


def _relocate(loc: tuple[int | str, ...], message: str) -> tuple[tuple[int | str, ...], str]:
    match = _MESSAGE_PATH.fullmatch(message)
    if not match:
        return loc, message
    extra = tuple(int(index) if index else field for field, index in _PATH_PART.findall(match[1]))
    model = _model_at(loc)
    if model is None or extra[0] not in model.model_fields:
        return loc, message
    return loc + extra, match[2]


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class _Place:
    path: str
    mark: yaml.Mark | None
    model: type[BaseModel] | None  # the model whose field the location names


def _locate(root: yaml.Node | None, loc: tuple[int | str, ...], *, at_key: bool) -> _Place:
    """Follow a pydantic location through the models and the node tree together.

    The models say which parts of the location are union tags, which are not
    in the file; the nodes give the position. Where the file uses a shorthand
    (a scalar for a port or a peer), the location stops at that scalar; a
    field that is missing still gets its name in the path.
    """
    node = root
    mark = root.start_mark if root is not None else None
    key_mark: yaml.Mark | None = None
    path = ""
    shape: Any = Policy
    for index, part in enumerate(loc):
        if isinstance(shape, dict):
            shape = shape.get(part)
            continue
        shape = _child_shape(shape, part)
        if part == "[key]":  # pydantic's marker for a bad mapping key
            mark = key_mark or mark
            continue
        child = _child_node(node, part)
        if child is None:
            last = index == len(loc) - 1
            if root is None or (last and isinstance(node, yaml.MappingNode)):
                path = field_path(path, part)
            node = None
            continue
        key_node, node = child
        path = field_path(path, part)
        mark = node.start_mark
        key_mark = key_node.start_mark if key_node is not None else None
    if at_key and key_mark is not None and node is not None:
        mark = key_mark
    return _Place(path, mark, _model_at(loc[:-1]) if loc else None)


def _child_node(
    node: yaml.Node | None, part: int | str
) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    shape: Any = Policy
    for part in loc:
        shape = shape.get(part) if isinstance(shape, dict) else _child_shape(shape, part)
    return shape if isinstance(shape, type) and issubclass(shape, BaseModel) else None


def _child_shape(shape: Any, part: int | str) -> Any:
    """The type one location part further down: a model, a container, a tagged
    union (as a dict tag -> model), or None where hasg does not need to know."""
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        field = shape.model_fields.get(str(part))
        if field is None:
            return None
        if any(isinstance(m, Discriminator) for m in field.metadata):
            return _tagged_members(field.annotation)
        return _unwrap(field.annotation)
    if isinstance(shape, tuple) and shape and shape[0] == "items":
        return shape[1]
    return None


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (tuple, list):
        return ("items", _unwrap(get_args(annotation)[0]))
    if origin is dict:
        return ("items", _unwrap(get_args(annotation)[1]))
    if origin is Union or (origin is not None and type(None) in get_args(annotation)):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else None
    return annotation


def _tagged_members(annotation: Any) -> dict[str, type[BaseModel]]:
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        model, *metadata = get_args(member)
        for item in metadata:
            if isinstance(item, Tag):
                members[item.tag] = model
    return members


def _suggestion(unknown: str, model: type[BaseModel]) -> str:
    fields = list(model.model_fields)
    close = get_close_matches(unknown, fields, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"; {hint}{model.__name__} fields: {', '.join(fields)}"


# --------------------------------------------------------------------------- writing


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as plain data in the file's shorthands (what `dump_policy` writes)."""
    return {
        "cluster": policy.cluster,
        "user_cidrs": list(policy.user_cidrs),
        "admin_cidrs": list(policy.admin_cidrs),
        "ssh_port": policy.ssh_port,
        "tags": dict(policy.tags),
        # Written only when on, so the files of every other policy stay as they were.
        **({"restrict_default_group": True} if policy.restrict_default_group else {}),
        "roles": [_role_document(r) for r in policy.roles],
        "flows": [_flow_document(policy, f) for f in policy.flows],
    }


def _role_document(role: Role) -> dict[str, Any]:
    document: dict[str, Any] = {"id": role.id, "description": role.description}
    if role.managed:
        document["managed"] = True
    return document


def _flow_document(policy: Policy, flow: Flow) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if flow.name is not None:
        document["name"] = flow.name
    document["source"] = _peer_document(flow.source)
    document["destination"] = _peer_document(flow.destination)
    document["ports"] = [_port_text(policy, p) for p in flow.ports]
    document["description"] = flow.description
    if flow.public:
        document["public"] = True
    return document


def _peer_document(peer: AnyPeer) -> Any:
    if isinstance(peer, RolePeer):
        # A role called `vpc` or `user_cidrs` needs the long form.
        return (
            peer.role if peer_from_text(peer.role) == {"role": peer.role} else {"role": peer.role}
        )
    if isinstance(peer, CidrPeer):
        return peer.cidr
    if isinstance(peer, CidrListPeer):
        return peer.cidr_list
    if isinstance(peer, VpcPeer):
        return "vpc"
    return peer.model_dump(exclude_defaults=True)


def _port_text(policy: Policy, port: Port) -> str:
    if port == Port.tcp(policy.ssh_port):
        return SSH_PORT_WORD
    return str(port)


def dump_policy(policy: Policy, file_format: FileFormat = "yaml") -> str:
    """The policy as a file: commented YAML, or JSON. Reads back to `policy`."""
    return dump_document(policy_document(policy), file_format)


def dump_document(document: Mapping[str, Any], file_format: FileFormat = "yaml") -> str:
    """Write a `policy_document` (or one edited from it) as a policy file."""
    if file_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return _commented_yaml(document)


def _commented_yaml(document: Mapping[str, Any]) -> str:
    help_text = FIELD_HELP[Policy]
    out = [
        f"# hasg policy for the cluster {document['cluster']}.",
        "#",
        "# Use it with any command: hasg verify --policy FILE, hasg emit-hcl --policy FILE.",
        "# Every field is described in docs/policy-file.md. For completion and checks in",
        "# your editor, write the schema (hasg schema > hasg-policy.schema.json) and put",
        "#   # yaml-language-server: $schema=hasg-policy.schema.json",
        "# at the top of this file.",
        "",
    ]
    for key in (
        "cluster",
        "user_cidrs",
        "admin_cidrs",
        "ssh_port",
        "tags",
        "restrict_default_group",
    ):
        if key not in document:
            continue
        out += _comment(help_text[key])
        out += _block(key, document[key])
        out.append("")
    out += _comment(help_text["roles"])
    out.append("roles:")
    for role in document["roles"]:
        out += [
            f"{'  - ' if index == 0 else '    '}{key}: {_scalar(value)}"
            for index, (key, value) in enumerate(role.items())
        ]
    out.append("")
    out += _comment(f"{help_text['flows']} {PEER_SHORTHAND} {PORT_SHORTHAND}")
    out.append("flows:" if document["flows"] else "flows: []")
    for index, flow in enumerate(document["flows"]):
        if index:
            out.append("")
        first = True
        for key, value in flow.items():
            text = _flow_value(value) if key == "ports" else _scalar(value)
            out.append(f"{'  - ' if first else '    '}{key}: {text}")
            first = False
    return "\n".join(out) + "\n"


def _block(key: str, value: Any) -> list[str]:
    if isinstance(value, list) and value:
        return [f"{key}:", *(f"  - {_scalar(v)}" for v in value)]
    if isinstance(value, dict) and value:
        return [f"{key}:", *(f"  {_scalar(k)}: {_scalar(v)}" for k, v in value.items())]
    return [f"{key}: {_scalar(value)}"]


def _flow_value(values: list[Any]) -> str:
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


# What YAML 1.1 reads as a line break inside a scalar.
_YAML_BREAKS = frozenset("\n\r\x85\u2028\u2029")


def _scalar(value: Any) -> str:
    """One value in YAML flow style, quoted where YAML would misread it."""
    options: dict[str, Any] = {"width": math.inf, "allow_unicode": True, "sort_keys": False}
    text = str(yaml.dump(value, Dumper=_Dumper, default_flow_style=True, **options))
    text = text.removesuffix("\n").removesuffix("\n...")
    if any(c in text for c in _YAML_BREAKS):  # escape line breaks: one line holds one value
        text = str(yaml.safe_dump(value, default_style='"', **options)).removesuffix("\n")
    return text


class _Dumper(yaml.SafeDumper):
    """PyYAML's SafeDumper, quoting what the reader refuses unquoted (`y`,
    `0o17`): PyYAML writes those plain, as it reads them as text itself."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if yaml_ambiguity(data) is not None:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def _comment(text: str, width: int = 88) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    return [*lines, line]
