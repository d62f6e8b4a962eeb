"""firewalld: the RHEL-native form of a host's rules, a zone and its ipsets.

Per host, the files firewalld keeps under /etc/firewalld:

    198.18.0.10/zones/hasg.xml                   zone `hasg`, target DROP, rich rules
    198.18.0.10/ipsets/hasg-r-bastion-v4.xml     one ipset per role and family
    198.18.0.10/ipsets/hasg-vpc-v4.xml           the `vpc` networks (hash:net)

Each rich rule names one source (an ipset, or an address) and one port,
protocol or ICMP type, as the nftables rules do; descriptions are XML
comments above each rule (firewalld keeps no per-rule description). The
zone has no interface: the operator binds it (`firewall-cmd --permanent
--zone=hasg --change-interface=eth0`, or makes it the default zone).

firewalld itself accepts established/related traffic and loopback before a
zone's rules; the zone adds the ICMP a network needs (as the nftables
backend does) by rich rules without a source. Egress stays open, as firewalld
leaves it: enforcing it would need a firewalld policy object
(`ingress-zone HOST`), which this backend does not write yet, so it refuses
`enforce_egress` instead of writing less than asked.

Only ICMP types firewalld names (its icmptypes directory) can be written;
firewalld cannot match one ICMP code. Both are refused with the rule named.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping, Sequence
from xml.sax.saxutils import quoteattr

from hasg.backends.base import Options, host_backend
from hasg.core.blueprint import Blueprint, Rule
from hasg.core.networks import FAMILIES, Family, union
from hasg.core.protocols import canonical_protocol
from hasg.errors import FirewalldReadError, UsageError
from hasg.hosts.inventory import Host
from hasg.hosts.resolve import (
    AddressSet,
    HostRule,
    HostRuleset,
    as_address,
    as_cidr,
    cidr_peer,
    host_group,
)

ZONE = "hasg"
_FAMILY_SUFFIX: dict[Family, str] = {"ipv4": "v4", "ipv6": "v6"}
_IPSET_FAMILY: dict[Family, str] = {"ipv4": "inet", "ipv6": "inet6"}
# ipset names are at most 31 characters (IPSET_MAXNAMELEN 32, with the NUL).
_IPSET_NAME_LIMIT = 31

# firewalld's icmptypes (/usr/lib/firewalld/icmptypes) that stand for one
# whole ICMP type, any code, by protocol and type number.
ICMP_TYPE_NAMES: dict[str, dict[int, str]] = {
    "icmp": {
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
    "icmpv6": {
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
# The nftables backend's essentials, in firewalld's names.
ESSENTIAL_ICMP_TYPES = (
    "destination-unreachable",
    "echo-request",
    "neighbour-advertisement",
    "neighbour-solicitation",
    "packet-too-big",
    "parameter-problem",
    "router-advertisement",
    "router-solicitation",
    "time-exceeded",
)


def ipset_name(address_set: AddressSet) -> str:
    """`role_x_ipv4` -> `hasg-r-x-v4`; `vpc_ipv4` -> `hasg-vpc-v4`; long names hashed."""
    stem, _, _ = address_set.name.rpartition("_")
    stem = f"r-{stem.removeprefix('role_')}" if stem.startswith("role_") else stem
    name = f"hasg-{stem}-{_FAMILY_SUFFIX[address_set.family]}"
    if len(name) <= _IPSET_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _IPSET_NAME_LIMIT - 9]}-{digest}"


def emit(rulesets: Sequence[HostRuleset], *, enforce_egress: bool = False) -> dict[str, str]:
    """`{path: XML}`: a zone and its ipsets per host, under the host's name."""
    if enforce_egress:
        raise UsageError(
            "firewalld: enforcing egress needs a firewalld policy, which hasg does not "
            "write yet; use the nftables backend for --egress enforce"
        )
    files: dict[str, str] = {}
    for ruleset in rulesets:
        host = ruleset.host.name
        names = {s.name: ipset_name(s) for s in ruleset.sets}
        files[f"{host}/zones/{ZONE}.xml"] = zone_xml(ruleset, names)
        for address_set in ruleset.sets:
            files[f"{host}/ipsets/{names[address_set.name]}.xml"] = ipset_xml(address_set)
    return files


def _read_files(files: Mapping[str, str], options: Options) -> Blueprint:
    return read_blueprint(files)


BACKEND = host_backend(
    "firewalld",
    "a firewalld zone and its ipsets per host (HOST/zones, HOST/ipsets), from an inventory",
    emit,
    _read_files,
)


def ipset_xml(address_set: AddressSet) -> str:
    ipset_type, entries = ipset_entries(address_set)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<ipset type="{ipset_type}">',
        f"  <short>{address_set.name}</short>",
    ]
    if address_set.family == "ipv6":
        lines.append(f'  <option name="family" value="{_IPSET_FAMILY["ipv6"]}"/>')
    lines += [f"  <entry>{e}</entry>" for e in entries]
    return "\n".join([*lines, "</ipset>"]) + "\n"


