"""The port policy: roles and the flows between them, as the user means them.

Every model is immutable and rejects unknown fields. Validation happens on
construction, so a `Policy` that exists is one hasg can compile: AWS's limits
on names, descriptions and tags, known roles, valid ports and CIDRs, and no
wide-open port that the policy did not ask for.

Bad input raises `PolicyError` (a `HasgError`), never pydantic's
`ValidationError`: bootstrap code catches one type. The pydantic error stays
reachable as the `PolicyError`'s `__cause__`, which policy files read for the
location of every problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from typing_extensions import Self

from hasg.core.networks import canonical_cidr, covers_world, exposure, family_of
from hasg.core.ports import PORT_GRAMMAR, port_text, world_safe
from hasg.core.tags import AWS_TAG_LIMIT, HASG_TAG_KEYS, check_tag
from hasg.errors import PolicyError

AWS_TEXT_MAX = 255
# EC2's allowed characters for VPC security group names, group descriptions
# and rule descriptions (EC2 API reference, IpRange.Description).
_AWS_TEXT = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
_ROLE_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_CLUSTER = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}")
_PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")
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


def whole_number(value: Any) -> int:
    """An int, and only an int: `"2222"`, `2222.0` and `true` are refused, not
    read as 2222 or 1, so that a typo never quietly becomes another port."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a yes/no value, not a number; write a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        raise ValueError(f"{value!r} is a decimal number; write {int(value)}")
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.lstrip("+-").isdigit():
        raise ValueError(f"{value!r} is text; write {text} without quotes")
    raise ValueError(f"expected a whole number, got {_kind_of(value)}")


def _description(value: str) -> str:
    return aws_text(value)


Cidr = Annotated[str, AfterValidator(canonical_cidr)]
Description = Annotated[str, AfterValidator(_description)]
WholeNumber = Annotated[int, BeforeValidator(whole_number)]
StrictBool = Annotated[bool, Field(strict=True)]


class _Frozen(BaseModel):
    """Immutable, no unknown fields, and every refusal a `PolicyError`."""

    # defer_build: a model builds its validator when it first validates, not
    # when its class is defined. A policy (built in or from a file) validates
    # once, as a whole, through Policy's validator, so the nested models never
    # build one of their own on that path (docs/benchmarks.md, start-up).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def __init__(self, **data: Any) -> None:
        _refusing(type(self), lambda: super(_Frozen, self).__init__(**data))

    # Nested models are validated by pydantic-core without calling __init__
    # (as for BaseModel's own, which RootModel marks the same way); otherwise a
    # nested error would escape as a PolicyError and lose its location.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        return _refusing(cls, lambda: super(_Frozen, cls).model_validate(*args, **kwargs))

    @classmethod
    def model_validate_json(cls, *args: Any, **kwargs: Any) -> Self:
        return _refusing(cls, lambda: super(_Frozen, cls).model_validate_json(*args, **kwargs))


_Result = TypeVar("_Result")


def _refusing(model: type[BaseModel], validate: Callable[[], _Result]) -> _Result:
    try:
        return validate()
    except ValidationError as error:
        raise invalid(model, error) from error


def invalid(model: type[BaseModel], error: ValidationError) -> PolicyError:
    """One line for a refused model: its first problem, where, and how many more."""
    details = relevant_errors(error.errors(include_url=False))
    first = details[0]
    where = ".".join(str(part) for part in first["loc"])
    text = f"{model.__name__}: {where + ': ' if where else ''}{error_message(first)}"
    if len(details) > 1:
        text += f" (and {len(details) - 1} more problems)"
    return PolicyError(" ".join(text.split()))


def relevant_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop what only follows from another error: pydantic also calls a list
    too short when its items failed."""
    enclosing = {e["loc"][:i] for e in errors for i in range(len(e["loc"]))}
    return [e for e in errors if not (e["type"] == "too_short" and e["loc"] in enclosing)]


def error_message(error: ErrorDetails) -> str:
    """A pydantic error as hasg says it (policy files and models alike)."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error["input"]
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "invalid_peer":
        shown = repr(value) if len(repr(value)) <= 80 else _kind_of(value)
        return f"{shown} is not a peer; {PEER_HELP}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_kind_of(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_kind_of(value)}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"needs at least {least} item{'s' if least != 1 else ''}"
    message = error["msg"]
    return f"{message[0].lower()}{message[1:]} (got {_kind_of(value)})"


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (str, int, float, bool)) and len(text := repr(value)) <= 80:
        return text
    return f"{type(value).__name__} value"


# --------------------------------------------------------------------------- ports

PortProtocol = Literal["tcp", "udp", "icmp", "all"]
_PORT_TEXT = re.compile(PORT_GRAMMAR)


