"""The egress rule that stands for "no egress at all" in hasg's CloudFormation stacks.

A group is created with AWS's allow-all egress, and CloudFormation removes it
only when the group resource lists an egress rule inline (User Guide,
AWS::EC2::SecurityGroup, SecurityGroupEgress). So hasg's template lists this
rule, the one AWS CDK writes for `allowAllOutbound: false`: ICMP type 252 code
86 (unassigned by IANA) to 255.255.255.255/32 (limited broadcast, which a VPC
never routes). It can match no packet on either count.

It lives in the core, not in the CloudFormation backend, because two backends
must agree on it and may not import each other (docs/architecture.md): the
template writer puts it in every group, and the AWS reader must see it as the
absence of a rule, or every stack-deployed group would read as drift.
"""

from __future__ import annotations

from hasg.core.blueprint import Peer, Rule
from hasg.core.networks import parse_network
from hasg.core.protocols import canonical_protocol

NO_TRAFFIC_EGRESS = Rule(
    "egress",
    "icmp",
    252,
    86,
    Peer("cidr_ipv4", "255.255.255.255/32"),
    description="Disallow all traffic",
)
# What the rule means: direction, protocol, ICMP type and code, peer kind, network.
_MEANING = (
    NO_TRAFFIC_EGRESS.direction,
    NO_TRAFFIC_EGRESS.protocol,
    NO_TRAFFIC_EGRESS.from_port,
    NO_TRAFFIC_EGRESS.to_port,
    NO_TRAFFIC_EGRESS.peer.kind,
    parse_network(NO_TRAFFIC_EGRESS.peer.value),
)


def is_no_traffic_egress(rule: Rule) -> bool:
    """Whether `rule` is NO_TRAFFIC_EGRESS by meaning: egress, ICMP (any spelling
    of protocol 1), type 252, code 86, to exactly the one address
    255.255.255.255. The description does not count (it opens nothing); anything
    looser (another type or code, a wider network, another protocol) is a rule."""
    try:
        protocol = canonical_protocol(rule.protocol)
        network = parse_network(rule.peer.value)
    except ValueError:
        return False
    meaning = (rule.direction, protocol, rule.from_port, rule.to_port, rule.peer.kind, network)
    return meaning == _MEANING
