"""A Terraform configuration -> Blueprint: the reader `hasg audit --hcl` judges.

The pair of `hcl.py` (as sqlglot's parsers are of its generators):
`read_hcl(to_hcl(b)) == b`, descriptions included.

Terraform itself is the judge of what a configuration means, so the reader
lets an evaluator of Terraform do the evaluating: tfparse wraps the Go HCL
evaluator of defsec/trivy (locals, variables, tfvars, functions, for_each and
count, .tf.json, local modules, inline blocks), offline. What it evaluates is
mapped into Blueprint rules, whatever resource wrote them. What it cannot
know (data sources, variables without a value) it renders as null or as a
reference; the reader refuses those by file and line, except the one
unknown hasg itself writes: the VPC's CIDR (`data.aws_vpc.*.cidr_block`).
The blocks as written (python-hcl2, JSON) tell what evaluation hides:
duplicate names, resources whose for_each/count came out empty or unknown,
and a `null` the author wrote versus one that stands for "unknown".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hasg.backends.terraform.hcl import (
    PEER_ATTRIBUTE,
    RULE_TYPES,
    list_local_expression,
    list_variable,
)
from hasg.core.blueprint import (
    DEFAULT_GROUP,
    DEFAULT_GROUP_NAME,
    DIRECTIONS,
    Blueprint,
    Direction,
    Peer,
    Rule,
    RuleKey,
    SecurityGroup,
)
from hasg.core.findings import Location, Places
from hasg.core.input_files import read_text_capped
from hasg.core.networks import FAMILIES, family_of, parse_network
from hasg.core.peers import expand_cidr_list
from hasg.core.protocols import ALL_PORTS, ALL_TRAFFIC, Protocol, canonical_protocol, has_ports
from hasg.core.tags import CLUSTER_TAG, ROLE_TAG
from hasg.errors import HclReadError

_DIRECTIONS: dict[str, Direction] = {t: d for d, t in RULE_TYPES.items()}

GROUP_TYPES = ("aws_security_group", "aws_default_security_group")
LEGACY_RULE_TYPE = "aws_security_group_rule"
# Every resource through which the AWS provider writes security group rules.
SECURITY_GROUP_TYPES = frozenset({*GROUP_TYPES, LEGACY_RULE_TYPE, *RULE_TYPES.values()})
# What the AWS provider sets when a group has no description (aws_security_group docs).
PROVIDER_DEFAULT_DESCRIPTION = "Managed by Terraform"
_PEER_FIELDS = tuple(sorted(set(PEER_ATTRIBUTE.values())))
_CLASSIC_PEER_FIELDS = (
    "cidr_blocks",
    "ipv6_cidr_blocks",
    "prefix_list_ids",
    "security_groups",
    "source_security_group_id",
    "self",
)
_VPC_CIDR_REFERENCE = re.compile(r"data\.aws_vpc\.[A-Za-z0-9_-]+\.cidr_block")
_LIST_LOCAL = re.compile(r"local\.([a-z0-9_]+)_(ipv4|ipv6)")
_TEMPLATE = re.compile(r"(?<!\$)\$\{|(?<!%)%\{")
_EVALUATOR_ERROR = re.compile(r"(?P<file>[^\s:;,][^:;,]*?):(?P<line>\d+),\d+(?:-\d+(?:,\d+)?)?: ")
_DECLARED_KINDS = ("resource", "data", "variable", "module", "output")
_EVALUATOR_PREFIX = "unable to create TerraformConverter: "
# A module's file is kilobytes; a cap far above any real one, as for every
# file hasg reads (hasg.core.input_files).
MAX_CONFIG_BYTES = 16 << 20


@dataclass(frozen=True)
class Expression:
    """An expression as written, not a literal: `local.user_cidrs_ipv4`."""

    text: str


@dataclass(frozen=True)
class Declared:
    """One block as written: where it is, and its attributes (literals as
    Python values, anything else an Expression)."""

    kind: str
    labels: tuple[str, ...]
    file: str  # relative to the root module's directory
    line: int
    body: Mapping[str, Any]

    @property
    def address(self) -> str:
        return ".".join(self.labels if self.kind == "resource" else (self.kind, *self.labels))


@dataclass(frozen=True)
class Where:
    """Where a finding of the reader is: the file as the caller named it, the
    line, and the column of the block's first word (0 where not known)."""

    file: str
    line: int
    address: str
    column: int = 0

    def error(self, problem: str) -> HclReadError:
        return HclReadError(f"{self.file}: {self.address}: {problem} (line {self.line})")

    def location(self, module: Location) -> Location:
        """Where it is: in its file, and in `module` by its address."""
        return Location(
            self.file, self.line, self.column, module.inside("resource", self.address).logical
        )