class Port(_Frozen):
    """A protocol and a port range: `Port.tcp(22)`, `Port.tcp(9200, 9300)`.

    For icmp, `from_port` is the ICMP type and `to_port` the code, -1 meaning
    any. In files a port can also be written `443`, `"tcp/443"`,
    `"tcp/9200-9300"`, `"udp/9638"`, `"icmp"`, `"icmp/8"`, `"icmp/3:4"` or
    `"all"`.
    """

    protocol: PortProtocol = "tcp"
    from_port: WholeNumber = -1
    to_port: WholeNumber = -1

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, (bool, float)):
            return whole_number(data)  # raises: says what to write instead
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
            # Only a number: a from_port that is refused is refused once, not
            # again as the to_port the file never wrote.
            and isinstance(data["from_port"], int)
            and not isinstance(data["from_port"], bool)
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
        return world_safe(self)

    def __str__(self) -> str:
        return port_text(self.protocol, self.from_port, self.to_port)


# --------------------------------------------------------------------------- peers


class RolePeer(_Frozen):
    """Another role of the policy: the rule references that role's group."""

    role: str


class CidrPeer(_Frozen):
    """An IPv4 or IPv6 network."""

    cidr: Cidr

    @property
    def is_world(self) -> bool:
        """Every address of its family (`0.0.0.0/0`, `::/0`)."""
        return covers_world((self.cidr,), family_of(self.cidr))


class PrefixListPeer(_Frozen):
    """A customer-managed prefix list; it costs `max_entries` rules of the quota."""

    prefix_list_id: str
    max_entries: WholeNumber = Field(ge=1, le=1000)
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


# Every kind of peer a flow may name: the one union the compiler, the file
# writer and the graph take.
AnyPeer = RolePeer | CidrPeer | PrefixListPeer | CidrListPeer | VpcPeer

PEER_HELP = (
    "a peer is a role id (bastion), a CIDR (10.0.0.0/8, 2001:db8::/32), vpc, user_cidrs, "
    "admin_cidrs, or a mapping with one of the keys role, cidr, prefix_list_id (with "
    "max_entries), cidr_list or vpc"
)

PeerSpec = Annotated[
    Annotated[RolePeer, Tag("role")]
    | Annotated[CidrPeer, Tag("cidr")]
    | Annotated[PrefixListPeer, Tag("prefix_list")]
    | Annotated[CidrListPeer, Tag("cidr_list")]
    | Annotated[VpcPeer, Tag("vpc")],
    Discriminator(
        _peer_tag,
        custom_error_type="invalid_peer",
        custom_error_message=PEER_HELP,
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


def peer_label(peer: AnyPeer) -> str:
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
    """A kind of machine; it gets one security group.

    `managed`: AWS runs the role as a managed service (Amazon RDS, Amazon
    OpenSearch Service). Its group is attached to that service, and the ports
    Chef documents for its machines (SSH, Habitat) are not hasg's to open.
    """

    id: str
    description: Description
    managed: StrictBool = False

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
    public: StrictBool = False
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
            if isinstance(peer, CidrPeer):
                self.check_open((peer.cidr,), peer.cidr)
        return self

    def check_open(self, cidrs: Sequence[str], peer: str) -> None:
        """Refuse to open anything but HTTPS and its redirect wide, unasked.

        The one world guard (`hasg.core.networks.exposure`), as every other
        path to a rule takes it: judged on the union of what the networks
        stand for, so that `0.0.0.0/1` and `128.0.0.0/1` are the world and
        `64:ff9b::/96` (NAT64) is the IPv4 internet, and by public addresses,
        so that a range broader than a public /24 (IPv4) or /48 (IPv6) needs
        `public: true` too. tcp/80 and tcp/443 may reach even the world without
        it: that is what entry points are for.
        """
        found = exposure(cidrs, self.ports, public=self.public)
        if found is not None:
            raise ValueError(f"flow {self.label} {found.message(peer, cidrs)}")

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
    ssh_port: WholeNumber = Field(default=22, ge=1, le=65535)
    tags: dict[str, str] = Field(default_factory=dict)
    restrict_default_group: StrictBool = False

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
        most = AWS_TAG_LIMIT - len(HASG_TAG_KEYS)
        if len(tags) > most:
            raise ValueError(
                f"{len(tags)} tags, and hasg adds its own {len(HASG_TAG_KEYS)} "
                f"({', '.join(HASG_TAG_KEYS)}); AWS allows {AWS_TAG_LIMIT} per security group, "
                f"so a policy may have at most {most}"
            )
        for key, value in tags.items():
            check_tag(key, value)
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
                    try:
                        flow.check_open(getattr(self, peer.cidr_list), peer.cidr_list)
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
