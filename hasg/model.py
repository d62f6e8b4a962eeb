"""The port policy: roles and the flows between them, as the user means them.

Every model is immutable and rejects unknown fields. Validation happens on
construction, so a `Policy` that exists is one hasg can compile: AWS's limits
on names and descriptions, known roles, valid ports and CIDRs, and no opening
to the whole internet that the policy did not ask for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from hasg.blueprint import CLUSTER_TAG, MANAGED_BY_TAG, ROLE_TAG

AWS_TEXT_MAX = 255
# EC2's allowed characters for VPC security group names, group descriptions
# and rule descriptions (EC2 API reference, IpRange.Description).
_AWS_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
_ROLE_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CLUSTER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}")
_PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")
# Ports the whole internet may reach without `public: true`: HTTPS and its redirect.
WORLD_SAFE_TCP_PORTS = frozenset({80, 443})
CIDR_LISTS = ("user_cidrs", "admin_cidrs")


def aws_text(value: str, *, required: bool = True) -> str:
    """Check a name or description against EC2's length and character rules."""
    if required and not value.strip():
        raise ValueError("must not be empty")
    if len(value) > AWS_TEXT_MAX:
        raise ValueError(f"is {len(value)} characters long; AWS allows at most {AWS_TEXT_MAX}")
    if not _AWS_TEXT.fullmatch(value):
        bad = sorted({c for c in value if not _AWS_TEXT.fullmatch(c)})
        raise ValueError(
            f"contains {''.join(bad)!r}, which AWS does not allow "
            "(allowed: letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*)"
        )
    return value


def canonical_cidr(value: str) -> str:
    """A CIDR in AWS's canonical form; host bits set is an error, not a guess."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        if "host bits set" in str(error):
            network = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value} has host bits set; did you mean {network}?") from None
        raise ValueError(f"{value!r} is not a valid IPv4 or IPv6 CIDR") from None


def _description(value: str) -> str:
    return aws_text(value)


Cidr = Annotated[str, AfterValidator(canonical_cidr)]
Description = Annotated[str, AfterValidator(_description)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- ports

PortProtocol = Literal["tcp", "udp", "icmp", "all"]
_PORT_TEXT = re.compile(r"(tcp|udp)/(\d+)(?:-(\d+))?|icmp(?:/(\d+)(?::(\d+))?)?|all")


class Port(_Frozen):
    """A protocol and a port range: `Port.tcp(22)`, `Port.tcp(9200, 9300)`.

    For icmp, `from_port` is the ICMP type and `to_port` the code, -1 meaning
    any. In files a port can also be written `443`, `"tcp/443"`,
    `"tcp/9200-9300"`, `"udp/9638"`, `"icmp"`, `"icmp/8"`, `"icmp/3:4"` or
    `"all"`.
    """

    protocol: PortProtocol = "tcp"
    from_port: int = -1
    to_port: int = -1

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool):
            return data
        if isinstance(data, int):
            return {"protocol": "tcp", "from_port": data, "to_port": data}
        if isinstance(data, str):
            match = _PORT_TEXT.fullmatch(data.strip().lower())
            if not match:
                raise ValueError(
                    f"{data!r} is not a port; write 443, 'tcp/443', 'tcp/9200-9300', "
                    "'udp/9638', 'icmp', 'icmp/8' or 'all'"
                )
            proto, low, high, icmp_type, icmp_code = match.groups()
            if proto:
                return {"protocol": proto, "from_port": int(low), "to_port": int(high or low)}
            if data.strip().lower() == "all":
                return {"protocol": "all"}
            return {
                "protocol": "icmp",
                "from_port": int(icmp_type) if icmp_type else -1,
                "to_port": int(icmp_code) if icmp_code else -1,
            }
        if (
            isinstance(data, Mapping)
            and "to_port" not in data
            and "from_port" in data
            and data.get("protocol", "tcp") in ("tcp", "udp")
        ):
            return {**data, "to_port": data["from_port"]}
        return data

    @model_validator(mode="after")
    def _ranges(self) -> Port:
        if self.protocol in ("tcp", "udp"):
            for port in (self.from_port, self.to_port):
                if not 0 <= port <= 65535:
                    raise ValueError(f"{port} is not a valid port (0-65535)")
            if self.from_port > self.to_port:
                raise ValueError(
                    f"port range {self.from_port}-{self.to_port} is reversed; "
                    f"write {self.to_port}-{self.from_port}"
                )
        elif self.protocol == "icmp":
            for value, what in ((self.from_port, "type"), (self.to_port, "code")):
                if not -1 <= value <= 255:
                    raise ValueError(f"{value} is not a valid ICMP {what} (-1 for any, 0-255)")
            if self.from_port == -1 and self.to_port != -1:
                raise ValueError("an ICMP code needs an ICMP type")
        elif (self.from_port, self.to_port) != (-1, -1):
            raise ValueError("protocol 'all' takes no ports")
        return self

    @classmethod
    def tcp(cls, port: int, to_port: int | None = None) -> Port:
        return cls(protocol="tcp", from_port=port, to_port=port if to_port is None else to_port)

    @classmethod
    def udp(cls, port: int, to_port: int | None = None) -> Port:
        return cls(protocol="udp", from_port=port, to_port=port if to_port is None else to_port)

    @classmethod
    def icmp(cls, icmp_type: int = -1, code: int = -1) -> Port:
        return cls(protocol="icmp", from_port=icmp_type, to_port=code)

    @classmethod
    def all_traffic(cls) -> Port:
        return cls(protocol="all")

    def is_world_safe(self) -> bool:
        return (
            self.protocol == "tcp"
            and self.from_port == self.to_port
            and self.from_port in WORLD_SAFE_TCP_PORTS
        )

    def __str__(self) -> str:
        if self.protocol == "all":
            return "all"
        if self.protocol == "icmp":
            if self.from_port == -1:
                return "icmp"
            return f"icmp/{self.from_port}" + ("" if self.to_port == -1 else f":{self.to_port}")
        if self.from_port == self.to_port:
            return f"{self.protocol}/{self.from_port}"
        return f"{self.protocol}/{self.from_port}-{self.to_port}"


# --------------------------------------------------------------------------- peers


class RolePeer(_Frozen):
    """Another role of the policy: the rule references that role's group."""

    role: str


