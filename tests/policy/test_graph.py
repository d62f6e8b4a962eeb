"""`hasg graph`: every flow is an edge labelled with its ports, in Mermaid and DOT,
as Mermaid's own parser and Graphviz read them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hasg
from hasg import Policy
from hasg.checks.graph import (
    MERMAID_KEYWORDS,
    Edge,
    dot_string,
    flow_edges,
    nodes_of,
    to_dot,
    to_mermaid,
)

from .graph_parsers import MermaidParser, ParsedGraph, ToolRefused, read_dot, svg_of
from .strategies import policies

BUILT_IN = hasg.chef_automate_ha()
DOT_KEYWORDS = ("node", "edge", "graph", "digraph", "subgraph", "strict")


@pytest.fixture(scope="module")
def mermaid() -> Iterator[MermaidParser]:
    parser = MermaidParser()
    yield parser
    parser.close()


def policy_of(*role_ids: str, cluster: str = "c") -> Policy:
    """Every role opens 443 to the next, and the first to the VPC."""
    roles = [{"id": r, "description": r} for r in role_ids]
    flows = [
        {"source": a, "destination": b, "ports": [443], "description": "x"}
        for a, b in zip(role_ids, role_ids[1:] + role_ids[:1], strict=True)
    ]
    flows.append({"source": role_ids[0], "destination": "vpc", "ports": [1], "description": "x"})
    return Policy.model_validate({"cluster": cluster, "roles": roles, "flows": flows})


def expected_graph(policy: Policy) -> ParsedGraph:
    """The picture hasg means to draw: every node with its label, every edge with its ports."""
    edges: list[Edge] = flow_edges(policy)
    return ParsedGraph(
        {n.id: n.label for n in nodes_of(edges, policy)},
        sorted((e.source.id, e.destination.id, str(e.ports)) for e in edges),
    )


def assert_tools_read_the_policy(policy: Policy, mermaid: MermaidParser) -> None:
    expected = expected_graph(policy)
    assert read_dot(to_dot(policy)) == expected
    assert mermaid.read(to_mermaid(policy)) == expected
    assert {expected.nodes[n] for n in expected.nodes if not n.startswith("Net_")} >= {
        r.id for r in policy.roles
    }


def test_the_built_in_policy_reads_back_from_both_tools(mermaid: MermaidParser) -> None:
    assert_tools_read_the_policy(BUILT_IN, mermaid)
    assert len(flow_edges(BUILT_IN)) == len(BUILT_IN.flows)  # no two flows share a pair here


@pytest.mark.parametrize("keyword", sorted({*DOT_KEYWORDS, *MERMAID_KEYWORDS}))
def test_roles_named_like_keywords_are_nodes_in_both_tools(
    keyword: str, mermaid: MermaidParser
) -> None:
    policy = policy_of(keyword, "web", cluster=keyword)
    assert_tools_read_the_policy(policy, mermaid)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(policy=policies())
def test_every_policy_reads_back_from_both_tools(policy: Policy, mermaid: MermaidParser) -> None:
    assert_tools_read_the_policy(policy, mermaid)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    role_ids=st.lists(
        st.one_of(
            st.sampled_from(sorted({*DOT_KEYWORDS, *MERMAID_KEYWORDS})),
            st.from_regex(r"[a-z][a-z0-9_]{0,62}", fullmatch=True),
        ),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    cluster=st.from_regex(r'[a-zA-Z0-9][a-zA-Z0-9._"\\-]{0,20}', fullmatch=True),
)
def test_any_role_ids_and_cluster_name_read_back(
    role_ids: list[str], cluster: str, mermaid: MermaidParser
) -> None:
    try:
        policy = policy_of(*role_ids, cluster=cluster)
    except hasg.PolicyError:  # a cluster name the policy refuses is not the graph's business
        return
    assert_tools_read_the_policy(policy, mermaid)


def test_the_parsers_refuse_what_is_not_a_diagram(mermaid: MermaidParser) -> None:
    """The checks above can fail: each tool refuses the bare keywords hasg avoids."""
    with pytest.raises(ToolRefused, match="syntax error"):
        read_dot("digraph c {\n  node -> edge;\n}\n")
    with pytest.raises(ToolRefused, match="Parse error"):
        mermaid.read('flowchart LR\n  end["end"]\n')
    assert read_dot(to_dot(BUILT_IN)) != expected_graph(policy_of("web"))


def test_the_mermaid_picture_of_the_built_in_policy() -> None:
    picture = to_mermaid(BUILT_IN)

    assert picture.startswith("flowchart LR\n")
    assert '  bastion -->|"tcp/22 tcp/7432 tcp/7799 tcp/9631 tcp/9638"| postgresql\n' in picture
    assert (
        '  postgresql -->|"tcp/5432 tcp/6432 tcp/7432 tcp/9631 tcp/9638 udp/9638"| postgresql\n'
        in picture
    )
    assert '  Net_user_cidrs(["user_cidrs"])\n' in picture
    assert '  Net_user_cidrs -->|"tcp/80 tcp/443"| automate\n' in picture
    assert '  bastion -->|"tcp/80 tcp/443"| Net_internet_0_0_0_0_0\n' in picture


def test_flows_between_the_same_pair_share_one_edge() -> None:
    policy = Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": "web", "description": "w"}, {"id": "db", "description": "d"}],
            "flows": [
                {"source": "web", "destination": "db", "ports": [5432], "description": "sql"},
                {"source": "web", "destination": "db", "ports": ["udp/53"], "description": "x"},
            ],
        }
    )

    (edge,) = flow_edges(policy)
    assert str(edge.ports) == "tcp/5432 udp/53"


def test_a_role_called_end_does_not_end_the_mermaid_chart(mermaid: MermaidParser) -> None:
    policy = policy_of("end")

    assert '  End["end"]\n' in to_mermaid(policy)
    edges = mermaid.read(to_mermaid(policy)).edges
    assert edges == [("End", "End", "tcp/443"), ("End", "Net_vpc", "tcp/1")]


def test_dot_quotes_every_id() -> None:
    dot = to_dot(policy_of("node", "edge", cluster="strict"))

    assert dot.startswith('digraph "strict" {\n  rankdir=LR;\n')
    assert '  "node" -> "edge" [label="tcp/443"];\n' in dot
    assert '  "Net_vpc" [label="vpc", shape=ellipse];\n' in dot
    assert dot.endswith("}\n")


@pytest.mark.parametrize("label", ['say "hi"', "back\\slash", "\\N \\G \\n", "ends in \\"])
def test_a_dot_label_is_drawn_as_written(label: str) -> None:
    """Graphviz draws `\\N` as the node's name and `\\n` as a line break, unless escaped."""
    svg = svg_of(f"digraph g {{ a [label={dot_string(label)}]; }}")
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == [label]
