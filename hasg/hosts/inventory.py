"""Which hosts play which role: the addresses a host firewall needs.

Security groups name a role's members by group; a host firewall can only
name addresses. An inventory says, for each role, the addresses of its hosts,
and which networks stand for the policy's `vpc` peer. Two forms are read:

- Chef Automate HA's own `config.toml`, as `chef-automate init-config-ha
  existing_infra` writes it (chef/automate, components/automate-cli,
  `haExistingNodesConfigTemplate`): the `[existing_infra.config]`
  `<role>_private_ips` lists, checked against each `[<role>.config]`
  `instance_count` (the template's own comment: "No. of IP address should be
  the same as the No. of instance_count"), `[architecture.existing_infra]`
  `ssh_user`, `ssh_key_file` and `ssh_port` (how `hasg probe` reaches the
  hosts, read as chef-automate reads them: `initConfigHa.go`,
  `ExistingInfraConfigInitialsToml`, strings, empty meaning unset), and
  `[external.database]`: when its `type` is set ("aws" or
  "self-managed"), PostgreSQL and OpenSearch run elsewhere and have no hosts
  of ours. The bastion is not in that file; it comes from `--bastion`.
- A small YAML or JSON inventory for any policy:

      roles:
        automate: [198.18.0.10, 198.18.0.11]
        postgresql:
          - [198.18.0.20, "fd00:18::20"]   # one dual-stack host
      networks: [198.18.0.0/24]            # what the `vpc` peer means here
      ssh_port: 22                         # optional, and so are:
      ssh_user: ubuntu                     #   who `hasg probe` logs in as
      ssh_key_file: ~/.ssh/A2HA.pem        #   with which private key

A host is one list item: an address, or a list of one host's addresses (at
most one per family). A host is named by its IPv4 address, or its IPv6
address when it has no IPv4 one.

One host in two roles is refused, although Chef's docs allow co-locating
PostgreSQL and OpenSearch: a host firewall here is the firewall of one role,
and merging two roles' rules silently would make the audit unable to say
which role a rule serves.

Every problem is reported with file:line:column (`InventoryError`), before
anything is written.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import total_ordering
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hasg.core.input_files import check_nesting, read_text_capped
from hasg.core.networks import Address, Family, canonical_cidr, family_of, why_not_a_host
from hasg.core.yaml_source import MAX_DEPTH, mark_position, parse_yaml
from hasg.errors import InventoryError, PolicyFileError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

_Value = TypeVar("_Value")

# The roles `config.toml` lists, by the prefix of their `_private_ips` key.
CHEF_ROLES = ("automate", "chef_server", "opensearch", "postgresql")
# What an external database (`[external.database] type`) takes off our hosts.
CHEF_DATABASE_ROLES = ("opensearch", "postgresql")
BASTION_ROLE = "bastion"
_DEFAULT_SSH_PORT = 22
# The SSH settings that are text, and what each one is.
SSH_TEXT_SETTINGS = {"ssh_user": "user name", "ssh_key_file": "private key file's path"}
# An inventory lists a cluster's hosts: kilobytes. As for policy files, this
# bounds what a hostile file (`/dev/zero`) can cost far above any real one.
MAX_INVENTORY_BYTES = 1 << 20


@total_ordering
@dataclass(frozen=True)
class Host:
    """One machine: its role and its addresses (IPv4 first, at most one per family).

    Hosts sort by role, then by address, IPv4 before IPv6: a role may hold
    hosts of either family, and addresses of two families do not compare."""

    role: str
    addresses: tuple[Address, ...]

    def _order(self) -> tuple[str, tuple[tuple[int, int], ...]]:
        return (self.role, tuple((a.version, int(a)) for a in self.addresses))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Host):
            return NotImplemented
        return self._order() < other._order()

    @property
    def name(self) -> str:
        """What its files are named by: its IPv4 address, else its IPv6 one."""
        return str(self.addresses[0])

    def address(self, family: Family) -> Address | None:
        return next((a for a in self.addresses if family_of(a) == family), None)


@dataclass(frozen=True)
class Inventory:
    """The hosts of each role, and the networks that stand for the `vpc` peer.

    `places` says where each role (and `networks`) was written, so that a
    later refusal (an empty role the policy needs) still names file:line:col.
    """

    file: str
    hosts: tuple[Host, ...]
    networks: tuple[str, ...] = ()
    ssh_port: int | None = None
    external_roles: frozenset[str] = frozenset()
    places: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # How `hasg probe` logs in; None: as ssh would (its own config, the user).
    ssh_user: str | None = None
    ssh_key_file: str | None = None

    def hosts_of(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == role)

    def addresses_of(self, role: str, family: Family) -> tuple[Address, ...]:
        found = (h.address(family) for h in self.hosts_of(role))
        return tuple(sorted((a for a in found if a is not None), key=int))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted({h.role for h in self.hosts}))

    def host(self, name: str) -> Host:
        """The host with this address (any of its addresses, any spelling)."""
        try:
            wanted = ipaddress.ip_address(name)
        except ValueError:
            raise InventoryError(
                [Problem(0, 0, self.file, "", f"{name!r} is not an address")]
            ) from None
        for host in self.hosts:
            if wanted in host.addresses:
                return host
        raise InventoryError([Problem(0, 0, self.file, "", f"no host has the address {name}")])

    def problem(self, key: str, message: str) -> Problem:
        """A problem about a role (or `networks`), placed where the file names it."""
        line, column = self.places.get(key, (0, 0))
        return Problem(line, column, self.file, key, message)

    def with_options(
        self, *, bastion: Sequence[str] = (), networks: Sequence[str] = ()
    ) -> Inventory:
        """The inventory with `--bastion ADDRESS` and `--network CIDR` added.

        A bastion given both here and in the file is refused: two answers to
        one question. `--network` replaces nothing either: the networks add up.
        """
        problems: list[Problem] = []
        added: list[Host] = []
        if bastion:
            if self.hosts_of(BASTION_ROLE):
                problems.append(
                    self.problem(BASTION_ROLE, "the bastion is listed here and given by --bastion")
                )
            added = [
                Host(BASTION_ROLE, (a,))
                for a in _parsed(_address, bastion, "--bastion", problems, self.file)
            ]
        cidrs = [*self.networks, *_parsed(_network, networks, "--network", problems, self.file)]
        hosts = (*self.hosts, *added)
        problems += _shared_addresses(hosts, self.file)
        if problems:
            raise InventoryError(problems)
        return replace(self, hosts=tuple(sorted(hosts)), networks=tuple(sorted(set(cidrs))))


def load_inventory(path: Path) -> Inventory:
    """Read `config.toml` (by its `.toml` suffix) or a YAML/JSON inventory."""
    text = read_text_capped(path, MAX_INVENTORY_BYTES, "inventory", InventoryError)
    if path.suffix.lower() == ".toml":
        return load_chef_config(text, name=str(path))
    return load_inventory_text(text, name=str(path))


# --------------------------------------------------------------------------- shared checks


def _address(text: object) -> Address:
    """A host address, strictly: no prefix, no zone id, a unicast host."""
    if not isinstance(text, str) or not text.isascii() or not text.isprintable():
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address")
    if "%" in text:
        raise ValueError(f"{text!r} has an IPv6 zone id (%...); give the address alone")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Else one host could hide under two spellings, one per family.
        raise ValueError(f"{text} is an IPv4-mapped IPv6 address; write {address.ipv4_mapped}")
    why = why_not_a_host(address)
    if why is not None:
        raise ValueError(f"{text} cannot be a host's address: it is {why}")
    return address


def _network(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a valid IPv4 or IPv6 CIDR")
    return canonical_cidr(value)


def _parsed(
    parse: Callable[[object], _Value],
    values: Iterable[object],
    where: str,
    problems: list[Problem],
    file: str,
    line: int = 0,
    column: int = 0,
) -> list[_Value]:
    """Each value parsed; each one that does not parse is a problem, placed."""
    found = []
    for value in values:
        try:
            found.append(parse(value))
        except ValueError as error:
            problems.append(Problem(line, column, file, where, str(error)))
    return found


def _shared_addresses(
    hosts: Iterable[Host],
    file: str,
    places: Mapping[str, tuple[int, int]] | None = None,
    path: str = "{}",
) -> list[Problem]:
    """An address may belong to one host, and a host to one role. The problem
    sits where the later role is written (`places`, `path` by role)."""
    owner: dict[Address, Host] = {}
    problems = []
    for host in hosts:
        for address in host.addresses:
            other = owner.setdefault(address, host)
            if other is not host:
                where = (
                    "twice in " + host.role
                    if other.role == host.role
                    else (f"in {other.role} and in {host.role}")
                )
                problems.append(
                    Problem(
                        *(places or {}).get(host.role, (0, 0)),
                        file,
                        path.format(host.role),
                        f"{address} is listed {where}; a host firewall serves one role",
                    )
                )
    return problems


def _host(role: str, addresses: Sequence[Address]) -> Host:
    return Host(role, tuple(sorted(addresses, key=lambda a: (a.version, a))))


# --------------------------------------------------------------------------- YAML / JSON


def load_inventory_text(text: str, *, name: str = "<inventory>") -> Inventory:
    """A YAML (or JSON, which YAML reads) inventory: roles, networks, and the
    SSH settings (ssh_port, ssh_user, ssh_key_file)."""
    try:
        # The policy file's reader: broken YAML, an empty file, a key given twice.
        root = parse_yaml(text, name).root
    except PolicyFileError as error:
        raise InventoryError(error.problems) from None
    assert root is not None  # _parse_yaml refuses an empty file
    problems: list[Problem] = []
    here = _Here(name, problems)
    top = here.mapping(root, "")
    hosts: list[Host] = []
    places: dict[str, tuple[int, int]] = {}
    networks: list[str] = []
    ssh_port: int | None = None
    ssh: dict[str, str] = {}
    for key, value in top.items():
        if key.value == "roles":
            for role_key, role_value in here.mapping(value, "roles").items():
                role = str(role_key.value)
                places[role] = mark_position(role_key.start_mark)
                hosts += here.hosts(role, role_value)
        elif key.value == "networks":
            places["networks"] = mark_position(key.start_mark)
            for item in here.sequence(value, "networks"):
                networks += here.scalars(item, "networks", _network)
        elif key.value == "ssh_port":
            places["ssh_port"] = mark_position(key.start_mark)
            ssh_port = here.port(value, "ssh_port")
        elif key.value in SSH_TEXT_SETTINGS:
            places[key.value] = mark_position(key.start_mark)
            ssh.update(here.ssh_text(key.value, value))
        else:
            here.add(
                key,
                str(key.value),
                "unknown key; an inventory has roles, networks, ssh_port, ssh_user, ssh_key_file",
            )
    if "roles" not in {k.value for k in top}:
        here.add(root, "", "an inventory needs `roles:` (role -> list of addresses)")
    problems += _shared_addresses(hosts, name, places, "roles.{}")
    if problems:
        raise InventoryError(problems)
    return Inventory(
        name,
        tuple(sorted(hosts)),
        tuple(sorted(set(networks))),
        ssh_port,
        places=places,
        ssh_user=ssh.get("ssh_user"),
        ssh_key_file=ssh.get("ssh_key_file"),
    )


@dataclass
class _Here:
    """Reads YAML nodes, recording each problem where its node starts."""

    file: str
    problems: list[Problem]

    def add(self, node: yaml.Node, path: str, message: str) -> None:
        self.problems.append(Problem(*mark_position(node.start_mark), self.file, path, message))

    def mapping(self, node: yaml.Node, path: str) -> dict[yaml.ScalarNode, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.add(node, path, "should be a mapping")
            return {}
        return {k: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.ScalarNode):
            return [node]
        self.add(node, path, "should be a list")
        return []

    def scalars(
        self, node: yaml.Node, path: str, parse: Callable[[object], _Value]
    ) -> list[_Value]:
        if not isinstance(node, yaml.ScalarNode):
            self.add(node, path, "should be a single value")
            return []
        return list(
            _parsed(
                parse, [node.value], path, self.problems, self.file, *mark_position(node.start_mark)
            )
        )

    def hosts(self, role: str, node: yaml.Node) -> Iterator[Host]:
        path = f"roles.{role}"
        for item in self.sequence(node, path):
            parts = list(item.value) if isinstance(item, yaml.SequenceNode) else [item]
            addresses = [a for part in parts for a in self.scalars(part, path, _address)]
            families = [a.version for a in addresses]
            if len(set(families)) != len(families):
                self.add(item, path, "one host has at most one IPv4 and one IPv6 address")
            elif addresses:
                yield _host(role, addresses)

    def ssh_text(self, key: str, node: yaml.Node) -> dict[str, str]:
        if not isinstance(node, yaml.ScalarNode):
            self.add(node, key, "should be a single value")
            return {}
        try:
            text = ssh_setting(key, node.value)
        except ValueError as error:
            self.add(node, key, str(error))
            return {}
        return {} if text is None else {key: text}

    def port(self, node: yaml.Node, path: str) -> int | None:
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isdecimal()
            and 1 <= int(value) <= 65535
        ):
            return int(value)
        self.add(node, path, f"{value!r} is not a port (1-65535)")
        return None


# --------------------------------------------------------------------------- config.toml

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_-]+)\s*=")
# A TOML basic string (escapes kept as written: addresses have none) or literal string.
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')


def load_chef_config(text: str, *, name: str = "config.toml") -> Inventory:
    """The hosts of `chef-automate init-config-ha existing_infra`'s config.toml."""
    # tomllib recurses once per nested array or inline table.
    check_nesting(text, MAX_DEPTH, name, InventoryError, syntax="toml")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_POSITION.search(str(error))
        line, column = (int(found[1]), int(found[2])) if found else (0, 0)
        message = _TOML_POSITION.sub("", str(error)).strip()
        raise InventoryError([Problem(line, column, name, "", f"broken TOML: {message}")]) from None
    where = _TomlPlaces(text)
    problems: list[Problem] = []

    def add(section: str, key: str, message: str, value: str | None = None) -> None:
        line, column = where.of(section, key, value)
        problems.append(Problem(line, column, name, f"{section}.{key}", message))

    architecture = _table(document, "architecture")
    if "existing_infra" not in architecture:
        kinds = ", ".join(sorted(architecture)) or "none"
        raise InventoryError(
            [
                Problem(
                    0,
                    0,
                    name,
                    "architecture",
                    f"is not an on-premises (existing_infra) config.toml (architecture: {kinds}); "
                    "for AWS use `hasg apply` or `hasg emit-hcl`",
                )
            ]
        )
    existing_infra = _table(architecture, "existing_infra")
    ssh_port = _ssh_port(existing_infra.get("ssh_port", ""), add)
    ssh: dict[str, str] = {}
    for key in SSH_TEXT_SETTINGS:
        try:
            setting = ssh_setting(key, existing_infra.get(key, ""))
        except ValueError as error:
            add("architecture.existing_infra", key, str(error))
            continue
        if setting is not None:
            ssh[key] = setting
    external_type = _table(_table(document, "external"), "database").get("type", "")
    external = frozenset(CHEF_DATABASE_ROLES) if external_type else frozenset()
    ips = _table(_table(document, "existing_infra"), "config")
    hosts: list[Host] = []
    places: dict[str, tuple[int, int]] = {}
    for role in CHEF_ROLES:
        key = f"{role}_private_ips"
        places[role] = where.of("existing_infra.config", key)
        values = ips.get(key, [])
        if not isinstance(values, list):
            add("existing_infra.config", key, "should be a list of addresses")
            continue
        addresses = []
        for value in values:
            try:
                addresses.append(_address(value))
            except ValueError as error:
                add(
                    "existing_infra.config",
                    key,
                    str(error),
                    value if isinstance(value, str) else None,
                )
        count = _table(_table(document, role), "config").get("instance_count", "")
        _check_count(role, count, len(values), role in external, add)
        hosts += [_host(role, [a]) for a in addresses]
    for key in ("ssh_port", *SSH_TEXT_SETTINGS):
        places[key] = where.of("architecture.existing_infra", key)
    problems += _shared_addresses(hosts, name, places, "existing_infra.config.{}_private_ips")
    if problems:
        raise InventoryError(problems)
    return Inventory(
        name,
        tuple(sorted(hosts)),
        (),
        ssh_port,
        external,
        places,
        ssh_user=ssh.get("ssh_user"),
        ssh_key_file=ssh.get("ssh_key_file"),
    )


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    return value if isinstance(value, Mapping) else {}