def read_hcl(
    texts: str | Mapping[str, str],
    *,
    variables: Mapping[str, Any] | None = None,
) -> Blueprint:
    """Read Terraform text (one file's text, or {file name: text}) back into a
    Blueprint. `variables` overrides variable defaults, like a tfvars file.
    A name ending in .tf.json is read as Terraform's JSON syntax."""
    import tempfile  # the reader's alone: `hasg emit-hcl` starts without it

    files = {"<hcl>": texts} if isinstance(texts, str) else dict(texts)
    with tempfile.TemporaryDirectory(prefix="hasg-hcl-") as staging:
        root = Path(staging)
        shown: dict[str, str] = {}
        for index, (name, text) in enumerate(files.items()):
            suffix = ".tf.json" if name.endswith(".tf.json") else ".tf"
            staged = f"file{index}{suffix}"
            (root / staged).write_text(text, encoding="utf-8")
            shown[staged] = name
        return _read_module(root, lambda f: shown.get(f, f), variables=variables)[0]


def read_hcl_dir(
    path: Path,
    *,
    variables: Mapping[str, Any] | None = None,
    var_file: Path | None = None,
) -> Blueprint:
    """Read a module directory (its .tf and .tf.json files, and the local
    modules it calls), or one file. `var_file` is a .tfvars or .tfvars.json
    file, as `terraform plan -var-file`; `variables` override both."""
    return read_hcl_places(path, variables=variables, var_file=var_file)[0]


def read_hcl_places(
    path: Path,
    *,
    variables: Mapping[str, Any] | None = None,
    var_file: Path | None = None,
) -> tuple[Blueprint, Places]:
    """`read_hcl_dir`, and where each group and rule is: the file, line and
    column of the resource (or inline block) that declares it, and its
    address (`hasg.core.findings.Places`, groups keyed by role)."""
    if path.is_dir():
        if not any(_is_config(f) for f in path.iterdir()):
            raise HclReadError(f"{path}: no .tf or .tf.json files")
        return _read_module(
            path,
            lambda f: str(path / f),
            variables=variables,
            var_file=var_file,
            module=str(path),
        )
    if not path.is_file():
        raise HclReadError(f"{path}: no such file or directory")
    try:
        text = path.read_bytes()
    except OSError as error:
        raise HclReadError(f"{path}: cannot read: {error.strerror}") from None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hasg-hcl-") as staging:
        suffix = ".tf.json" if path.name.endswith(".tf.json") else ".tf"
        (Path(staging) / f"main{suffix}").write_bytes(text)
        return _read_module(
            Path(staging),
            lambda _: str(path),
            variables=variables,
            var_file=var_file,
            module=str(path),
        )


def read_tfvars(path: Path) -> dict[str, Any]:
    """Variable values from a .tfvars (HCL) or .tfvars.json file, for `variables`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HclReadError(f"{path}: cannot read: {error}") from None
    if path.name.endswith(".json"):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise HclReadError(f"{path}: not valid JSON: {error}") from None
        if not isinstance(values, dict):
            raise HclReadError(f"{path}: a .tfvars.json file holds one object")
        return values
    return {name: _literal(value) for name, value in _without_marker(_parse(text, str(path)))}


def _is_config(path: Path) -> bool:
    return path.is_file() and path.name.endswith((".tf", ".tf.json"))


def _read_module(
    root: Path,
    show: Callable[[str], str],
    *,
    variables: Mapping[str, Any] | None,
    var_file: Path | None = None,
    module: str = "",
) -> tuple[Blueprint, Places]:
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hasg-vars-") as scratch:
        var_paths: list[str] = []
        values: dict[str, Any] = {}
        if var_file is not None:
            values.update(read_tfvars(var_file))
            suffix = ".tfvars.json" if var_file.name.endswith(".json") else ".tfvars"
            staged = Path(scratch) / f"var-file{suffix}"
            shutil.copyfile(var_file, staged)
            var_paths.append(os.path.relpath(staged, root))
        if variables:
            values.update(variables)
            staged = Path(scratch) / "variables.tfvars.json"
            staged.write_text(json.dumps(dict(variables)), encoding="utf-8")
            var_paths.append(os.path.relpath(staged, root))
        evaluated = _evaluate(root, var_paths, show)
    declared = _declarations(root, evaluated, show)
    reader = _Reader(evaluated, declared, show, values, root)
    return reader.blueprint(), reader.places(module)


def _evaluate(root: Path, var_paths: list[str], show: Callable[[str], str]) -> dict[str, Any]:
    import tfparse

    try:
        # Offline: a module from a registry is not fetched; the reader refuses it.
        result = tfparse.load_from_path(
            str(root), stop_on_hcl_error=True, allow_downloads=False, vars_paths=var_paths
        )
    except tfparse.ParseError as error:
        raise HclReadError(_evaluator_message(str(error), show, root)) from None
    return dict(result)


def _evaluator_message(text: str, show: Callable[[str], str], root: Path) -> str:
    """tfparse's `file:line,col: summary; detail` as `file: not valid HCL: ... (line n)`."""
    text = " ".join(text.removeprefix(_EVALUATOR_PREFIX).split())
    match = _EVALUATOR_ERROR.match(text)
    if match is None:
        return f"{show('.') if root.is_dir() else root}: cannot evaluate: {text}"
    problem = text[match.end() :].split("; ")[0]
    return f"{show(match['file'])}: not valid HCL: {problem} (line {match['line']})"