class CidrPeer(_Frozen):
    """An IPv4 or IPv6 network."""

    cidr: Cidr

    @property
    def is_world(self) -> bool:
        return ipaddress.ip_network(self.cidr).prefixlen == 0


class PrefixListPeer(_Frozen):
    """A customer-managed prefix list; it costs `max_entries` rules of the quota."""

    prefix_list_id: str
    max_entries: int = Field(ge=1, le=1000)
    address_family: Literal["IPv4", "IPv6"] = "IPv4"

    @field_validator("prefix_list_id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _PREFIX_LIST_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a prefix list id (pl- and 8 to 17 hex digits)")
        return value


class CidrListPeer(_Frozen):
    """One of the policy's CIDR lists.

    `user_cidrs` with no entries means the VPC's own CIDR: entry points stay
    reachable from inside the VPC and from nowhere else. `admin_cidrs` with
    no entries means nobody.
    """

    cidr_list: Literal["user_cidrs", "admin_cidrs"]


class VpcPeer(_Frozen):
    """The VPC's primary IPv4 CIDR, resolved where the VPC is known."""

    vpc: Literal[True] = True


PEER_KEYS = {
    "role": "role",
    "cidr": "cidr",
    "prefix_list_id": "prefix_list",
    "cidr_list": "cidr_list",
    "vpc": "vpc",
}


def _peer_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            RolePeer: "role",
            CidrPeer: "cidr",
            PrefixListPeer: "prefix_list",
            CidrListPeer: "cidr_list",
            VpcPeer: "vpc",
        }.get(type(value))
    if isinstance(value, Mapping):
        for key, tag in PEER_KEYS.items():
            if key in value:
                return tag
    return None


PeerSpec = Annotated[
    Annotated[RolePeer, Tag("role")]
    | Annotated[CidrPeer, Tag("cidr")]
    | Annotated[PrefixListPeer, Tag("prefix_list")]
    | Annotated[CidrListPeer, Tag("cidr_list")]
    | Annotated[VpcPeer, Tag("vpc")],
    Discriminator(
        _peer_tag,
        custom_error_type="invalid_peer",
        custom_error_message=(
            "a peer is a role id, a CIDR, 'vpc', 'user_cidrs', 'admin_cidrs', or a mapping "
            "with one of: role, cidr, prefix_list_id (+ max_entries), cidr_list, vpc"
        ),
    ),
]


def peer_from_text(value: Any) -> Any:
    """Read the shorthand peers of policy files: `bastion`, `10.0.0.0/8`, `vpc`."""
    if not isinstance(value, str):
        return value
    if value == "vpc":
        return {"vpc": True}
    if value in CIDR_LISTS:
        return {"cidr_list": value}
    if "/" in value or ":" in value:
        return {"cidr": value}
    return {"role": value}


def peer_label(peer: RolePeer | CidrPeer | PrefixListPeer | CidrListPeer | VpcPeer) -> str:
    if isinstance(peer, RolePeer):
        return peer.role
    if isinstance(peer, CidrPeer):
        return peer.cidr
    if isinstance(peer, PrefixListPeer):
        return peer.prefix_list_id
    if isinstance(peer, CidrListPeer):
        return peer.cidr_list
    return "vpc"


