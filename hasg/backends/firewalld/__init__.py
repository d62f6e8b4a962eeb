"""firewalld: a zone and its ipsets per host (`write.py`), built from and read
back into one model of firewalld's files (`files.py`, in firewalld's own
words: `spelling.py`); and the reading of a host's whole configuration
directory (`read.py`) that the audit evaluates (`evaluate.py`).

    hasg emit firewalld --inventory config.toml --out hosts/
    hasg audit --from firewalld /etc/firewalld --inventory config.toml --host 198.18.0.40
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hasg.backends.base import AuditSource, Capabilities, Options, host_backend
from hasg.backends.firewalld.evaluate import FirewalldView
from hasg.backends.firewalld.read import read_directory, read_files
from hasg.backends.firewalld.spelling import ICMP_TYPE_NAMES
from hasg.backends.firewalld.write import ZONE, emit, ipset_entries, ipset_name
from hasg.core.blueprint import Blueprint
from hasg.hosts.icmp import ICMP_OF
from hasg.hosts.options import HOST_PEER_KINDS, add_host_audit_arguments


def _read_files(files: Mapping[str, str], options: Options) -> Blueprint:
    return read_files(files)


def read_host(directory: Path) -> FirewalldView:
    """A host's firewalld configuration directory (as /etc/firewalld holds it)."""
    return FirewalldView(read_directory(directory))


def _read_path(path: Path, options: Options) -> FirewalldView:
    del options  # the host and its site are the audit's, not the reading's
    return read_host(path)


BACKEND = host_backend(
    "firewalld",
    "a firewalld zone and its ipsets per host (HOST/zones, HOST/ipsets), from an inventory",
    emit,
    _read_files,
    capabilities=Capabilities(
        HOST_PEER_KINDS,
        # Egress needs a firewalld policy object, which hasg does not write yet;
        # a rich rule's icmp-type matches every code of a type firewalld names.
        enforce_egress=False,
        icmp_codes=False,
        icmp_types={ICMP_OF[family]: frozenset(names) for family, names in ICMP_TYPE_NAMES.items()},
        instead="use the nftables target",
    ),
    audit=AuditSource(
        "a host's firewalld configuration directory, as /etc/firewalld holds it",
        _read_path,
        add_host_audit_arguments,
        of_a_host=True,
    ),
)


__all__ = [
    "BACKEND",
    "ZONE",
    "FirewalldView",
    "emit",
    "ipset_entries",
    "ipset_name",
    "read_files",
    "read_host",
]