def ipset_entries(address_set: AddressSet) -> tuple[str, tuple[str, ...]]:
    """The ipset type and entries that hold `address_set`, in a form firewalld
    keeps: its ipset reader drops, with a warning only (INVALID_ENTRY), an
    entry its `IPSet.check_entry` refuses, which would leave the set, and so
    the rule, holding less than the policy says.

    firewalld refuses `0.0.0.0` in a hash:ip set and any `/0` in a hash:net
    one (firewall/core/io/ipset.py), and overlapping entries when it sets them
    (firewall/core/ipset.py). So single hosts are a hash:ip set (the nft
    backend's plain set) but for the IPv4 unspecified address; anything else
    is a hash:net set of the union of the networks, the whole family written
    as its two halves: the same addresses."""
    family = address_set.family
    if address_set.hosts_only and ("0.0.0.0/32" not in address_set.elements):
        return "hash:ip", tuple(as_address(e) for e in address_set.elements)
    entries: list[str] = []
    for network in union(address_set.elements, family):
        halves = network.subnets() if network.prefixlen == 0 else (network,)
        entries += [str(n) for n in halves]
    return "hash:net", tuple(entries)


def zone_xml(ruleset: HostRuleset, ipsets: Mapping[str, str]) -> str:
    host = ruleset.host
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<zone target="DROP">',
        f"  <short>{ZONE}</short>",
        f"  <description>hasg host firewall of {host.name}: role {host.role}, cluster "
        f"{ruleset.cluster}. Generated from the policy: change the policy, not this "
        "file.</description>",
        *(f'  <rule><icmp-type name="{name}"/><accept/></rule>' for name in ESSENTIAL_ICMP_TYPES),
    ]
    for rule in ruleset.rules_for("ingress"):
        if rule.description:
            lines.append(f"  <!-- {_comment(rule.description)} -->")
        source = (
            f"<source ipset={quoteattr(ipsets[rule.peer])}/>"
            if rule.names_set
            else f"<source address={quoteattr(rule.peer)}/>"
        )
        lines.append(f'  <rule family="{rule.family}">{source}{_element(rule)}<accept/></rule>')
    return "\n".join([*lines, "</zone>"]) + "\n"


def _comment(description: str) -> str:
    """XML comments may not hold `--`; control characters become spaces."""
    text = "".join(c if c.isprintable() else " " for c in description)
    while "--" in text:
        text = text.replace("--", "- ")
    return text.rstrip("-")


def _element(rule: HostRule) -> str:
    protocol = rule.protocol
    if protocol in ("tcp", "udp"):
        if (rule.from_port, rule.to_port) == (0, 65535):
            return f'<protocol value="{protocol}"/>'
        ports = str(rule.from_port)
        if rule.to_port != rule.from_port:
            ports += f"-{rule.to_port}"
        return f'<port port="{ports}" protocol="{protocol}"/>'
    if protocol in ("icmp", "icmpv6"):
        if rule.from_port == -1:
            return f'<protocol value="{"icmp" if protocol == "icmp" else "ipv6-icmp"}"/>'
        name = ICMP_TYPE_NAMES[protocol].get(rule.from_port)
        # An icmp-type means ICMPv6 in an ipv6 rule, so the family must be the protocol's.
        family_fits = (protocol == "icmpv6") == (rule.family == "ipv6")
        if name is None or rule.to_port != -1 or not family_fits:
            raise UsageError(
                f"firewalld: {rule.direction} {protocol} type {rule.from_port} code "
                f"{rule.to_port} from {rule.peer}: firewalld names no such ICMP type "
                "(or cannot match one code, or this family); use the nftables backend"
            )
        return f'<icmp-type name="{name}"/>'
    return "" if protocol == "-1" else f'<protocol value="{protocol}"/>'


# --------------------------------------------------------------------------- reading


def read(files: Mapping[str, str]) -> dict[str, tuple[Rule, ...]]:
    """Each host's ingress rules, every peer expanded to CIDRs, from `emit`'s files."""
    hosts = sorted({path.split("/", 1)[0] for path in files})
    found = {}
    for host in hosts:
        ipsets = {
            path.rsplit("/", 1)[1].removesuffix(".xml"): text
            for path, text in files.items()
            if path.startswith(f"{host}/ipsets/")
        }
        zone = files.get(f"{host}/zones/{ZONE}.xml")
        if zone is None:
            raise FirewalldReadError(f"{host}: there is no zones/{ZONE}.xml")
        found[host] = read_zone(zone, {n: read_ipset(t, n) for n, t in ipsets.items()})
    return found