# ------------------------------------------------------------------ as written


def _declarations(
    root: Path, evaluated: Mapping[str, Any], show: Callable[[str], str]
) -> list[Declared]:
    """The blocks of the root module and of every module it calls, as written.

    A module Terraform would fetch (a registry, git, a URL) is refused: the
    evaluator does not fetch it either, and rules inside it must not vanish."""
    found: list[Declared] = []
    directories = [root]
    for module in evaluated.get("module", []):
        meta = module["__tfmeta"]
        where = Where(show(meta["filename"]), int(meta["line_start"]), meta["path"])
        source = module.get("source")
        if not isinstance(source, str) or not source.startswith(("./", "../")):
            raise where.error(
                f"source: {json.dumps(source)} is not a local directory; hasg "
                "reads no module it would have to fetch"
            )
        directory = (root / meta["filename"]).parent / source
        if not directory.is_dir() or not any(_is_config(f) for f in directory.iterdir()):
            raise where.error(f"source: {source} holds no .tf or .tf.json files")
        if directory.resolve() not in {d.resolve() for d in directories}:
            directories.append(directory)
    for directory in directories:
        seen: dict[tuple[str, ...], Declared] = {}
        for path in sorted(directory.iterdir()):
            if not _is_config(path):
                continue
            file = os.path.relpath(path, root)
            for block in _file_blocks(path, file, show):
                identity = (block.kind, *block.labels)
                if identity in seen:
                    # Terraform's loader refuses this too ("Duplicate resource configuration").
                    first = seen[identity]
                    raise Where(show(file), block.line, block.address).error(
                        f"declared twice; first at {show(first.file)} line {first.line}"
                    )
                seen[identity] = block
                found.append(block)
    return found


def _file_blocks(path: Path, file: str, show: Callable[[str], str]) -> list[Declared]:
    # The evaluator reads a file with invalid UTF-8 in a comment without a word.
    text = read_text_capped(path, MAX_CONFIG_BYTES, "Terraform file", HclReadError)
    lines = _block_lines(text)
    if path.name.endswith(".tf.json"):
        tree = json.loads(text)
        blocks: list[Declared] = []
        for kind in (*_DECLARED_KINDS, "locals"):
            for labels, body in _json_blocks(kind, tree.get(kind, {})):
                values = {k: _json_value(v) for k, v in body.items()}
                line = lines.get(("json", labels[-1]), 1) if labels else 1
                blocks.append(Declared(kind, labels, file, line, values))
        return _split_locals(blocks)
    tree = _parse(text, show(file))
    blocks = []
    for kind in (*_DECLARED_KINDS, "locals"):
        depth = {"resource": 2, "data": 2, "locals": 0}.get(kind, 1)
        for item in tree.get(kind, []):
            for labels, body in _hcl_blocks(item, depth):
                values = {k: _hcl_value(v) for k, v in _without_marker(body)}
                line = lines.get((kind, *labels), 1)
                blocks.append(Declared(kind, labels, file, line, values))
    return _split_locals(blocks)


def _split_locals(blocks: list[Declared]) -> list[Declared]:
    """One Declared per local value: Terraform refuses a local defined twice."""
    out = [b for b in blocks if b.kind != "locals"]
    for block in blocks:
        if block.kind == "locals":
            out += [
                Declared("local", (name,), block.file, block.line, {"value": value})
                for name, value in block.body.items()
            ]
    return out


