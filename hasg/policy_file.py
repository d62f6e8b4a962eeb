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
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic_core import ErrorDetails

from hasg.errors import PolicyFileError, Problem
from hasg.model import (
    CidrListPeer,
    CidrPeer,
    Flow,
    Policy,
    Port,
    PrefixListPeer,
    RolePeer,
    VpcPeer,
    peer_from_text,
)
from hasg.policy_schema import FIELD_HELP, PEER_SHORTHAND, PORT_SHORTHAND, SSH_PORT_WORD

FileFormat = Literal["yaml", "json"]
FILE_FORMATS: tuple[FileFormat, ...] = ("yaml", "json")
# --------------------------------------------------------------------------- reading


def load_policy_file(path: Path) -> Policy:
    """Read a policy file: JSON if it is named *.json, YAML otherwise."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PolicyFileError(
            [Problem(0, 0, str(path), "", f"is not UTF-8 text (byte {error.start})")]
        ) from None
    return load_policy_text(text, name=str(path), file_format=file_format_of(path))


def file_format_of(path: Path) -> FileFormat:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def load_policy_text(
    text: str, *, name: str = "<policy>", file_format: FileFormat = "yaml"
) -> Policy:
    """Parse and validate a policy; `name` is what error messages call the file."""
    document = _parse_json(text, name) if file_format == "json" else _parse_yaml(text, name)
    data = _expand_ssh_word(document.data)
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise document.error(error) from None


def validation_error(error: ValidationError, name: str) -> PolicyFileError:
    """A pydantic error about a Policy built in code, as one line per problem
    that starts with `name` (say, the command whose options built it)."""
    return _Document(name, None, None).error(error)


@dataclass(frozen=True)
class _Document:
    name: str
    data: Any
    root: yaml.Node | None  # None for JSON that PyYAML cannot compose, or no file at all

    def error(self, error: ValidationError) -> PolicyFileError:
        details = _relevant(error.errors(include_url=False))
        return PolicyFileError([self.problem(e) for e in details])

    def problem(self, error: ErrorDetails) -> Problem:
        loc, message = _relocate(error["loc"], _message(error))
        place = _locate(self.root, loc, at_key=error["type"] == "extra_forbidden")
        if error["type"] == "extra_forbidden" and place.model is not None:
            message += _suggestion(str(loc[-1]), place.model)
        return Problem(*_position(place.mark), self.name, place.path, message)


def _parse_yaml(text: str, name: str) -> _Document:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise PolicyFileError([Problem(1, 1, name, "", "the file is empty")])
        _check_keys(root, name)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        raise PolicyFileError([_yaml_problem(error, name)]) from None
    except (yaml.YAMLError, ValueError) as error:
        # PyYAML raises plain ValueError for a few impossible values (2024-13-45).
        raise PolicyFileError([Problem(0, 0, name, "", f"broken YAML: {error}")]) from None
    finally:
        loader.dispose()
    return _Document(name, data, root)


def _parse_json(text: str, name: str) -> _Document:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyFileError(
            [Problem(error.lineno, error.colno, name, "", f"broken JSON: {error.msg}")]
        ) from None
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None  # valid JSON that YAML reads differently: errors lose their positions
    if root is not None:
        _check_keys(root, name)
    return _Document(name, data, root)


def _yaml_problem(error: yaml.MarkedYAMLError, name: str) -> Problem:
    message = error.problem or "broken YAML"
    if error.context and error.context_mark is not None and error.problem_mark is not None:
        message += f" ({error.context} at {':'.join(map(str, _position(error.context_mark)))})"
    position = _position(error.problem_mark or error.context_mark)
    return Problem(*position, name, "", f"broken YAML: {message}")


def _position(mark: yaml.Mark | None) -> tuple[int, int]:
    """PyYAML counts from 0; editors and compilers from 1. (0, 0): unknown."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _check_keys(root: yaml.Node, name: str) -> None:
    """Refuse a key given twice, which YAML loaders silently resolve to the last."""
    problems = []
    for node, path in _mappings(root, ""):
        seen: set[str] = set()
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                continue
            if key.value in seen:
                position = _position(key.start_mark)
                problems.append(Problem(*position, name, path, f"{key.value!r} is given twice"))
            seen.add(key.value)
    if problems:
        raise PolicyFileError(problems)


def _mappings(node: yaml.Node, path: str) -> Iterator[tuple[yaml.MappingNode, str]]:
    stack: list[tuple[yaml.Node, str]] = [(node, path)]
    visited: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in visited:  # aliases share nodes
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            yield node, path
            for key, value in node.value:
                stack.append((value, _join(path, key.value if isinstance(key.value, str) else "?")))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, _join(path, i)) for i, item in enumerate(node.value))


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


def _relevant(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop what only follows from another error: pydantic also calls a list
    too short when its items failed."""
    enclosing = {e["loc"][:i] for e in errors for i in range(len(e["loc"]))}
    return [e for e in errors if not (e["type"] == "too_short" and e["loc"] in enclosing)]


def _message(error: ErrorDetails) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error["input"]
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "invalid_peer":
        return f"{value!r} is not a peer; {PEER_SHORTHAND[0].lower()}{PEER_SHORTHAND[1:]}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_kind_of(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_kind_of(value)}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"needs at least {least} item{'s' if least != 1 else ''}"
    message = error["msg"]
    message = message[0].lower() + message[1:]
    if isinstance(value, (str, int, float, bool)) or value is None:
        message += f" (got {value!r})"
    else:
        message += f" (got {_kind_of(value)})"
    return message


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return repr(value)


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
                path = _join(path, part)
            node = None
            continue
        key_node, node = child
        path = _join(path, part)
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


def _join(path: str, part: int | str) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
        return f"{path}.{part}" if path else part
    return f"{path}[{part!r}]"


# --------------------------------------------------------------------------- writing


def policy_document(policy: Policy) -> dict[str, Any]:
    """The policy as plain data in the file's shorthands (what `dump_policy` writes)."""
    return {
        "cluster": policy.cluster,
        "user_cidrs": list(policy.user_cidrs),
        "admin_cidrs": list(policy.admin_cidrs),
        "ssh_port": policy.ssh_port,
        "tags": dict(policy.tags),
        "roles": [{"id": r.id, "description": r.description} for r in policy.roles],
        "flows": [_flow_document(policy, f) for f in policy.flows],
    }


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


def _peer_document(peer: RolePeer | CidrPeer | PrefixListPeer | CidrListPeer | VpcPeer) -> Any:
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
    for key in ("cluster", "user_cidrs", "admin_cidrs", "ssh_port", "tags"):
        out += _comment(help_text[key])
        out += _block(key, document[key])
        out.append("")
    out += _comment(help_text["roles"])
    out.append("roles:")
    for role in document["roles"]:
        out.append(f"  - id: {_scalar(role['id'])}")
        out.append(f"    description: {_scalar(role['description'])}")
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
    text = str(yaml.safe_dump(value, default_flow_style=True, **options))
    text = text.removesuffix("\n").removesuffix("\n...")
    if any(c in text for c in _YAML_BREAKS):  # escape line breaks: one line holds one value
        text = str(yaml.safe_dump(value, default_style='"', **options)).removesuffix("\n")
    return text


def _comment(text: str, width: int = 88) -> list[str]:
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    return [*lines, line]
