"""The policy as a picture: who may open connections to whom, edges labelled
with ports (`hasg graph`), in Mermaid or Graphviz DOT."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hasg.core.ports import NOTHING, PortSet, union
from hasg.policy.model import AnyPeer, CidrPeer, Policy, RolePeer, peer_label

GraphFormat = Literal["mermaid", "dot"]
GRAPH_FORMATS: tuple[GraphFormat, ...] = ("mermaid", "dot")


# The words of Mermaid's flowchart grammar (mermaid 11) that a lower-case node id
# may not be; tests/policy/test_graph.py checks each with Mermaid's own parser.
MERMAID_KEYWORDS = frozenset(
    (
        "end",
        "graph",
        "flowchart",
        "subgraph",
        "style",
        "class",
        "click",
        "call",
        "href",
        "interpolate",
    )
)


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    is_role: bool


@dataclass(frozen=True)
class Edge:
    source: Node
    destination: Node
    ports: PortSet


def flow_edges(policy: Policy) -> list[Edge]:
    """One edge per (source, destination) pair, its flows' ports merged, in the
    order the policy first names each pair."""
    ports: dict[tuple[Node, Node], PortSet] = {}
    for flow in policy.flows:
        pair = (_node(flow.source), _node(flow.destination))
        ports[pair] = ports.get(pair, NOTHING) | union(PortSet.of_port(p) for p in flow.ports)
    return [Edge(s, d, p) for (s, d), p in ports.items()]


def _node(peer: AnyPeer) -> Node:
    if isinstance(peer, RolePeer):
        # Mermaid reads these alone as keywords, not node ids (`end` closes the chart).
        # Role ids are lower case, so a capital keeps the id apart from other roles'.
        role_id = peer.role.capitalize() if peer.role in MERMAID_KEYWORDS else peer.role
        return Node(role_id, peer.role, True)
    label = peer_label(peer)
    if isinstance(peer, CidrPeer) and peer.is_world:
        label = f"internet {peer.cidr}"
    # Role ids are lower case, so a capital keeps these ids apart from theirs.
    return Node("Net_" + re.sub(r"\W", "_", label), label, False)


def nodes_of(edges: list[Edge], policy: Policy) -> list[Node]:
    """Every role (even one no flow names), then the other peers in order."""
    nodes = {_node(RolePeer(role=r.id)): None for r in policy.roles}
    for edge in edges:
        nodes.setdefault(edge.source)
        nodes.setdefault(edge.destination)
    return list(nodes)


def to_mermaid(policy: Policy) -> str:
    """A Mermaid flowchart: roles as boxes, networks as rounded nodes."""
    edges = flow_edges(policy)
    lines = ["flowchart LR"]
    for node in nodes_of(edges, policy):
        label = _mermaid_text(node.label)
        lines.append(f'  {node.id}["{label}"]' if node.is_role else f'  {node.id}(["{label}"])')
    for edge in edges:
        ports = _mermaid_text(str(edge.ports))
        lines.append(f'  {edge.source.id} -->|"{ports}"| {edge.destination.id}')
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_dot(policy: Policy) -> str:
    """A Graphviz digraph: `hasg graph --format dot | dot -Tsvg > flows.svg`."""
    edges = flow_edges(policy)
    lines = [
        f"digraph {dot_string(policy.cluster)} {{",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in nodes_of(edges, policy):
        shape = "" if node.is_role else ", shape=ellipse"
        lines.append(f"  {dot_string(node.id)} [label={dot_string(node.label)}{shape}];")
    for edge in edges:
        source, destination = dot_string(edge.source.id), dot_string(edge.destination.id)
        lines.append(f"  {source} -> {destination} [label={dot_string(str(edge.ports))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_string(text: str) -> str:
    """A DOT quoted string, for every id and label: a bare id that is a DOT keyword
    (`node`, `edge`, `graph`, `digraph`, `subgraph`, `strict`, in any case) is
    a syntax error, and a quoted one is never a keyword. Inside quotes DOT
    escapes only the quote; a backslash starts an escape (`\\n`, `\\N`, `\\G`...)
    in labels, so it is doubled to stay itself."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_graph(policy: Policy, graph_format: GraphFormat = "mermaid") -> str:
    return to_dot(policy) if graph_format == "dot" else to_mermaid(policy)