def _block_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each block header, for messages: (kind, labels...) -> line.
    In JSON, the line where a label is first a key."""
    lines: dict[tuple[str, ...], int] = {}
    header = re.compile(r'\s*(resource|data|variable|module|output)((?:\s+"[^"]*")+)\s*\{')
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            lines.setdefault((match[1], *re.findall(r'"([^"]*)"', match[2])), number)
        for label in re.findall(r'"([^"]+)"\s*:', line):
            lines.setdefault(("json", label), number)
    return lines


def _hcl_blocks(item: Mapping[str, Any], depth: int) -> Iterable[tuple[tuple[str, ...], Any]]:
    if depth == 0:
        yield (), item
        return
    for label, inner in _without_marker(item):
        for labels, body in _hcl_blocks(inner, depth - 1):
            yield (_unquote(label), *labels), body


def _json_blocks(kind: str, tree: Any) -> Iterable[tuple[tuple[str, ...], Mapping[str, Any]]]:
    depth = {"resource": 2, "data": 2, "locals": 0}.get(kind, 1)
    bodies = tree if isinstance(tree, list) else [tree]
    for body in bodies:
        if depth == 0:
            yield (), body
            continue
        for label, inner in body.items():
            if depth == 2:
                for name, named in inner.items():
                    for one in named if isinstance(named, list) else [named]:
                        yield (label, name), one
            else:
                for one in inner if isinstance(inner, list) else [inner]:
                    yield (label,), one


def _hcl_value(raw: Any) -> Any:
    """python-hcl2's spelling: quoted strings are literals, `${...}` expressions."""
    if isinstance(raw, str):
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            return _unquote(raw)
        return Expression(raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw)
    if isinstance(raw, list):
        return [_hcl_value(item) for item in raw]
    if isinstance(raw, dict):
        return {_unquote(k): _hcl_value(v) for k, v in _without_marker(raw)}
    return raw


def _json_value(raw: Any) -> Any:
    """Terraform's JSON syntax: every string is a template."""
    if isinstance(raw, str):
        if _TEMPLATE.search(raw):
            text = raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw
            return Expression(text)
        return raw.replace("$${", "${").replace("%%{", "%{")
    if isinstance(raw, list):
        return [_json_value(item) for item in raw]
    if isinstance(raw, dict):
        return {k: _json_value(v) for k, v in raw.items()}
    return raw


def _parse(text: str, file_name: str) -> Mapping[str, Any]:
    """python-hcl2's tree of `text`, which callers read and never change."""
    try:
        return _parsed(text)
    except Exception as error:  # python-hcl2 raises lark's many error types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise HclReadError(f"{file_name}: not valid HCL: {first}") from None


# An audit reads the module once per valuation of its lists (three for hasg's
# own module), and parsing is most of its time: each text is parsed once per
# process. Keyed by the text itself, so an edited file is parsed again.
@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Mapping[str, Any]:
    import hcl2

    return dict(hcl2.loads(text))