# What `zone_xml` writes as the zone's description: the reader takes the
# host's role and the cluster from it, as firewalld keeps no other field for them.
_ZONE_DESCRIPTION = re.compile(
    r"hasg host firewall of (?P<host>\S+): role (?P<role>\S+), cluster (?P<cluster>\S+)\. "
    "Generated from the policy"
)


def read_blueprint(files: Mapping[str, str]) -> Blueprint:
    """`emit`'s files as hosts.as_blueprint's form: one group per host, its
    ingress rules with every peer expanded to CIDRs."""
    clusters: set[str] = set()
    groups = []
    for host, rules in read(files).items():
        zone = _parse(files[f"{host}/zones/{ZONE}.xml"], f"{host}/zones/{ZONE}.xml")
        described = _ZONE_DESCRIPTION.match(zone.findtext("description") or "")
        if described is None or described["host"] != host:
            raise FirewalldReadError(
                f"{host}/zones/{ZONE}.xml: the description is not the one hasg writes, "
                "so the host's role and cluster are unknown"
            )
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise FirewalldReadError(
                f"{host}: a host's directory is named by its address"
            ) from None
        clusters.add(described["cluster"])
        groups.append(host_group(Host(described["role"], (address,)), rules))
    if len(clusters) > 1:
        raise FirewalldReadError(f"the zones name several clusters: {', '.join(sorted(clusters))}")
    return Blueprint(min(clusters, default=""), tuple(groups))


def read_ipset(text: str, name: str = "ipset") -> tuple[str, ...]:
    """The set's elements; a hash:net set's as the union of its networks,
    as `ipset_entries` writes the networks a set stands for."""
    root = _parse(text, name)
    try:
        cidrs = tuple(as_cidr(e.text or "") for e in root.iter("entry"))
    except ValueError as error:
        raise FirewalldReadError(f"{name}: {error}") from None
    if root.get("type") != "hash:net":
        return cidrs
    return tuple(str(n) for family in FAMILIES for n in union(cidrs, family))


def read_zone(text: str, ipsets: Mapping[str, Iterable[str]]) -> tuple[Rule, ...]:
    """The zone's rich rules as Rules; refuses what hasg does not write."""
    try:
        return _read_zone(text, ipsets)
    except ValueError as error:
        raise FirewalldReadError(f"zone: {error}") from None


def _read_zone(text: str, ipsets: Mapping[str, Iterable[str]]) -> tuple[Rule, ...]:
    root = _parse(text, "zone")
    if root.get("target") != "DROP":
        raise FirewalldReadError(f"zone target is {root.get('target')!r}, not DROP")
    rules: list[Rule] = []
    for number, element in enumerate(root.iter("rule"), 1):
        parts = list(element)
        source = element.find("source")
        if source is None:
            names = [p.get("name") for p in parts if p.tag == "icmp-type"]
            if len(parts) == 2 and names and names[0] in ESSENTIAL_ICMP_TYPES:
                continue
            raise FirewalldReadError(f"rule {number}: a rule without a source")
        if [p.tag for p in parts][-1:] != ["accept"] or source.get("invert"):
            raise FirewalldReadError(f"rule {number}: hasg writes only rules that accept")
        if source.get("ipset") is not None:
            cidrs = tuple(ipsets.get(source.get("ipset", ""), ()))
            if not cidrs:
                raise FirewalldReadError(f"rule {number}: ipset {source.get('ipset')} is not here")
        else:
            cidrs = (as_cidr(source.get("address", "")),)
        others = [p for p in parts if p.tag not in ("source", "accept")]
        protocol, low, high = _traffic(number, element.get("family"), others)
        rules += [Rule("ingress", protocol, low, high, cidr_peer(c)) for c in cidrs]
    return tuple(sorted(rules))


def _traffic(
    number: int, family: str | None, parts: list[ElementTree.Element]
) -> tuple[str, int, int]:
    if not parts:
        return ("-1", -1, -1)
    if len(parts) > 1:
        raise FirewalldReadError(f"rule {number}: more than one port, protocol or type")
    (part,) = parts
    if part.tag == "port":
        low, _, high = part.get("port", "").partition("-")
        return (canonical_protocol(part.get("protocol")), int(low), int(high or low))
    if part.tag == "protocol":
        value = part.get("value", "")
        protocol = canonical_protocol(value)
        return (protocol, 0, 65535) if protocol in ("tcp", "udp") else (protocol, -1, -1)
    if part.tag == "icmp-type":
        protocol = "icmpv6" if family == "ipv6" else "icmp"
        for kind, name in ICMP_TYPE_NAMES[protocol].items():
            if name == part.get("name"):
                return (protocol, kind, -1)
    raise FirewalldReadError(f"rule {number}: <{part.tag}> is not something hasg writes")


def _parse(text: str, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise FirewalldReadError(f"{name}: not XML ({error})") from None
