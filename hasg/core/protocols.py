"""The IP protocol vocabulary every layer speaks: how hasg names a protocol,
reads any spelling of one, and which protocols have ports.

Below the Blueprint and the port grammar alike (hasg.core.blueprint and
hasg.core.ports both build on it), so that neither imports the other.
"""

from __future__ import annotations

# AWS's IpProtocol as hasg normalizes it (`canonical_protocol`): "tcp", "udp",
# "icmp", "icmpv6", "-1" for all traffic, and the decimal number ("47", "50")
# for every other IP protocol, as EC2 itself answers.
Protocol = str
NAMED_PROTOCOLS: dict[str, int] = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
# IANA keywords (protocol-numbers registry, as in /etc/protocols) that other
# tools write where EC2 answers with the number: Terraform's `protocol`
# argument accepts several of them. Read, never written.
_IANA_KEYWORDS: dict[str, int] = {
    "hopopt": 0,
    "igmp": 2,
    "ggp": 3,
    "ipv4": 4,
    "ipencap": 4,
    "st": 5,
    "egp": 8,
    "igp": 9,
    "pup": 12,
    "hmp": 20,
    "xns-idp": 22,
    "rdp": 27,
    "iso-tp4": 29,
    "dccp": 33,
    "xtp": 36,
    "ddp": 37,
    "idpr-cmtp": 38,
    "ipv6": 41,
    "ipv6-route": 43,
    "ipv6-frag": 44,
    "idrp": 45,
    "rsvp": 46,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "skip": 57,
    "ipv6-icmp": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "rspf": 73,
    "vmtp": 81,
    "eigrp": 88,
    "ospf": 89,
    "ospfigp": 89,
    "ax.25": 93,
    "ipip": 94,
    "etherip": 97,
    "encap": 98,
    "pim": 103,
    "ipcomp": 108,
    "vrrp": 112,
    "l2tp": 115,
    "isis": 124,
    "sctp": 132,
    "fc": 133,
    "mobility-header": 135,
    "udplite": 136,
    "mpls-in-ip": 137,
    "manet": 138,
    "hip": 139,
    "shim6": 140,
    "wesp": 141,
    "rohc": 142,
}
_NAME_OF_NUMBER = {number: name for name, number in NAMED_PROTOCOLS.items()}
ALL_TRAFFIC = "-1"


def canonical_protocol(value: object) -> Protocol:
    """Any spelling of an IP protocol, in the one form hasg compares.

    Numbers and names are the same protocol (`6`, `"6"`, `"TCP"` are "tcp";
    `"all"`, `-1` are "-1"; `"esp"`, `50` are "50"), so that guards compare
    protocols, not spellings. Anything else is a ValueError that names it.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an IP protocol")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("-1", "all"):
            return ALL_TRAFFIC
        if text in NAMED_PROTOCOLS:
            return text
        if text in _IANA_KEYWORDS:
            number = _IANA_KEYWORDS[text]
        elif text.isascii() and text.isdecimal() and len(text) <= 3:
            number = int(text)
        else:
            raise ValueError(f"{value!r} is not an IP protocol (a name such as tcp, or 0-255)")
    else:
        raise ValueError(f"{value!r} is not an IP protocol")
    if number == -1:
        return ALL_TRAFFIC
    if not 0 <= number <= 255:
        raise ValueError(f"{value!r} is not an IP protocol number (0-255, or -1 for all)")
    return _NAME_OF_NUMBER.get(number, str(number))


def protocol_number(protocol: Protocol) -> int:
    """The IP protocol number of a canonical protocol; -1 for all traffic."""
    if protocol == ALL_TRAFFIC:
        return -1
    return NAMED_PROTOCOLS.get(protocol) or int(protocol)


def has_ports(protocol: Protocol) -> bool:
    """Whether AWS reads from_port/to_port for this protocol (ports or ICMP type/code).

    For any other protocol EC2 ignores them and answers -1 (EC2 API reference,
    IpPermission.FromPort)."""
    return protocol in NAMED_PROTOCOLS


ALL_PORTS = -1
# How a protocol without ports is written for people: `proto/50` (ESP), `proto/47` (GRE).
OTHER_PROTOCOL_PREFIX = "proto"
# ICMP for each IP version: its "ports" are the ICMP type and code.
ICMP_PROTOCOLS = ("icmp", "icmpv6")
