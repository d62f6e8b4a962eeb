"""The diagram tools' own parsers, for judging what `hasg graph` draws: Graphviz's
`dot` (Debian's graphviz package) and Mermaid's parser (npm's mermaid, under
Node with jsdom; `npm ci` installs it from the committed package-lock.json).

Each returns the graph the tool read (nodes with their labels, edges with
theirs), so a test compares what the tool understood with the policy, not
text with a regex. On a developer's machine without a tool the tests that
need it skip and say why; in CI (CI=true: .ci/run installs both) they fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from tests import guard

REPO = Path(__file__).resolve().parents[2]
MERMAID_SCRIPT = Path(__file__).with_name("mermaid_parse.mjs")


def require(tool: str, found: bool, install: str) -> None:
    """Skip without `tool` on a dev machine; fail in CI, where .ci/run installs it."""
    guard.require(None if found else f"{tool} is not installed ({install})")


@dataclass(frozen=True)
class ParsedGraph:
    """A diagram as its tool read it."""

    nodes: dict[str, str]  # id -> label
    edges: list[tuple[str, str, str]]  # (from id, to id, label), sorted: tools reorder


class ToolRefused(AssertionError):
    """The tool could not read the text."""


def run_dot(text: str, output_format: str) -> str:
    """What `dot -T<output_format>` makes of DOT text; ToolRefused on any complaint."""
    require("graphviz", shutil.which("dot") is not None, "apt-get install graphviz")
    run = subprocess.run(
        ["dot", f"-T{output_format}"], input=text, capture_output=True, text=True, timeout=60
    )
    if run.returncode != 0 or run.stderr:
        raise ToolRefused(f"dot exit {run.returncode}: {run.stderr.strip()}\n{text}")
    return run.stdout


def svg_of(text: str) -> ElementTree.Element:
    """The picture Graphviz draws, as SVG."""
    return ElementTree.fromstring(run_dot(text, "svg"))


def read_dot(text: str) -> ParsedGraph:
    """The graph Graphviz reads from DOT text (`dot -Tjson`, no warnings allowed)."""
    laid_out = json.loads(run_dot(text, "json"))
    objects = laid_out.get("objects", [])
    # Labels come back as written: undo DOT's two escapes to compare with the input.
    nodes = {o["name"]: _dot_unescape(o["label"]) for o in objects}
    edges = sorted(
        (objects[e["tail"]]["name"], objects[e["head"]]["name"], _dot_unescape(e["label"]))
        for e in laid_out.get("edges", [])
    )
    return ParsedGraph(nodes, edges)


def _dot_unescape(label: str) -> str:
    return label.replace('\\"', '"').replace("\\\\", "\\")


class MermaidParser:
    """One Node process running Mermaid's parser, fed one diagram at a time."""

    def __init__(self) -> None:
        node = shutil.which("node")
        require("node", node is not None, "apt-get install nodejs")
        require(
            "the mermaid npm package",
            (REPO / "node_modules" / "mermaid").is_dir(),
            "npm ci in the repository",
        )
        assert node is not None
        self.process = subprocess.Popen(
            [node, str(MERMAID_SCRIPT)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self, text: str) -> ParsedGraph:
        """The flowchart Mermaid reads from the text."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(text) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if not answer["ok"]:
            raise ToolRefused(f"mermaid: {answer['error']}\n{text}")
        if not answer["type"].startswith("flowchart"):
            raise ToolRefused(f"mermaid read a {answer['type']} diagram\n{text}")
        return ParsedGraph(
            {id_: label for id_, label, _ in answer["vertices"]},
            sorted((start, end, label) for start, end, label in answer["edges"]),
        )

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)