def _ssh_port(value: object, add: Any) -> int:
    """`ssh_port` is a string in Chef's template; empty means 22 ("default will be 22")."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text == "":
        return _DEFAULT_SSH_PORT
    if text is not None and text.isascii() and text.isdecimal() and 1 <= int(text) <= 65535:
        return int(text)
    add("architecture.existing_infra", "ssh_port", f"{value!r} is not a port (1-65535)")
    return _DEFAULT_SSH_PORT


def ssh_setting(key: str, value: object) -> str | None:
    """`ssh_user` or `ssh_key_file` as written; None when unset (Chef's
    template leaves both "" until filled in). One line of printable text, and
    a user that ssh cannot read as an option: it is handed to `ssh -l`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.isprintable() or value != value.strip():
        raise ValueError(f"{value!r} is not a {SSH_TEXT_SETTINGS[key]}")
    if key == "ssh_user" and (value.startswith("-") or any(c.isspace() for c in value)):
        raise ValueError(f"{value!r} is not a {SSH_TEXT_SETTINGS[key]}")
    return value


def _check_count(role: str, count: object, listed: int, external: bool, add: Any) -> None:
    key = f"{role}_private_ips"
    if external:
        if listed:
            add(
                "existing_infra.config",
                key,
                f"lists {listed} hosts, but [external.database] runs {role} elsewhere",
            )
        return
    text = str(count) if isinstance(count, (str, int)) and not isinstance(count, bool) else ""
    if not (text.isascii() and text.isdecimal()):
        add(f"{role}.config", "instance_count", f"{count!r} is not a number of instances")
    elif int(text) != listed:
        add(
            "existing_infra.config",
            key,
            f"lists {listed} addresses, but [{role}.config] instance_count is {text}",
        )


