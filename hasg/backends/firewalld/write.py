"""firewalld, the RHEL-native form of a host's rules: a zone and its ipsets,
built as `files.py`'s model and rendered from it.

Per host, the files firewalld keeps under /etc/firewalld:

    198.18.0.10/zones/hasg.xml                   zone `hasg`, target DROP, rich rules
    198.18.0.10/ipsets/hasg-r-bastion-v4.xml     one ipset per role and family
    198.18.0.10/ipsets/hasg-vpc-v4.xml           the `vpc` networks (hash:net)

Each rich rule names one family, one source (an ipset, or an address) and
one port, protocol or ICMP type, as the nftables rules do; descriptions are
XML comments above each rule (firewalld keeps no per-rule description). The
zone has no interface: the operator binds it (`firewall-cmd --permanent
--zone=hasg --change-interface=eth0`, or makes it the default zone).

firewalld itself accepts established and related traffic and loopback, and
drops invalid packets, before a zone's rules; the zone accepts the ICMP
every host needs (`hasg.hosts.icmp`), one rule per type and family. Egress
stays open, as firewalld leaves it: enforcing it would need a firewalld
policy object, which this backend does not write yet, so it refuses
`enforce_egress` instead of writing less than asked. Only ICMP types
firewalld names can be written, and firewalld cannot match one ICMP code:
both are refused with the rule named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hasg.backends.firewalld.files import (
    IpSet,
    RichRule,
    Source,
    Traffic,
    Zone,
    entry_text,
    ipset_xml,
    zone_xml,
)
from hasg.backends.firewalld.spelling import DROP_TARGET, ICMP_PROTOCOL_OF, icmp_name
from hasg.core.networks import canonical_cidr, union
from hasg.core.protocols import ALL_PORTS, ALL_TRAFFIC, ICMP_PROTOCOLS
from hasg.errors import UsageError
from hasg.hosts.icmp import ESSENTIAL_ICMP, ICMP_OF
from hasg.hosts.resolve import AddressSet, HostRule, HostRuleset

ZONE = "hasg"
_FAMILY_SUFFIX = {"ipv4": "v4", "ipv6": "v6"}
# ipset names are at most 31 characters (IPSET_MAXNAMELEN 32, with the NUL).
_IPSET_NAME_LIMIT = 31


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
    """`{path: XML}`: a zone and its ipsets per host, under the host's name
    (`enforce_egress` is refused before: Capabilities in __init__.py)."""
    del enforce_egress
    files: dict[str, str] = {}
    for ruleset in rulesets:
        host = ruleset.host.name
        files[f"{host}/zones/{ZONE}.xml"] = zone_xml(host_zone(ruleset))
        for ipset in host_ipsets(ruleset):
            files[f"{host}/ipsets/{ipset.name}.xml"] = ipset_xml(ipset)
    return files


def host_ipsets(ruleset: HostRuleset) -> list[IpSet]:
    ipsets = []
    for address_set in ruleset.sets:
        kind, entries = ipset_entries(address_set)
        cidrs = tuple(canonical_cidr(e) for e in entries)
        ipsets.append(
            IpSet(ipset_name(address_set), kind, address_set.family, cidrs, address_set.name)
        )
    return ipsets


def ipset_entries(address_set: AddressSet) -> tuple[str, tuple[str, ...]]:
    """The ipset type and entries (as the file writes them) that hold `address_set`, in a form
    firewalld keeps: its ipset reader drops, with a warning only
    (INVALID_ENTRY), an entry its `IPSet.check_entry` refuses, which would
    leave the set, and so the rule, holding less than the policy says.

    firewalld refuses `0.0.0.0` in a hash:ip set and any `/0` in a hash:net
    one (firewall/core/io/ipset.py), and overlapping entries when it sets them
    (firewall/core/ipset.py). So single hosts are a hash:ip set (the nft
    backend's plain set) but for the IPv4 unspecified address; anything else
    is a hash:net set of the union of the networks, the whole family written
    as its two halves: the same addresses."""
    if address_set.hosts_only and "0.0.0.0/32" not in address_set.elements:
        return "hash:ip", tuple(entry_text(e, "hash:ip") for e in address_set.elements)
    entries: list[str] = []
    for network in union(address_set.elements, address_set.family):
        entries += [str(n) for n in (network.subnets() if network.prefixlen == 0 else (network,))]
    return "hash:net", tuple(entries)


def zone_description(ruleset: HostRuleset) -> str:
    host = ruleset.host
    return (
        f"hasg host firewall of {host.name}: role {host.role}, cluster {ruleset.cluster}. "
        "Generated from the policy: change the policy, not this file."
    )


def host_zone(ruleset: HostRuleset) -> Zone:
    """The zone hasg writes for one host, as the reader would parse it."""
    essentials = [
        RichRule(
            family, traffic=Traffic("", icmp_name=_icmp_name(family, icmp_type)), action="accept"
        )
        for family, types in ESSENTIAL_ICMP.items()
        for icmp_type in types
    ]
    names = {s.name: ipset_name(s) for s in ruleset.sets}
    rules = [
        RichRule(
            rule.family,
            Source(ipset=names[rule.peer]) if rule.names_set else Source(address=rule.peer),
            traffic=_traffic(rule),
            action="accept",
            comment=rule.description,
        )
        for rule in ruleset.rules_for("ingress")
    ]
    return Zone(
        ZONE,
        DROP_TARGET,
        short=ZONE,
        description=zone_description(ruleset),
        rules=(*essentials, *rules),
    )


def _icmp_name(family: str, icmp_type: int) -> str:
    name = icmp_name(family, icmp_type)  # type: ignore[arg-type]
    if name is None:  # hasg.hosts.icmp names only types firewalld names
        raise AssertionError(f"firewalld names no ICMP type {icmp_type} for {family}")
    return name


def _traffic(rule: HostRule) -> Traffic | None:
    protocol = rule.protocol
    if protocol == ALL_TRAFFIC:
        return None
    if protocol in ("tcp", "udp"):
        if (rule.from_port, rule.to_port) == (0, 65535):
            return Traffic(protocol)
        return Traffic(protocol, rule.from_port, rule.to_port)
    if protocol in ICMP_PROTOCOLS:
        if rule.from_port == ALL_PORTS:
            return Traffic(ICMP_PROTOCOL_OF[rule.family])
        name = icmp_name(rule.family, rule.from_port)
        # An icmp-type means ICMPv6 in an ipv6 rule, so the family must be the protocol's.
        if name is None or rule.to_port != ALL_PORTS or ICMP_OF[rule.family] != protocol:
            raise UsageError(
                f"firewalld: {rule.direction} {protocol} type {rule.from_port} code "
                f"{rule.to_port} from {rule.peer}: firewalld names no such ICMP type "
                "(or cannot match one code, or this family); use the nftables backend"
            )
        return Traffic("", icmp_name=name)
    return Traffic(protocol)
