"""firewalld's zone and ipset files as one model, written and read: the
writer builds a `Zone` and its `IpSet`s and renders their XML from them; the
reader parses a zone or ipset file (hasg's or anyone's) into the same model,
keeping what it holds that hasg's evaluator does not model as such
(services, forward ports, masquerading, ...) for the evaluator to refuse
by name. firewalld.zone(5), firewalld.ipset(5) and firewalld.richlanguage(5)
define the elements; firewalld's own readers (`firewall.core.io.zone`,
`.ipset`) judge hasg's output in the tests.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Literal

from hasg.backends.firewalld.spelling import DROP_TARGET, FAMILY_OF_IPSET, IPSET_FAMILY
from hasg.core.networks import Family, canonical_cidr, union
from hasg.errors import FirewalldReadError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The largest file a firewalld directory holds: zones and ipsets of a few
# thousand entries are well below it.
MAX_FILE_BYTES = 16 << 20


@dataclass(frozen=True)
class Source:
    """A rule's source: an address (a network), an ipset, or a MAC address."""

    address: str = ""
    ipset: str = ""
    mac: str = ""
    invert: bool = False


@dataclass(frozen=True)
class Traffic:
    """What a rule's element lets through, where hasg can say it: a port
    range of a protocol, a protocol, or an ICMP type of the rule's family."""

    protocol: str  # as firewalld writes it: tcp, udp, icmp, ipv6-icmp, a number, "" (any)
    low: int = -1
    high: int = -1
    icmp_name: str = ""

    def element(self) -> ElementTree.Element | None:
        if self.icmp_name:
            return ElementTree.Element("icmp-type", name=self.icmp_name)
        if self.low >= 0:
            port = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
            return ElementTree.Element("port", port=port, protocol=self.protocol)
        if self.protocol:
            return ElementTree.Element("protocol", value=self.protocol)
        return None


Action = Literal["accept", "drop", "reject", "mark", ""]


@dataclass(frozen=True)
class RichRule:
    """One `<rule>`: family, source, destination, what it matches, its action.

    `other` names an element the evaluator does not model (`service`,
    `forward-port`, `masquerade`, `icmp-block`, `source-port`, a rate
    `limit`, a `priority`...), which makes the rule one it cannot evaluate.
    """

    family: Family | None = None
    source: Source | None = None
    destination: Source | None = None
    traffic: Traffic | None = None
    action: Action = ""
    other: tuple[str, ...] = ()
    comment: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def element(self) -> ElementTree.Element:
        rule = ElementTree.Element("rule")
        if self.family:
            rule.set("family", self.family)
        if self.source is not None:
            rule.append(_source_element("source", self.source))
        if self.destination is not None:
            rule.append(_source_element("destination", self.destination))
        traffic = self.traffic.element() if self.traffic is not None else None
        if traffic is not None:
            rule.append(traffic)
        if self.action:
            rule.append(ElementTree.Element(self.action))
        return rule


@dataclass(frozen=True)
class Zone:
    """A zone file. hasg writes a target, a short name, a description and rich rules."""

    name: str
    target: str = DROP_TARGET
    short: str = ""
    description: str = ""
    rules: tuple[RichRule, ...] = ()
    interfaces: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    # Zone-level ports and protocols (`<port>`, `<protocol>`), as firewalld allows them.
    allowed: tuple[Traffic, ...] = ()
    # Elements of the zone itself the evaluator does not model, by name.
    other: tuple[str, ...] = ()
    file: str = field(default="", compare=False)


@dataclass(frozen=True)
class IpSet:
    name: str
    type: str
    family: Family
    entries: tuple[str, ...]  # canonical CIDRs (a host as /32 or /128)
    short: str = field(default="", compare=False)


# --------------------------------------------------------------------------- writing