class _TomlPlaces:
    """Where a key (or a string value after it) is written in a TOML file.

    tomllib gives values, not positions; config.toml is hand-edited, so an
    error must point at the line to fix. Tables written `[a.b]` or nested
    (`[a]` then an indented `[a.b]`, as Chef's docs show) are both found.

    The file is read once for its keys, and a key's values once, the first
    time one is asked for: a file with 20,000 bad addresses is placed in one
    pass, not one pass per address. A value listed twice is placed at each of
    its places in turn.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.keys: dict[tuple[str, str], int] = {}  # (section, key) -> line index
        self.columns: dict[int, int] = {}
        self.values: dict[tuple[str, str], dict[str, deque[tuple[int, int]]]] = {}
        current = ""
        for number, line in enumerate(self.lines):
            header = _HEADER.match(line)
            if header:
                current = re.sub(r"\s*\.\s*", ".", header[1])
                continue
            found = _KEY.match(line)
            if found and (current, found[2]) not in self.keys:
                self.keys[(current, found[2])] = number
                self.columns[number] = len(found[1]) + 1

    def of(self, section: str, key: str, value: str | None = None) -> tuple[int, int]:
        number = self.keys.get((section, key))
        if number is None:
            return (0, 0)
        if value is None:
            return (number + 1, self.columns[number])
        if (section, key) not in self.values:
            self.values[(section, key)] = self._strings(number)
        places = self.values[(section, key)].get(value)
        if not places:
            return (number + 1, 1)
        return places.popleft() if len(places) > 1 else places[0]

    def _strings(self, start: int) -> dict[str, deque[tuple[int, int]]]:
        """Each quoted string from the key's line to the next table, and where."""
        found: dict[str, deque[tuple[int, int]]] = {}
        for number in range(start, len(self.lines)):
            line = self.lines[number]
            if number > start and _HEADER.match(line):
                break
            for string in _QUOTED.finditer(line):
                text = string[1] if string[1] is not None else string[2]
                found.setdefault(text, deque()).append((number + 1, string.start() + 1))
        return found