def _without_marker(mapping: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """python-hcl2's own keys (`__is_block__`, `__comments__`) left out."""
    return ((k, v) for k, v in mapping.items() if not k.startswith("__"))


# HCL's escapes in a quoted string (hclsyntax spec, "Template Literals").
_HCL_ESCAPE = re.compile(r'\\(?:([\\"nrt])|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))')
_HCL_ESCAPED = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def _unquote(text: str) -> str:
    """A python-hcl2 string token, quotes and HCL escapes removed."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = _HCL_ESCAPE.sub(
            lambda m: _HCL_ESCAPED[m[1]] if m[1] else chr(int(m[2] or m[3], 16)), text[1:-1]
        )
        return text.replace("$${", "${").replace("%%{", "%{")
    return text


def _literal(raw: Any) -> Any:
    if isinstance(raw, str):
        return _unquote(raw)
    if isinstance(raw, list):
        return [_literal(item) for item in raw]
    if isinstance(raw, dict):
        return {_unquote(k): _literal(v) for k, v in _without_marker(raw)}
    return raw


# ------------------------------------------------------------------ evaluated


@dataclass
class _Group:
    role: str
    name: str
    description: str
    tags: dict[str, str]
    rules: list[Rule] = dataclasses.field(default_factory=list)
    list_rules: list[Rule] = dataclasses.field(default_factory=list)
    where: Where | None = None  # an aws_default_security_group: where it is
    declared: Where | None = None  # where the resource is, whatever group it is


class _Reader:
    """Evaluated resources -> Blueprint, every way Terraform writes a rule."""

    def __init__(
        self,
        evaluated: Mapping[str, Any],
        declared: Iterable[Declared],
        show: Callable[[str], str],
        values: Mapping[str, Any],
        root: Path,
    ) -> None:
        self.evaluated = evaluated
        self.show = show
        self.root = root
        self._lines: dict[str, list[str]] = {}
        # Where each rule was declared: (its group's instance id, Rule.key) -> Where.
        self.rule_places: dict[tuple[str, RuleKey], Where] = {}
        self.declared = list(declared)
        self.resources = {(d.file, d.labels): d for d in self.declared if d.kind == "resource"}
        self.locals = {
            name: value
            for block in evaluated.get("locals", [])
            for name, value in block.items()
            if name not in ("__tfmeta", "id")
        }
        self.variables = {
            v["__tfmeta"]["path"].removeprefix("variable."): v.get("default")
            for v in evaluated.get("variable", [])
        }
        self.variables.update(values)
        self.groups: dict[str, _Group] = {}
        self.cidr_lists: dict[str, tuple[str, ...]] = {}

    def blueprint(self) -> Blueprint:
        for rtype in GROUP_TYPES:
            for instance in self.evaluated.get(rtype, []):
                self._group(rtype, instance)
        for rtype in sorted(SECURITY_GROUP_TYPES - set(GROUP_TYPES)):
            for instance in self.evaluated.get(rtype, []):
                self._rule_resource(rtype, instance)
        self._unexpanded()
        defaults = [g for g in self.groups.values() if g.where is not None]
        if len(defaults) > 1:
            raise HclReadError(
                "several aws_default_security_group resources ("
                + ", ".join(f"{g.where.file}:{g.where.line}" for g in defaults if g.where)
                + "): hasg reads the groups of one VPC"
            )
        roles = [g.role for g in self.groups.values() if g.where is None]
        if len(roles) != len(set(roles)):
            twice = sorted({r for r in roles if roles.count(r) > 1})
            raise HclReadError(f"several groups are the role {', '.join(twice)}")
        clusters = {
            g.tags[CLUSTER_TAG]
            for g in self.groups.values()
            if CLUSTER_TAG in g.tags and g.where is None
        }
        if len(clusters) > 1:
            raise HclReadError(
                f"groups of several clusters in one configuration: {sorted(clusters)}"
            )
        return Blueprint(
            cluster=str(next(iter(clusters), "")),
            groups=tuple(
                SecurityGroup(
                    g.role, g.name, g.description, g.tags, tuple(g.rules), tuple(g.list_rules)
                )
                for g in self.groups.values()
                if g.where is None
            ),
            cidr_lists=self.cidr_lists,
            default_group=self._default_group_rules(defaults),
        )

    def places(self, module: str) -> Places:
        """Where the groups (by role) and their rules were declared."""
        roles = {owner: group.role for owner, group in self.groups.items()}
        source = Location(logical=(("module", module),))
        return Places(
            source,
            {g.role: g.declared.location(source) for g in self.groups.values() if g.declared},
            {
                (roles[owner], key): where.location(source)
                for (owner, key), where in self.rule_places.items()
            },
        )

    def _placed(self, owner: str, rules: Iterable[Rule], where: Where) -> list[Rule]:
        """`rules` of the group `owner`, each remembered as declared at `where`."""
        placed = list(rules)
        for rule in placed:
            self.rule_places.setdefault((owner, rule.key), where)
        return placed

    def _default_group_rules(self, defaults: list[_Group]) -> tuple[Rule, ...] | None:
        """The rules of the VPC's default group; None where no resource manages it."""
        if not defaults:
            return None
        (group,) = defaults
        if group.list_rules and group.where is not None:
            raise group.where.error("rules of a CIDR list variable on the VPC's default group")
        return tuple(group.rules)

    # -- where and what

    def _where(self, instance: Mapping[str, Any]) -> Where:
        meta = instance["__tfmeta"]
        return self._at(meta["filename"], int(meta["line_start"]), meta["path"])

    def _at(self, file: str, line: int, address: str) -> Where:
        """Where a block starts: in HCL, every block's header opens its own
        line, so the column of its first word (`resource`, `ingress`) is that
        of the line's first character that is not blank; in JSON, of the key
        that names it."""
        if file not in self._lines:
            text = (self.root / file).read_text(encoding="utf-8")  # read once already
            self._lines[file] = text.splitlines()
        lines = self._lines[file]
        column = 0
        if 0 < line <= len(lines) and lines[line - 1].strip():
            column = len(lines[line - 1]) - len(lines[line - 1].lstrip()) + 1
        return Where(self.show(file), line, address, column)

    def _declared_resource(self, instance: Mapping[str, Any]) -> Declared | None:
        meta = instance["__tfmeta"]
        return self.resources.get((meta["filename"], _labels(meta["path"])))

    def _known(self, value: Any, where: Where, field: str) -> Any:
        """A value the evaluator knows; an unknown one is an error, never "unset"."""
        if isinstance(value, dict) and "__attribute__" in value:
            raise where.error(f"{field}: cannot evaluate {value['__attribute__']}")
        if isinstance(value, list):
            if any(item is None for item in value):
                raise where.error(f"{field}: cannot evaluate every element")
            return [self._known(item, where, field) for item in value]
        return value

    def _string(self, value: Any, where: Where, field: str) -> str:
        value = self._known(value, where, field)
        if not isinstance(value, str):
            raise where.error(f"{field}: {json.dumps(value)} is not a string")
        return value

    def _unset(
        self, body: Mapping[str, Any], field: str, declared: Declared | None, where: Where
    ) -> bool:
        """Whether `field` is unset: absent, or null as written. A null the
        evaluator gives for anything else stands for a value it cannot know."""
        if field not in body:
            return True
        if body[field] is not None:
            return False
        written = declared.body.get(field, ...) if declared is not None else ...
        if written is None:
            return True
        shown = "its value" if written is ... else _shown(written)
        raise where.error(f"{field}: cannot evaluate {shown}")

    # -- groups

    def _group(self, rtype: str, instance: Mapping[str, Any]) -> None:
        where = self._where(instance)
        tags = {
            key: self._string(value, where, f"tags.{key}")
            for key, value in self._known(instance.get("tags") or {}, where, "tags").items()
        }
        if rtype == "aws_default_security_group":
            # The VPC's default group, whatever its tags say: its rules are the
            # Blueprint's `default_group`, and a rule naming it names DEFAULT_GROUP.
            group = _Group(DEFAULT_GROUP, DEFAULT_GROUP_NAME, "", tags, where=where, declared=where)
        else:
            role = tags.get(ROLE_TAG) or where.address.removeprefix(f"{rtype}.")
            name = self._string(instance.get("name", ""), where, "name")
            description = instance.get("description", PROVIDER_DEFAULT_DESCRIPTION)
            description = self._string(description, where, "description")
            group = _Group(role, name, description, tags, declared=where)
        self.groups[str(instance["id"])] = group
        for direction in DIRECTIONS:
            inline = instance.get(direction) or []
            for block in inline if isinstance(inline, list) else [inline]:
                block_where = (
                    self._at(
                        instance["__tfmeta"]["filename"],
                        int(block["__tfmeta"]["line_start"]),
                        where.address,
                    )
                    if "__tfmeta" in block
                    else where
                )
                owner = str(instance["id"])
                group.rules += self._placed(
                    owner,
                    self._classic_rules(block, direction, owner, block_where, None),
                    block_where,
                )

    def _owner(self, value: Any, where: Where, field: str) -> str:
        value = self._known(value, where, field)
        if not isinstance(value, str) or value not in self.groups:
            raise where.error(
                f"{field}: {json.dumps(value)} is not a security group of this configuration"
            )
        return value

    def _group_peer(self, value: Any, where: Where, field: str) -> Peer:
        """A group by id: one of this configuration's, or another (sg-...) as written."""
        group_id = self._string(value, where, field)
        group = self.groups.get(group_id)
        return Peer("group", group.role if group else group_id)

    # -- rules

    def _ports(self, body: Mapping[str, Any], protocol: Protocol, where: Where) -> tuple[int, int]:
        if not has_ports(protocol):
            # EC2 ignores ports for other protocols and answers -1 (IpPermission.FromPort).
            return ALL_PORTS, ALL_PORTS
        ports = []
        for field in ("from_port", "to_port"):
            value = self._known(body.get(field, ALL_PORTS), where, field)
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise where.error(f"{field}: {json.dumps(value)} is not a number")
            try:
                ports.append(int(value))
            except ValueError:
                raise where.error(f"{field}: {json.dumps(value)} is not a number") from None
        return ports[0], ports[1]

    def _protocol(self, value: Any, where: Where, field: str) -> Protocol:
        try:
            return canonical_protocol(self._known(value, where, field))
        except ValueError as error:
            raise where.error(f"{field}: {error}") from None

    def _cidr(self, value: Any, family: str, where: Where, field: str) -> Peer:
        text = self._string(value, where, field)
        try:
            network = parse_network(text)
        except ValueError as error:
            raise where.error(f"{field}: {error}") from None
        if family_of(network) != family:
            raise where.error(f"{field}: {text} is not an {family.replace('ip', 'IP')} network")
        return Peer("cidr_ipv6" if family == "ipv6" else "cidr_ipv4", str(network))

    def _rule_resource(self, rtype: str, instance: Mapping[str, Any]) -> None:
        where = self._where(instance)
        if "count" in instance:
            self._known(instance["count"], where, "count")
        declared = self._declared_resource(instance)
        owner = self._owner(instance.get("security_group_id"), where, "security_group_id")
        if rtype == LEGACY_RULE_TYPE:
            direction = self._string(instance.get("type"), where, "type")
            if direction not in DIRECTIONS:
                raise where.error(f"type: {json.dumps(direction)} is not ingress or egress")
            self.groups[owner].rules += self._placed(
                owner, self._classic_rules(instance, direction, owner, where, declared), where
            )
            return
        direction = _DIRECTIONS[rtype]
        protocol = self._protocol(instance.get("ip_protocol"), where, "ip_protocol")
        low, high = self._ports(instance, protocol, where)
        description = self._string(instance.get("description", ""), where, "description")
        fields = [f for f in _PEER_FIELDS if not self._unset(instance, f, declared, where)]
        if not fields:
            raise where.error("the rule names no peer")
        if len(fields) > 1:
            raise where.error(f"the rule names several peers ({', '.join(fields)}); AWS takes one")
        value = instance[fields[0]]
        if fields[0] == "referenced_security_group_id":
            peer = self._group_peer(value, where, fields[0])
        elif fields[0] == "prefix_list_id":
            peer = Peer("prefix_list", self._string(value, where, fields[0]))
        elif (
            fields[0] == "cidr_ipv4"
            and isinstance(value, dict)
            and _VPC_CIDR_REFERENCE.fullmatch(str(value.get("__attribute__")))
        ):
            peer = Peer("vpc")
        else:
            peer = self._cidr(value, fields[0].removeprefix("cidr_"), where, fields[0])
        self.groups[owner].rules += self._placed(
            owner, [Rule(direction, protocol, low, high, peer, description=description)], where
        )
        if declared is not None:
            self._list_template(declared, owner, direction)

    def _classic_rules(
        self,
        body: Mapping[str, Any],
        direction: Direction,
        owner: str,
        where: Where,
        declared: Declared | None,
    ) -> list[Rule]:
        """An inline `ingress`/`egress` block or an `aws_security_group_rule`:
        one rule per peer it lists, as EC2 stores them."""
        protocol = self._protocol(body.get("protocol"), where, "protocol")
        low, high = self._ports(body, protocol, where)
        if protocol == ALL_TRAFFIC:
            low = high = ALL_PORTS
        description = self._string(body.get("description") or "", where, "description")
        peers: list[Peer] = []
        for field in _CLASSIC_PEER_FIELDS:
            if self._unset(body, field, declared, where):
                continue
            value = self._known(body[field], where, field)
            items = value if isinstance(value, list) else [value]
            if field == "cidr_blocks":
                peers += [self._cidr(v, "ipv4", where, field) for v in items]
            elif field == "ipv6_cidr_blocks":
                peers += [self._cidr(v, "ipv6", where, field) for v in items]
            elif field == "prefix_list_ids":
                peers += [Peer("prefix_list", self._string(v, where, field)) for v in items]
            elif field == "self":
                if value is True:
                    peers.append(Peer("group", self.groups[owner].role))
            else:
                peers += [self._group_peer(v, where, field) for v in items]
        if not peers:
            raise where.error("the rule names no peer")
        return [Rule(direction, protocol, low, high, p, description=description) for p in peers]

    # -- what for_each and count hide

    def _list_form(self, declared: Declared) -> tuple[str, str] | None:
        """(list, family) when the block is hasg's rule per CIDR of a policy list."""
        for_each = declared.body.get("for_each")
        match = isinstance(for_each, Expression) and _LIST_LOCAL.fullmatch(for_each.text)
        if not match:
            return None
        name, family = match.groups()
        if not all(list_variable(name, f) in self.variables for f in FAMILIES):
            return None
        return name, family

    def _list_template(self, declared: Declared, owner: str, direction: Direction) -> Rule | None:
        """Record the policy list rule a hasg list block stands for."""
        form = self._list_form(declared)
        if form is None:
            return None
        name, _ = form
        body = declared.body
        where = Where(self.show(declared.file), declared.line, declared.address)
        literal = [body.get(f) for f in ("ip_protocol", "description")]
        if any(
            isinstance(v, Expression)
            for v in (*literal, body.get("from_port"), body.get("to_port"))
        ):
            return None
        protocol = self._protocol(body.get("ip_protocol"), where, "ip_protocol")
        low, high = self._ports(body, protocol, where)
        if protocol == "icmpv6":  # the template is family-neutral, as the policy wrote it
            protocol = "icmp"
        template = Rule(
            direction,
            protocol,
            low,
            high,
            Peer("cidr_list", name),
            description=str(body.get("description", "")),
        )
        group = self.groups[owner]
        if template not in group.list_rules:
            group.list_rules.append(template)
        cidrs: list[str] = []
        for family in FAMILIES:
            part = self.variables.get(list_variable(name, family))
            if not isinstance(part, list) or not all(isinstance(c, str) for c in part):
                raise where.error(f"{list_variable(name, family)}: not a list of CIDRs")
            cidrs += part
        self.cidr_lists[name] = tuple(cidrs)
        return template

    def _unexpanded(self) -> None:
        """Rule resources as written that the evaluation left without an instance."""
        expanded = {
            (i["__tfmeta"]["filename"], _labels(i["__tfmeta"]["path"]))
            for rtype in SECURITY_GROUP_TYPES
            for i in self.evaluated.get(rtype, [])
        }
        for declared in self.declared:
            if declared.kind != "resource" or declared.labels[0] not in SECURITY_GROUP_TYPES:
                continue
            if (declared.file, declared.labels) in expanded:
                continue
            where = Where(self.show(declared.file), declared.line, declared.address)
            count, for_each = declared.body.get("count"), declared.body.get("for_each")
            if count == 0 or for_each in ([], {}):
                continue
            if not self._empty_list_rule(declared, where):
                what = "count" if "count" in declared.body else "for_each"
                shown = _shown(declared.body.get(what))
                raise where.error(
                    f"{what}: cannot evaluate {shown}: which rules it makes is known only "
                    "at apply time"
                )

    def _empty_list_rule(self, declared: Declared, where: Where) -> bool:
        """A hasg list block with no instance: its list is empty (no rule), or
        empty in both families with the VPC fallback (a rule to the VPC's CIDR,
        which the evaluator cannot know)."""
        form = self._list_form(declared)
        if form is None or declared.labels[0] not in _DIRECTIONS:
            return False
        name, family = form
        owner = self._owner(
            self._reference_id(declared.body.get("security_group_id")), where, "security_group_id"
        )
        template = self._list_template(declared, owner, _DIRECTIONS[declared.labels[0]])
        if template is None:
            return False
        local = self.locals.get(f"{name}_{family}", None)
        if local == {}:
            return True
        fallback = _hcl_value(_parse(f"x = {list_local_expression(name, family)}\n", "")["x"])
        written = next(
            (
                d.body["value"]
                for d in self.declared
                if d.kind == "local" and d.labels == (f"{name}_{family}",)
            ),
            None,
        )
        if local is not None or written != fallback or self.cidr_lists[name]:
            return False
        self.groups[owner].rules += self._placed(
            owner,
            [dataclasses.replace(template, peer=peer) for peer in expand_cidr_list(name, ())],
            self._at(declared.file, declared.line, declared.address),
        )
        return True

    def _reference_id(self, written: Any) -> str | None:
        """The evaluated id of `aws_security_group.NAME.id` as written."""
        if not isinstance(written, Expression):
            return None
        match = re.fullmatch(r"aws_security_group\.([A-Za-z0-9_-]+)\.id", written.text)
        if not match:
            return None
        for instance in self.evaluated.get("aws_security_group", []):
            if instance["__tfmeta"]["path"] == f"aws_security_group.{match[1]}":
                return str(instance["id"])
        return None


def _labels(path: str) -> tuple[str, ...]:
    """`module.m.aws_x.name["key"]` -> ("aws_x", "name")."""
    return tuple(re.sub(r"\[[^\]]*\]$", "", path).split(".")[-2:])


def _shown(value: Any) -> str:
    return value.text if isinstance(value, Expression) else json.dumps(value)