def zone_xml(zone: Zone) -> str:
    """The zone file as firewalld keeps it; each rule's comment above it."""
    root = ElementTree.Element("zone", target=zone.target)
    if zone.short:
        ElementTree.SubElement(root, "short").text = zone.short
    if zone.description:
        ElementTree.SubElement(root, "description").text = zone.description
    for rule in zone.rules:
        if rule.comment:
            root.append(ElementTree.Comment(f" {xml_comment(rule.comment)} "))
        root.append(rule.element())
    return _document(root)


def ipset_xml(ipset: IpSet) -> str:
    root = ElementTree.Element("ipset", type=ipset.type)
    if ipset.short:
        ElementTree.SubElement(root, "short").text = ipset.short
    if ipset.family == "ipv6":
        ElementTree.SubElement(root, "option", name="family", value=IPSET_FAMILY["ipv6"])
    for entry in ipset.entries:
        ElementTree.SubElement(root, "entry").text = entry_text(entry, ipset.type)
    return _document(root)


def entry_text(cidr: str, kind: str) -> str:
    """A hash:ip set holds addresses; a hash:net set, networks as written
    (firewalld's check refuses `0.0.0.0` there, but takes `0.0.0.0/32`)."""
    network = ipaddress.ip_network(cidr)
    return str(network.network_address) if kind == "hash:ip" else str(network)


def _document(root: ElementTree.Element) -> str:
    ElementTree.indent(root, space="  ")
    body = ElementTree.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def xml_comment(text: str) -> str:
    """A description as an XML comment holds it: no `--`, no control characters."""
    text = "".join(c if c.isprintable() else " " for c in text)
    while "--" in text:
        text = text.replace("--", "- ")
    return text.rstrip("-")


def _source_element(tag: str, source: Source) -> ElementTree.Element:
    element = ElementTree.Element(tag)
    if source.address:
        element.set("address", source.address)
    if source.ipset:
        element.set("ipset", source.ipset)
    if source.mac:
        element.set("mac", source.mac)
    if source.invert:
        element.set("invert", "True")
    return element


# --------------------------------------------------------------------------- reading


def parse_xml(text: str, file: str, tag: str, *, comments: bool = False) -> ElementTree.Element:
    """The file's root element (with comments: a rule's description is the
    comment above it), or a FirewalldReadError naming file, line and column."""
    if len(text) > MAX_FILE_BYTES:
        raise FirewalldReadError(f"{file}: larger than {MAX_FILE_BYTES >> 20} MiB")
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(insert_comments=comments))
    try:
        parser.feed(text)
        root = parser.close()
    except ElementTree.ParseError as error:
        line, column = error.position
        raise FirewalldReadError(f"{file}:{line}:{column}: not XML ({error.msg})") from None
    if root.tag != tag:
        raise FirewalldReadError(f"{file}:1:1: a <{root.tag}>, not a firewalld <{tag}>")
    return root


# The zone elements the evaluator models; any other is kept by name.
_ZONE_KNOWN = frozenset({"short", "description", "rule", "interface", "source", "port", "protocol"})


def read_zone(text: str, file: str, name: str) -> Zone:
    root = parse_xml(text, file, "zone", comments=True)
    rules: list[RichRule] = []
    comment = ""
    allowed: list[Traffic] = []
    other: list[str] = []
    for child in root:
        if not isinstance(child.tag, str):  # a comment: the next rule's description
            comment = (child.text or "").strip()
            continue
        if child.tag == "rule":
            rules.append(_rule(child, file, comment))
        elif child.tag == "port":
            allowed.append(_port(child, file))
        elif child.tag == "protocol":
            allowed.append(Traffic(_attribute(child, "value", file)))
        elif child.tag not in _ZONE_KNOWN:
            other.append(f"<{child.tag}>")
        comment = ""
    if root.get("ingress-priority") or root.get("egress-priority"):
        other.append("zone priorities")
    return Zone(
        name=name,
        target=root.get("target", "default"),
        short=root.findtext("short") or "",
        description=root.findtext("description") or "",
        rules=tuple(rules),
        interfaces=tuple(e.get("name", "") for e in root.findall("interface")),
        sources=tuple(_source(e) for e in root.findall("source")),
        allowed=tuple(allowed),
        other=tuple(other),
        file=file,
    )


