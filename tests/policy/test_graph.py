"""`hasg graph`: every flow is an edge labelled with its ports, in Mermaid and DOT."""

from __future__ import annotations

import re

from hypothesis import given, settings

import hasg
from hasg import Policy
from hasg.graph import flow_edges, to_dot, to_mermaid

from .strategies import policies

BUILT_IN = hasg.chef_automate_ha()


def test_the_mermaid_picture_of_the_built_in_policy() -> None:
    picture = to_mermaid(BUILT_IN)

    assert picture.startswith("flowchart LR\n")
    assert '  bastion -->|"22 7432 7799 9631 9638"| postgresql\n' in picture
    assert '  postgresql -->|"5432 6432 7432 9631 9638 9638/udp"| postgresql\n' in picture
    assert '  Net_user_cidrs(["user_cidrs"])\n' in picture
    assert '  Net_user_cidrs -->|"80 443"| automate\n' in picture
    assert '  bastion -->|"80 443"| Net_internet_0_0_0_0_0\n' in picture
    assert picture.count("-->") == len(BUILT_IN.flows)  # no two flows share a pair here


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
    assert str(edge.ports) == "5432 53/udp"


def test_a_role_called_end_does_not_end_the_mermaid_chart() -> None:
    policy = Policy.model_validate(
        {
            "cluster": "c",
            "roles": [{"id": "end", "description": "e"}],
            "flows": [{"source": "end", "destination": "vpc", "ports": [1], "description": "x"}],
        }
    )

    assert '  End["end"]\n' in to_mermaid(policy)
    assert '  End -->|"1"| Net_vpc\n' in to_mermaid(policy)


@settings(max_examples=100, deadline=None)
@given(policies())
def test_every_node_has_one_id_and_every_edge_uses_declared_nodes(policy: Policy) -> None:
    for text, node, role_node, edge in (
        (
            to_mermaid(policy),
            r"^  (\w+)(?:\[|\(\[)",
            r'^  \w+\["(\w+)"\]$',
            r"^  (\w+) -->\|[^|]*\| (\w+)$",
        ),
        (
            to_dot(policy),
            r"^  (\w+) \[label=",
            r'^  \w+ \[label="(\w+)"\];$',
            r"^  (\w+) -> (\w+) \[label=",
        ),
    ):
        declared = re.findall(node, text, re.MULTILINE)
        assert len(declared) == len(set(declared))
        assert set(re.findall(role_node, text, re.MULTILINE)) == {r.id for r in policy.roles}
        edges = re.findall(edge, text, re.MULTILINE)
        assert {n for pair in edges for n in pair} <= set(declared)
        assert len(edges) == len(flow_edges(policy))


def test_dot_is_a_digraph_named_for_the_cluster() -> None:
    dot = to_dot(BUILT_IN)

    assert dot.startswith('digraph "chef-automate-ha" {\n  rankdir=LR;\n')
    assert '  Net_admin_cidrs [label="admin_cidrs", shape=ellipse];\n' in dot
    assert '  chef_server -> automate [label="443"];\n' in dot
    assert dot.endswith("}\n")
