"""Reading firewalld's configuration back: emit's files as the per-host form
of the Blueprint (`read_files`, for the backend contract), and a host's
configuration directory, laid out as /etc/firewalld holds it, as a `Config`
the evaluator answers from (`read_directory`, for `hasg audit --from
firewalld`).

A directory holds `zones/`, `ipsets/`, and perhaps `firewalld.conf`,
`policies/`, `direct.xml`, `services/`, `icmptypes/`, `helpers/`. What hasg
does not evaluate (policies of one's own, direct rules, zone drifting, a
zone it does not hold) is kept as a problem, never skipped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hasg.backends.firewalld.files import IpSet, RichRule, Zone, parse_xml, read_ipset, read_zone
from hasg.backends.firewalld.spelling import DEFAULT_ZONE, ICMP_PROTOCOL_OF, icmp_type_of
from hasg.backends.firewalld.write import ZONE
from hasg.core.blueprint import Blueprint, Rule
from hasg.core.protocols import canonical_protocol
from hasg.errors import FirewalldReadError
from hasg.hosts.icmp import ESSENTIAL_ICMP
from hasg.hosts.inventory import Host
from hasg.hosts.probes import Place, Unreadable
from hasg.hosts.resolve import cidr_peer, host_group

# What `zone_xml` writes as the zone's description: the reader takes the
# host's role and the cluster from it, as firewalld keeps no other field for them.
_ZONE_DESCRIPTION = re.compile(
    r"hasg host firewall of (?P<host>\S+): role (?P<role>\S+), cluster (?P<cluster>\S+)\. "
    "Generated from the policy"
)
# firewalld.conf keys that change which rules a packet meets, and how.
_ZONE_DRIFTING = "AllowZoneDrifting"


@dataclass(frozen=True)
class Config:
    """One host's firewalld configuration: its zones, ipsets and settings,
    and what of it hasg cannot evaluate."""

    directory: str
    zones: Mapping[str, Zone]
    ipsets: Mapping[str, IpSet]
    default_zone: str
    # Why `default_zone` is the one, where firewalld.conf does not say.
    assumed: str = ""
    problems: tuple[Unreadable, ...] = field(default=())


# --------------------------------------------------------------------------- emit's files


def read_files(files: Mapping[str, str]) -> Blueprint:
    """`emit`'s files as `hasg.hosts.resolve.as_blueprint`'s form: one group
    per host, its ingress rules with every peer expanded to CIDRs."""
    hosts = sorted({path.split("/", 1)[0] for path in files})
    clusters: set[str] = set()
    groups = []
    for host in hosts:
        path = f"{host}/zones/{ZONE}.xml"
        if path not in files:
            raise FirewalldReadError(f"{host}: there is no zones/{ZONE}.xml")
        zone = read_zone(files[path], path, ZONE)
        ipsets = {
            name.rsplit("/", 1)[1].removesuffix(".xml"): read_ipset(text, name, name)
            for name, text in files.items()
            if name.startswith(f"{host}/ipsets/")
        }
        described = _ZONE_DESCRIPTION.match(zone.description)
        if described is None or described["host"] != host:
            raise FirewalldReadError(
                f"{path}: the description is not the one hasg writes, so the host's role "
                "and cluster are unknown"
            )
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise FirewalldReadError(
                f"{host}: a host's directory is named by its address"
            ) from None
        clusters.add(described["cluster"])
        groups.append(host_group(Host(described["role"], (address,)), zone_rules(zone, ipsets)))
    if len(clusters) > 1:
        raise FirewalldReadError(f"the zones name several clusters: {', '.join(sorted(clusters))}")
    return Blueprint(min(clusters, default=""), tuple(groups))


def zone_rules(zone: Zone, ipsets: Mapping[str, IpSet]) -> list[Rule]:
    """The zone's rules as hasg writes them: the essential ICMP, then one
    accept per source and traffic; anything else is refused, by rule."""
    if zone.target != "DROP" or zone.allowed or zone.other or zone.interfaces or zone.sources:
        raise FirewalldReadError(f"{zone.file}: not a zone of the shape hasg writes")
    rules: list[Rule] = []
    for number, rule in enumerate(zone.rules, 1):
        if rule.source is None and _essential(rule):
            continue
        if rule.action != "accept" or rule.other or rule.source is None or rule.source.invert:
            raise FirewalldReadError(f"{zone.file}: rule {number} is not one hasg writes")
        if rule.source.ipset:
            ipset = ipsets.get(rule.source.ipset)
            if ipset is None:
                raise FirewalldReadError(
                    f"{zone.file}: rule {number}: no ipset {rule.source.ipset}"
                )
            cidrs = ipset.entries
        else:
            cidrs = (_cidr(rule.source.address, zone.file),)
        protocol, low, high = traffic_of(rule, zone.file)
        rules += [Rule("ingress", protocol, low, high, cidr_peer(c)) for c in cidrs]
    return rules


def _essential(rule: RichRule) -> bool:
    if rule.family is None or rule.traffic is None or rule.action != "accept":
        return False
    icmp_type = icmp_type_of(rule.family, rule.traffic.icmp_name)
    return icmp_type in ESSENTIAL_ICMP[rule.family] and not rule.other


def traffic_of(rule: RichRule, file: str) -> tuple[str, int, int]:
    """A rule's traffic as a Rule holds it: (protocol, from_port, to_port)."""
    traffic = rule.traffic
    if traffic is None:
        return ("-1", -1, -1)
    family = rule.family or "ipv4"
    if traffic.icmp_name:
        icmp_type = icmp_type_of(family, traffic.icmp_name)
        if icmp_type is None:
            raise FirewalldReadError(f"{file}: icmp-type {traffic.icmp_name!r} for {family}")
        return ("icmp" if family == "ipv4" else "icmpv6", icmp_type, -1)
    try:
        protocol = (
            "icmpv6"
            if traffic.protocol == ICMP_PROTOCOL_OF["ipv6"]
            else canonical_protocol(traffic.protocol)
        )
    except ValueError as error:
        raise FirewalldReadError(f"{file}: {error}") from None
    if traffic.low >= 0:
        return (protocol, traffic.low, traffic.high)
    return (protocol, 0, 65535) if protocol in ("tcp", "udp") else (protocol, -1, -1)


