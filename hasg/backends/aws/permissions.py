"""Rules <-> EC2 IpPermissions, both ways, so that what hasg writes reads back equal.

An IpPermission is one protocol and port range with any number of peers; a
Rule is one peer. Writing groups rules by port range (fewer elements per
call); reading splits them again. Group peers are role ids inside hasg and
group ids inside AWS: `group_ids` maps one way, its inverse the other. A
referenced group hasg does not own keeps its id (`sg-...`, or
`account/sg-...` across accounts) as the peer's value, which no role id can
be, so such a rule is still seen, shown and revoked like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from hasg.core.blueprint import Direction, Peer, PeerKind, Rule
from hasg.core.ports import aws_ports, held_ports
from hasg.core.protocols import Protocol, canonical_protocol
from hasg.errors import HasgError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import (
        IpPermissionOutputTypeDef,
        IpPermissionTypeDef,
        UserIdGroupPairTypeDef,
    )


def to_ip_permissions(
    rules: Iterable[Rule], group_ids: Mapping[str, str]
) -> list[IpPermissionTypeDef]:
    """The IpPermissions that stand for `rules` (all of one direction).

    Descriptions go along even when revoking: EC2 ignores them there, and
    some EC2 look-alikes (moto) match group references only with them.
    """
    by_ports: dict[tuple[str, int, int], _Permission] = {}
    for rule in rules:
        key = (rule.protocol, rule.from_port, rule.to_port)
        by_ports.setdefault(key, _Permission(*key)).add(rule, group_ids)
    return [permission.as_dict() for permission in by_ports.values()]


def from_ip_permissions(
    direction: Direction,
    permissions: Sequence[IpPermissionOutputTypeDef],
    roles_by_group_id: Mapping[str, str],
    owner_id: str,
) -> Iterator[Rule]:
    """The Rules in EC2's IpPermissions (IpPermissions or IpPermissionsEgress)."""
    for permission in permissions:
        protocol = normalize_protocol(permission.get("IpProtocol", "-1"))
        # EC2 ignores the ports of every protocol but tcp, udp, icmp and icmpv6
        # (IpPermission.FromPort), and look-alikes answer what was sent: -1 it is.
        low, high = held_ports(
            protocol, permission.get("FromPort", -1), permission.get("ToPort", -1)
        )

        def rule(
            peer: Peer,
            description: str | None,
            protocol: Protocol = protocol,
            low: int = low,
            high: int = high,
        ) -> Rule:
            return Rule(direction, protocol, low, high, peer, description=description or "")

        for kind, (listed, key) in PEER_ELEMENTS.items():
            elements: list[Mapping[str, str]] = permission.get(listed, [])  # type: ignore[assignment]
            for element in elements:
                value = element.get(key, "")
                if kind == "group":
                    value = _group_value(element, roles_by_group_id, owner_id)
                yield rule(Peer(kind, value), element.get("Description"))


def _group_value(
    pair: Mapping[str, str], roles_by_group_id: Mapping[str, str], owner_id: str
) -> str:
    """A referenced group as hasg names it: a role of the cluster, else its
    id (`sg-...`), or `account/sg-...` across accounts."""
    group_id = pair.get("GroupId", "")
    user_id = pair.get("UserId", owner_id)
    value = roles_by_group_id.get(group_id) if user_id == owner_id else None
    if value is None:
        value = group_id if user_id == owner_id else f"{user_id}/{group_id}"
    return value


def normalize_protocol(protocol: str) -> Protocol:
    # Protocols hasg never writes (esp, gre, ...) still have to be read to be revoked.
    try:
        return canonical_protocol(protocol)
    except ValueError as error:
        raise HasgError(f"EC2 answered with IpProtocol {protocol!r}: {error}") from None


# How EC2 holds each kind of peer in an IpPermission: the list and the key of
# its elements (EC2 API reference, IpPermission). The writer and the reader
# both go by this one table; a `vpc` peer is resolved to a CIDR before.
PEER_ELEMENTS: dict[PeerKind, tuple[str, str]] = {
    "cidr_ipv4": ("IpRanges", "CidrIp"),
    "cidr_ipv6": ("Ipv6Ranges", "CidrIpv6"),
    "prefix_list": ("PrefixListIds", "PrefixListId"),
    "group": ("UserIdGroupPairs", "GroupId"),
}


@dataclass
class _Permission:
    protocol: str
    from_port: int
    to_port: int
    elements: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, rule: Rule, group_ids: Mapping[str, str]) -> None:
        peer = rule.peer
        if peer.kind not in PEER_ELEMENTS:
            raise ValueError(f"{rule}: resolve 'vpc' peers to the VPC's CIDR before writing")
        listed, key = PEER_ELEMENTS[peer.kind]
        element: dict[str, str] = {key: peer.value}
        if peer.is_group:
            element = {k: str(v) for k, v in group_reference(peer.value, group_ids).items()}
        if rule.description:
            element["Description"] = rule.description
        self.elements.setdefault(listed, []).append(element)

    def as_dict(self) -> IpPermissionTypeDef:
        permission: dict[str, Any] = {"IpProtocol": self.protocol}
        ports = aws_ports(self.protocol, self.from_port, self.to_port)
        if ports is not None:
            permission["FromPort"], permission["ToPort"] = ports
        for listed, _ in PEER_ELEMENTS.values():
            if self.elements.get(listed):
                permission[listed] = self.elements[listed]
        return cast("IpPermissionTypeDef", permission)


def group_reference(value: str, group_ids: Mapping[str, str]) -> UserIdGroupPairTypeDef:
    """The UserIdGroupPair for a group peer: a role of this cluster or a foreign group id."""
    if value in group_ids:
        return {"GroupId": group_ids[value]}
    if value.startswith("sg-"):
        return {"GroupId": value}
    user_id, slash, group_id = value.partition("/")
    if slash and group_id.startswith("sg-"):
        return {"UserId": user_id, "GroupId": group_id}
    raise HasgError(f"a rule refers to role {value!r}, which has no security group here")
