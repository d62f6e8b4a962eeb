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
from typing import TYPE_CHECKING, TypeVar

from hasg.core.blueprint import Direction, Peer, Rule
from hasg.core.protocols import Protocol, canonical_protocol, has_ports
from hasg.errors import HasgError

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import (
        IpPermissionOutputTypeDef,
        IpPermissionTypeDef,
        IpRangeTypeDef,
        Ipv6RangeTypeDef,
        PrefixListIdTypeDef,
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
        low, high = (-1, -1)
        # EC2 ignores the ports of every protocol but tcp, udp, icmp and icmpv6
        # (IpPermission.FromPort), and look-alikes answer what was sent: -1 it is.
        if has_ports(protocol):
            low, high = permission.get("FromPort", -1), permission.get("ToPort", -1)

        def rule(
            peer: Peer,
            description: str | None,
            protocol: Protocol = protocol,
            low: int = low,
            high: int = high,
        ) -> Rule:
            return Rule(direction, protocol, low, high, peer, description=description or "")

        for v4 in permission.get("IpRanges", []):
            yield rule(Peer("cidr_ipv4", v4.get("CidrIp", "")), v4.get("Description"))
        for v6 in permission.get("Ipv6Ranges", []):
            yield rule(Peer("cidr_ipv6", v6.get("CidrIpv6", "")), v6.get("Description"))
        for prefix_list in permission.get("PrefixListIds", []):
            peer = Peer("prefix_list", prefix_list.get("PrefixListId", ""))
            yield rule(peer, prefix_list.get("Description"))
        for pair in permission.get("UserIdGroupPairs", []):
            group_id = pair.get("GroupId", "")
            user_id = pair.get("UserId", owner_id)
            value = roles_by_group_id.get(group_id) if user_id == owner_id else None
            if value is None:
                value = group_id if user_id == owner_id else f"{user_id}/{group_id}"
            yield rule(Peer("group", value), pair.get("Description"))


def normalize_protocol(protocol: str) -> Protocol:
    # Protocols hasg never writes (esp, gre, ...) still have to be read to be revoked.
    try:
        return canonical_protocol(protocol)
    except ValueError as error:
        raise HasgError(f"EC2 answered with IpProtocol {protocol!r}: {error}") from None


@dataclass
class _Permission:
    protocol: str
    from_port: int
    to_port: int
    ipv4: list[IpRangeTypeDef] = field(default_factory=list)
    ipv6: list[Ipv6RangeTypeDef] = field(default_factory=list)
    prefix_lists: list[PrefixListIdTypeDef] = field(default_factory=list)
    groups: list[UserIdGroupPairTypeDef] = field(default_factory=list)

    def add(self, rule: Rule, group_ids: Mapping[str, str]) -> None:
        peer, description = rule.peer, rule.description
        if peer.kind == "cidr_ipv4":
            v4: IpRangeTypeDef = {"CidrIp": peer.value}
            self.ipv4.append(_described(v4, description))
        elif peer.kind == "cidr_ipv6":
            v6: Ipv6RangeTypeDef = {"CidrIpv6": peer.value}
            self.ipv6.append(_described(v6, description))
        elif peer.kind == "prefix_list":
            prefix_list: PrefixListIdTypeDef = {"PrefixListId": peer.value}
            self.prefix_lists.append(_described(prefix_list, description))
        elif peer.kind == "group":
            self.groups.append(_described(group_reference(peer.value, group_ids), description))
        else:
            raise ValueError(f"{rule}: resolve 'vpc' peers to the VPC's CIDR before writing")

    def as_dict(self) -> IpPermissionTypeDef:
        permission: IpPermissionTypeDef = {"IpProtocol": self.protocol}
        # -1 for the protocols without ports: AWS ignores them, moto needs them.
        if self.protocol != "-1":
            permission["FromPort"] = self.from_port
            permission["ToPort"] = self.to_port
        if self.ipv4:
            permission["IpRanges"] = self.ipv4
        if self.ipv6:
            permission["Ipv6Ranges"] = self.ipv6
        if self.prefix_lists:
            permission["PrefixListIds"] = self.prefix_lists
        if self.groups:
            permission["UserIdGroupPairs"] = self.groups
        return permission


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


_Described = TypeVar(
    "_Described",
    "IpRangeTypeDef",
    "Ipv6RangeTypeDef",
    "PrefixListIdTypeDef",
    "UserIdGroupPairTypeDef",
)


def _described(element: _Described, description: str) -> _Described:
    if description:
        element["Description"] = description
    return element