def _cidr(text: str, file: str) -> str:
    try:
        network = ipaddress.ip_network(
            text if "/" in text else f"{text}/{128 if ':' in text else 32}"
        )
    except ValueError:
        raise FirewalldReadError(f"{file}: {text!r} is not an address or network") from None
    return str(network)


# --------------------------------------------------------------------------- a directory


def read_directory(path: Path) -> Config:
    """A host's firewalld configuration directory (as /etc/firewalld)."""
    if not path.is_dir():
        raise FirewalldReadError(
            f"{path}: not a directory (give the directory /etc/firewalld holds)"
        )
    if not (path / "zones").is_dir():
        raise FirewalldReadError(f"{path}: no zones/ directory: not a firewalld configuration")
    problems: list[Unreadable] = []
    zones = {
        file.stem: read_zone(_text(file), str(file), file.stem)
        for file in sorted((path / "zones").glob("*.xml"))
    }
    ipsets = {
        file.stem: read_ipset(_text(file), str(file), file.stem)
        for file in sorted((path / "ipsets").glob("*.xml"))
    }
    settings = _settings(path / "firewalld.conf")
    if settings.get(_ZONE_DRIFTING, "no").lower() in ("yes", "true"):
        problems.append(
            Unreadable(
                "AllowZoneDrifting=yes: a packet a source zone does not accept drifts to "
                "the interface's zone, which hasg does not evaluate",
                (("file", str(path / "firewalld.conf")),),
            )
        )
    for file in sorted((path / "policies").glob("*.xml")):
        problems.append(
            Unreadable("a firewalld policy of its own, which hasg does not evaluate", _at(file))
        )
    direct = path / "direct.xml"
    if direct.is_file() and len(parse_xml(_text(direct), str(direct), "direct")):
        problems.append(Unreadable("direct rules, which hasg does not evaluate", _at(direct)))
    default, assumed = _default_zone(settings, zones)
    for zone in zones.values():
        problems += [
            Unreadable(f"zone {zone.name} holds {o}", _at(Path(zone.file))) for o in zone.other
        ]
        for number, rule in enumerate(zone.rules, 1):
            problems += [
                Unreadable(f"zone {zone.name}, rule {number}: {o}", _at(Path(zone.file)))
                for o in rule.other
            ]
            source = rule.source
            if source is not None and source.ipset and source.ipset not in ipsets:
                problems.append(
                    Unreadable(
                        f"zone {zone.name}, rule {number}: ipset {source.ipset} is not here",
                        _at(Path(zone.file)),
                    )
                )
    if default not in zones:
        problems.append(
            Unreadable(
                f"the default zone, {default}, is not in {path / 'zones'}: firewalld takes "
                "its stock zone, which hasg does not evaluate",
                (("file", str(path / "zones")),),
            )
        )
    return Config(str(path), zones, ipsets, default, assumed, tuple(problems))


def _default_zone(settings: Mapping[str, str], zones: Mapping[str, Zone]) -> tuple[str, str]:
    if "DefaultZone" in settings:
        return settings["DefaultZone"], ""
    if set(zones) == {ZONE}:
        return ZONE, (
            f"zone {ZONE}, the only zone here and no firewalld.conf, taken as the zone of the "
            f"host's interface (bind it: firewall-cmd --permanent --zone={ZONE} "
            "--change-interface=IF)"
        )
    return DEFAULT_ZONE, ""


def _settings(path: Path) -> dict[str, str]:
    """firewalld.conf: KEY=VALUE lines, # comments."""
    if not path.is_file():
        return {}
    found = {}
    for line in _text(path).splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip().strip('"')
    return found


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise FirewalldReadError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise FirewalldReadError(f"{path}: cannot be read: {error.strerror}") from None


def _at(path: Path) -> Place:
    return (("file", str(path)),)