_ACTIONS = frozenset({"accept", "drop", "reject", "mark"})
_NO_EFFECT = frozenset({"log", "audit", "nflog"})


def _rule(element: ElementTree.Element, file: str, comment: str) -> RichRule:
    family = element.get("family")
    if family not in (None, "ipv4", "ipv6"):
        raise FirewalldReadError(f"{file}: rule family {family!r} is neither ipv4 nor ipv6")
    traffic: Traffic | None = None
    source = destination = None
    action: Action = ""
    other = [f"priority {element.get('priority')}"] if element.get("priority") else []
    for child in element:
        if child.tag == "source":
            source = _source(child)
        elif child.tag == "destination":
            destination = _source(child)
        elif child.tag == "port":
            traffic = _port(child, file)
        elif child.tag == "protocol":
            traffic = Traffic(_attribute(child, "value", file))
        elif child.tag == "icmp-type":
            traffic = Traffic("", icmp_name=_attribute(child, "name", file))
        elif child.tag in _ACTIONS:
            action = child.tag  # type: ignore[assignment]
            if child.find("limit") is not None:
                other.append("a rate limit on the action")
        elif child.tag not in _NO_EFFECT:
            other.append(f"<{child.tag}>")
    return RichRule(
        family,  # type: ignore[arg-type]
        source,
        destination,
        traffic,
        action,
        tuple(other),
        comment,
        getattr(element, "sourceline", 0) or 0,
    )


def _port(element: ElementTree.Element, file: str) -> Traffic:
    text = _attribute(element, "port", file)
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise FirewalldReadError(f"{file}: port {text!r} is not a port or range") from None
    if not 0 <= first <= last <= 65535:
        raise FirewalldReadError(f"{file}: port {text!r} is not a port or range")
    return Traffic(_attribute(element, "protocol", file), first, last)


def _source(element: ElementTree.Element) -> Source:
    return Source(
        element.get("address", ""),
        element.get("ipset", ""),
        element.get("mac", ""),
        element.get("invert", "").lower() in ("true", "yes"),
    )


def _attribute(element: ElementTree.Element, name: str, file: str) -> str:
    value = element.get(name)
    if value is None:
        raise FirewalldReadError(f"{file}: <{element.tag}> without its {name}")
    return value


def read_ipset(text: str, file: str, name: str) -> IpSet:
    root = parse_xml(text, file, "ipset")
    kind = root.get("type", "")
    options = {o.get("name"): o.get("value", "") for o in root.findall("option")}
    family = FAMILY_OF_IPSET.get(options.get("family", "inet"))
    if family is None:
        raise FirewalldReadError(f"{file}: ipset family {options.get('family')!r}")
    if kind not in ("hash:ip", "hash:net"):
        raise FirewalldReadError(
            f"{file}: ipset type {kind!r} holds more than addresses and networks; "
            "hasg reads hash:ip and hash:net"
        )
    entries = []
    for entry in root.iter("entry"):
        text_value = (entry.text or "").strip()
        try:
            cidr = canonical_cidr(
                text_value
                if "/" in text_value
                else f"{text_value}/{128 if ':' in text_value else 32}"
            )
        except ValueError as error:
            raise FirewalldReadError(f"{file}: entry {text_value!r}: {error}") from None
        entries.append(cidr)
    if kind == "hash:net":
        # A hash:net set stands for the union of its networks (`ipset_entries`
        # writes a /0 as its halves): read it back as that union.
        entries = [str(n) for n in union(entries, family)]
    return IpSet(name, kind, family, tuple(entries), root.findtext("short") or "")
