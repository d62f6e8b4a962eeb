"""firewalld's own words for what hasg means, in one table each, for the
writer and the reader alike: icmptype names by address family and number,
ipset types and families, zone targets.

The icmptype names are firewalld's (/usr/lib/firewalld/icmptypes/*.xml).
A name that firewalld's icmptype file gives no `<destination>` stands for
both families (firewalld.icmptype(5)), so hasg writes every ICMP rule with
the family it means: `<rule family="ipv4"><icmp-type name="echo-request"/>`.
"""

from __future__ import annotations

from hasg.core.networks import Family

# firewalld's icmptypes that stand for one whole ICMP type (any code), by
# family and type number; the reader takes them back the same way.
ICMP_TYPE_NAMES: dict[Family, dict[int, str]] = {
    "ipv4": {
        0: "echo-reply",
        3: "destination-unreachable",
        4: "source-quench",
        5: "redirect",
        8: "echo-request",
        9: "router-advertisement",
        10: "router-solicitation",
        11: "time-exceeded",
        12: "parameter-problem",
        13: "timestamp-request",
        14: "timestamp-reply",
    },
    "ipv6": {
        1: "destination-unreachable",
        2: "packet-too-big",
        3: "time-exceeded",
        4: "parameter-problem",
        128: "echo-request",
        129: "echo-reply",
        133: "router-solicitation",
        134: "router-advertisement",
        135: "neighbour-solicitation",
        136: "neighbour-advertisement",
        137: "redirect",
    },
}
ICMP_PROTOCOL_OF: dict[Family, str] = {"ipv4": "icmp", "ipv6": "ipv6-icmp"}
# ipset families (firewalld.ipset(5): `option name="family"`), and the types
# hasg writes: hash:ip for single addresses, hash:net for networks.
IPSET_FAMILY: dict[Family, str] = {"ipv4": "inet", "ipv6": "inet6"}
FAMILY_OF_IPSET = {value: family for family, value in IPSET_FAMILY.items()}
IPSET_TYPES = ("hash:ip", "hash:net")
# Zone targets (firewalld.zone(5)); hasg writes DROP.
DROP_TARGET = "DROP"
REJECT_TARGETS = ("%%REJECT%%", "REJECT")
ACCEPT_TARGET = "ACCEPT"
DEFAULT_TARGET = "default"
# What firewalld uses when firewalld.conf names no default zone.
DEFAULT_ZONE = "public"


def icmp_name(family: Family, icmp_type: int) -> str | None:
    return ICMP_TYPE_NAMES[family].get(icmp_type)


def icmp_type_of(family: Family, name: str) -> int | None:
    return next((t for t, n in ICMP_TYPE_NAMES[family].items() if n == name), None)
