"""A tiny HCL writer whose output is exactly what `terraform fmt` leaves.

Only what the emitter needs: blocks, attributes with literal or expression
values, maps and lists, and whole-line `#` comments. `terraform fmt` aligns
the `=` of consecutive single-line attributes; a multi-line attribute, a
nested block, a comment or a blank line ends such a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, Union

INDENT = "  "
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Expr:
    """A Terraform expression, written as is: `var.vpc_id`, `each.value`."""

    text: str


# A recursive alias: mypy needs the string form, which `X | Y` cannot spell.
Value: TypeAlias = Union[str, int, bool, Expr, Sequence["Value"], Mapping[str, "Value"]]  # noqa: UP007


@dataclass(frozen=True)
class Comment:
    """A whole-line `# text` comment. The emitter needs one for checkov's
    inline skips, which checkov reads only inside the resource they skip."""

    text: str


@dataclass
class Block:
    """`type "label" "label" { ... }`; `body` holds (name, value) pairs,
    nested blocks, comments, and None for a blank line."""

    type: str
    labels: tuple[str, ...] = ()
    body: list[tuple[str, Value] | Block | Comment | None] = field(default_factory=list)

    def attr(self, name: str, value: Value) -> Block:
        self.body.append((name, value))
        return self

    def comment(self, text: str) -> Block:
        if "\n" in text or "\r" in text:
            raise ValueError("a comment is one line")
        self.body.append(Comment(text))
        return self

    def blank(self) -> Block:
        self.body.append(None)
        return self

    def block(self, child: Block) -> Block:
        self.body.append(child)
        return self


# HCL's own escapes (hclsyntax spec, "Template Literals"); any other character
# that is not plain text is written as \uNNNN or \UNNNNNNNN.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control characters (Cc) cannot stand in a quoted string; format characters
# (Cf: bidi overrides, zero-width) and line/paragraph separators (Zl, Zp)
# could, but would make the file read differently from what it holds.
_UNPRINTED = frozenset({"Cc", "Cf", "Zl", "Zp"})
# `${` and `%{` open a template sequence; doubling the sigil makes them text.
_TEMPLATE_OPENERS = re.compile(r"([$%])\{")


# What may need an escape: `"`, `\` and anything outside printable ASCII
# (written as the complement of printable ASCII less those two: a class up to
# U+10FFFF costs sre milliseconds to compile at every start-up). Matching only
# those (most text has none) keeps emitting a policy cheap.
_SPECIAL = re.compile(r"[^ !#-\[\]-~]")


def _escaped(match: re.Match[str]) -> str:
    char = match[0]
    if char in _ESCAPES:
        return _ESCAPES[char]
    import unicodedata  # here: most text has no character outside printable ASCII

    if unicodedata.category(char) in _UNPRINTED:
        code = ord(char)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


def quote(text: str) -> str:
    """An HCL string literal that Terraform reads back as exactly `text`."""
    escaped = _SPECIAL.sub(_escaped, text)
    return '"' + _TEMPLATE_OPENERS.sub(r"\1\1{", escaped) + '"'


def _key(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else quote(name)


def _value_lines(value: Value, depth: int) -> list[str]:
    """The value's text: one line, or several where it is a non-empty map."""
    if isinstance(value, Expr):
        return [value.text]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        return [quote(value)]
    if isinstance(value, Mapping):
        if not value:
            return ["{}"]
        pad = INDENT * (depth + 1)
        keys = [_key(k) for k in value]
        width = max(len(k) for k in keys)
        lines = ["{"]
        for key, item in zip(keys, value.values(), strict=True):
            inner = _value_lines(item, depth + 1)
            lines.append(f"{pad}{key.ljust(width)} = {inner[0]}")
            lines.extend(inner[1:])
        lines.append(INDENT * depth + "}")
        return lines
    items = [_value_lines(v, depth) for v in value]
    if any(len(i) > 1 for i in items):
        raise ValueError("nested multi-line values in a list are not supported")
    return ["[" + ", ".join(i[0] for i in items) + "]"]


def render_block(block: Block, depth: int = 0) -> list[str]:
    pad = INDENT * depth
    header = " ".join([block.type, *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{pad}{header} {{", f"{pad}}}"]
    return [f"{pad}{header} {{", *_body_lines(block.body, depth + 1), f"{pad}}}"]


def _body_lines(
    body: Sequence[tuple[str, Value] | Block | Comment | None], depth: int
) -> list[str]:
    pad = INDENT * depth
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in run), default=0)
        lines.extend(f"{pad}{k.ljust(width)} = {v}" for k, v in run)
        run.clear()

    for item in body:
        if item is None:
            flush()
            lines.append("")
        elif isinstance(item, Block):
            flush()
            lines.extend(render_block(item, depth))
        elif isinstance(item, Comment):
            flush()
            lines.append(f"{pad}# {item.text}".rstrip())
        else:
            name, value = item
            text = _value_lines(value, depth)
            if len(text) == 1:
                run.append((name, text[0]))
            else:
                flush()
                lines.append(f"{pad}{name} = {text[0]}")
                lines.extend(text[1:])
    flush()
    return lines


def render_attributes(attributes: Iterable[tuple[str, Value]]) -> str:
    """Top-level attributes, as a .tfvars file holds them."""
    return "\n".join(_body_lines(list(attributes), 0)) + "\n"


def render(blocks: Iterable[Block]) -> str:
    """Top-level blocks separated by one blank line, ending with a newline."""
    return "\n\n".join("\n".join(render_block(b)) for b in blocks) + "\n"
