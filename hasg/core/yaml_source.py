"""Strict YAML: the one reader of the YAML files people write (policy files,
inventories), with every problem placed at its file:line:column.

PyYAML's SafeLoader, made strict where YAML readers disagree or fail badly:
a key given twice (loaders silently keep the last), an unquoted scalar that
YAML 1.1 and 1.2 read differently (`no`, `022`, `1:20`, dates), and nesting
deep enough to exhaust Python's recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from hasg.errors import PolicyFileError, Problem

# A policy is a few kilobytes; this bounds what a hostile or broken file can
# cost (Python's recursion limit) far above any real one.
MAX_DEPTH = 32  # a policy nests 5 levels (flows[i].source.prefix_list_id)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed file: its data, and its node tree (for the positions of its values)."""

    data: Any
    root: yaml.Node


class StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing nesting deeper than any policy: its
    composer recurses once per level and would die on Python's recursion limit."""

    def __init__(self, stream: str, max_depth: int = 0) -> None:
        super().__init__(stream)
        self.depth = 0
        self.max_depth = max_depth or MAX_DEPTH

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                raise yaml.MarkedYAMLError(
                    problem=f"nested more than {self.max_depth} levels deep",
                    problem_mark=self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(text: str, name: str, *, max_depth: int = MAX_DEPTH) -> YamlDocument:
    loader: StrictLoader | None = None
    try:
        loader = StrictLoader(text, max_depth)  # reads the whole text for unprintable characters
        root = loader.get_single_node()
        if root is None:
            raise PolicyFileError([Problem(1, 1, name, "", "the file is empty")])
        _check_keys(root, name)
        _check_plain_scalars(loader, root, name)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        raise PolicyFileError([yaml_problem(error, name)]) from None
    except yaml.reader.ReaderError as error:
        # Raised for a control character anywhere, comments included.
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        message = f"broken YAML: character {chr(error.character)!r} is not allowed in YAML"
        raise PolicyFileError([Problem(line, column, name, "", message)]) from None
    except (yaml.YAMLError, ValueError) as error:
        # PyYAML raises plain ValueError for a few impossible values (2024-13-45).
        reason = " ".join(str(error).split())
        raise PolicyFileError([Problem(0, 0, name, "", f"broken YAML: {reason}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(data, root)


def yaml_problem(error: yaml.MarkedYAMLError, name: str) -> Problem:
    message = error.problem or "broken YAML"
    if error.context and error.context_mark is not None and error.problem_mark is not None:
        message += f" ({error.context} at {':'.join(map(str, mark_position(error.context_mark)))})"
    position = mark_position(error.problem_mark or error.context_mark)
    return Problem(*position, name, "", f"broken YAML: {' '.join(message.split())}")


def mark_position(mark: yaml.Mark | None) -> tuple[int, int]:
    """PyYAML counts from 0; editors and compilers from 1. (0, 0): unknown."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _check_keys(root: yaml.Node, name: str) -> None:
    """Refuse a key given twice, which YAML loaders silently resolve to the last."""
    problems = []
    for node, path in nodes(root, ""):
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: set[str] = set()
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                continue
            if key.value in seen:
                position = mark_position(key.start_mark)
                problems.append(Problem(*position, name, path, f"{key.value!r} is given twice"))
            seen.add(key.value)
    if problems:
        raise PolicyFileError(problems)


def _check_plain_scalars(loader: yaml.SafeLoader, root: yaml.Node, name: str) -> None:
    """Refuse an unquoted value that YAML readers read differently, where it stands."""
    problems = []
    for node, path in nodes(root, ""):
        if not isinstance(node, yaml.ScalarNode) or node.style is not None:
            continue
        implicit = loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
        if node.tag != implicit:
            continue  # explicitly tagged (!!str yes): the file says what it means
        why = yaml_ambiguity(node.value)
        if why is not None:
            problems.append(Problem(*mark_position(node.start_mark), name, path, why))
    if problems:
        raise PolicyFileError(problems)


_YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_OTHER_BASES = re.compile(r"[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-f_]+)")
_UNDERSCORED = re.compile(r"[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?")
_DECIMAL = re.compile(r"[-+]?[0-9]+")
MAX_DIGITS = 18  # no number in a policy comes close; int() of 4,301 digits raises


def yaml_ambiguity(plain: str) -> str | None:
    """Why an unquoted YAML scalar means different things to different readers
    (YAML 1.1, which PyYAML and many tools follow, and YAML 1.2), or None.

    `022` is 18 to YAML 1.1 and 22 to YAML 1.2, `1:20` is 80 to YAML 1.1,
    `no` is false to YAML 1.1 and text to YAML 1.2. hasg refuses the guess.
    """
    low = plain.lower()
    if low in _YAML11_BOOLEANS:
        return (
            f"YAML 1.1 reads {plain} as a boolean, YAML 1.2 as text: write true or false, "
            "or quote it"
        )
    if _LEADING_ZERO.fullmatch(plain):
        return (
            f"YAML 1.1 reads {plain} as an octal number, YAML 1.2 as a decimal one: write "
            f"it without leading zeros ({plain.lstrip('+-0_') or '0'}), or quote it"
        )
    if _SEXAGESIMAL.fullmatch(plain):
        return f"YAML 1.1 reads {plain} as a base-60 number, YAML 1.2 as text: quote it"
    if _OTHER_BASES.fullmatch(low) or _UNDERSCORED.fullmatch(plain):
        return (
            f"YAML readers disagree on {plain} (a number to some, text to others): write a "
            "plain decimal number, or quote it"
        )
    if _DATE.fullmatch(plain):
        return f"YAML 1.1 reads {plain} as a date: quote it"
    if _DECIMAL.fullmatch(plain) and len(plain.lstrip("+-")) > MAX_DIGITS:
        return f"a number of {len(plain.lstrip('+-')):,} digits is no value of a policy"
    return None


def nodes(root: yaml.Node, path: str) -> Iterator[tuple[yaml.Node, str]]:
    """Every node once (aliases share nodes), with its path, keys included."""
    stack: list[tuple[yaml.Node, str]] = [(root, path)]
    visited: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        yield node, path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, path))
                stack.append(
                    (value, field_path(path, key.value if isinstance(key.value, str) else "?"))
                )
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, field_path(path, i)) for i, item in enumerate(node.value))


def field_path(path: str, part: int | str) -> str:
    """`flows[3].ports` from `flows[3]` and `ports`: how a problem names its field."""
    if isinstance(part, int):
        return f"{path}[{part}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
        return f"{path}.{part}" if path else part
    return f"{path}[{part!r}]"