# --------------------------------------------------------------------------- roles, flows


class Role(_Frozen):
    """A kind of machine; it gets one security group."""

    id: str
    description: Description

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ROLE_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a role id (lower case letter, then lower case letters, "
                "digits or _, at most 63)"
            )
        return value


class Flow(_Frozen):
    """Who may open connections to whom, on which ports, and why.

    At least one side is a role. A role-to-role flow becomes an egress rule on
    the source's group and an ingress rule on the destination's group.
    """

    source: PeerSpec
    destination: PeerSpec
    ports: tuple[Port, ...] = Field(min_length=1)
    description: Description
    public: bool = False
    name: str | None = None

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _peer_shorthand(cls, value: Any) -> Any:
        return peer_from_text(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else aws_text(value)

    @model_validator(mode="after")
    def _shape(self) -> Flow:
        if not isinstance(self.source, RolePeer) and not isinstance(self.destination, RolePeer):
            raise ValueError(
                f"flow {self.label}: at least one side must be a role "
                f"(got {peer_label(self.source)} and {peer_label(self.destination)})"
            )
        for peer in (self.source, self.destination):
            if isinstance(peer, CidrPeer) and peer.is_world:
                self.check_world_open(peer.cidr)
        return self

    def check_world_open(self, cidr: str) -> None:
        """Refuse to open anything but HTTPS and its redirect to the world."""
        if self.public:
            return
        risky = [str(p) for p in self.ports if not p.is_world_safe()]
        if risky:
            raise ValueError(
                f"flow {self.label} opens {', '.join(risky)} to {cidr}; only tcp/80 and tcp/443 "
                "may reach the whole internet unless the flow says public: true"
            )

    @property
    def label(self) -> str:
        return self.name or f"{peer_label(self.source)}-to-{peer_label(self.destination)}"


# --------------------------------------------------------------------------- policy


class Policy(_Frozen):
    """A cluster's roles and flows, plus the CIDR lists its flows refer to."""

    cluster: str
    roles: tuple[Role, ...] = Field(min_length=1)
    flows: tuple[Flow, ...] = ()
    user_cidrs: tuple[Cidr, ...] = ()
    admin_cidrs: tuple[Cidr, ...] = ()
    ssh_port: int = Field(default=22, ge=1, le=65535)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str) -> str:
        if not _CLUSTER.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a cluster name (letters, digits, '.', '_', '-'; "
                "starts with a letter or digit; at most 128)"
            )
        if value.lower().startswith("sg-"):
            raise ValueError(f"{value!r}: group names must not start with 'sg-' (AWS)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        reserved = {MANAGED_BY_TAG, CLUSTER_TAG, ROLE_TAG, "Name"}
        for key, value in tags.items():
            if key in reserved:
                raise ValueError(f"tag {key!r} is set by hasg itself")
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag {key!r}: the aws: prefix is reserved by AWS")
            if not 1 <= len(key) <= 128:
                raise ValueError(f"tag key {key!r} must be 1 to 128 characters")
            if len(value) > 256:
                raise ValueError(f"tag {key!r}: value is longer than 256 characters")
        return dict(sorted(tags.items()))

    @model_validator(mode="after")
    def _references(self) -> Policy:
        # Messages start with the field's path, which policy files turn into a line number.
        seen: set[str] = set()
        for index, role in enumerate(self.roles):
            if role.id in seen:
                raise ValueError(f"roles[{index}].id: role {role.id!r} is defined twice")
            seen.add(role.id)
        names: set[str] = set()
        for index, flow in enumerate(self.flows):
            for side in ("source", "destination"):
                peer = getattr(flow, side)
                if isinstance(peer, RolePeer) and peer.role not in seen:
                    raise ValueError(
                        f"flows[{index}].{side}: unknown role {peer.role!r} "
                        f"(roles: {', '.join(sorted(seen))})"
                    )
                if isinstance(peer, CidrListPeer):
                    for cidr in getattr(self, peer.cidr_list):
                        if ipaddress.ip_network(cidr).prefixlen == 0:
                            try:
                                flow.check_world_open(f"{cidr} (in {peer.cidr_list})")
                            except ValueError as error:
                                raise ValueError(f"flows[{index}].{side}: {error}") from None
            if flow.name is not None:
                if flow.name in names:
                    raise ValueError(f"flows[{index}].name: flow name {flow.name!r} is used twice")
                names.add(flow.name)
        return self

    def role(self, role_id: str) -> Role:
        for role in self.roles:
            if role.id == role_id:
                return role
        raise KeyError(role_id)
