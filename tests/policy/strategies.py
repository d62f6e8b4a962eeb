"""Hypothesis strategies for valid policies, leaning on what files get wrong:
strings YAML would read as something else, shorthands that clash, IPv6."""

from __future__ import annotations

import ipaddress
import string
import unicodedata
from typing import Any

from hypothesis import strategies as st

from hasg import Policy
from hasg.core.networks import wide_open
from hasg.core.ports import WORLD_SAFE_TCP_PORTS
from hasg.core.tags import HASG_TAG_KEYS

# Strings a YAML 1.1 reader turns into booleans, nulls, numbers, dates or syntax.
YAML_LOOKALIKES = [
    "yes", "no", "on", "off", "y", "n", "true", "null", "~", "1e3", "0x1f", "0o17", "1_000",
    "1:20", "2024-01-01", "12.5", ".inf", "-", "- a", "a: b", "#c", "[a]", "{a}", "*a", "&a",
    "!a", "@a", " lead", "trail ", "<<", "=", "ssh", "all", "vpc", "user_cidrs",
]  # fmt: skip
AWS_TEXT_ALPHABET = string.ascii_letters + string.digits + " ._-:/()#,@[]+=&;{}!$*"

aws_text = st.one_of(
    st.sampled_from([w for w in YAML_LOOKALIKES if w.strip() and set(w) <= set(AWS_TEXT_ALPHABET)]),
    st.text(AWS_TEXT_ALPHABET, min_size=1, max_size=40).filter(str.strip),
)
role_ids = st.one_of(
    st.sampled_from(["vpc", "user_cidrs", "admin_cidrs", "no", "null", "true", "ssh", "all"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
)
clusters = st.one_of(
    st.sampled_from(["1e3", "true", "null", "123", "0o17", "1.5", "2024-01-01", "NO"]),
    st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}", fullmatch=True),
).filter(lambda c: not c.lower().startswith("sg-"))


@st.composite
def cidrs(draw: st.DrawFn) -> str:
    version = draw(st.sampled_from([4, 6]))
    address = draw(st.ip_addresses(v=version))
    prefix = draw(st.integers(0, 32 if version == 4 else 128))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def ports(ssh_port: int) -> st.SearchStrategy[Any]:
    ranges = st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(sorted)
    return st.one_of(
        st.just(ssh_port),
        st.integers(0, 65535),
        ranges.map(lambda r: f"tcp/{r[0]}-{r[1]}"),
        ranges.map(lambda r: f"udp/{r[0]}-{r[1]}"),
        st.sampled_from(["icmp", "all"]),
        st.integers(0, 255).map(lambda t: f"icmp/{t}"),
        st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: f"icmp/{t[0]}:{t[1]}"),
    )


def _wide(cidrs: list[str]) -> bool:
    return bool(wide_open(cidrs))


# Letters and digits of any script, space separators, and AWS's _ . : / = + - @
# (EC2 User Guide, "Tag restrictions"), in the form Terraform keeps (NFC).
tag_text = st.text(
    st.characters(categories=("L", "N", "Zs"), include_characters="_.:/=+-@"),
    max_size=20,
).map(lambda t: unicodedata.normalize("NFC", t))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    ids = draw(st.lists(role_ids, min_size=1, max_size=4, unique=True))
    user_cidrs = draw(st.lists(cidrs(), max_size=3, unique=True))
    admin_cidrs = draw(st.lists(cidrs(), max_size=2, unique=True))
    ssh_port = draw(st.integers(1, 65535))
    lists = {"user_cidrs": user_cidrs, "admin_cidrs": admin_cidrs}
    others: st.SearchStrategy[Any] = st.one_of(
        st.sampled_from(ids).map(lambda r: {"role": r}),
        cidrs().map(lambda c: {"cidr": c}),
        st.sampled_from(["user_cidrs", "admin_cidrs"]).map(lambda n: {"cidr_list": n}),
        st.just({"vpc": True}),
        st.builds(
            lambda digits, entries, family: {
                "prefix_list_id": f"pl-{digits}",
                "max_entries": entries,
                "address_family": family,
            },
            st.text("0123456789abcdef", min_size=8, max_size=17),
            st.integers(1, 1000),
            st.sampled_from(["IPv4", "IPv6"]),
        ),
    )
    names = draw(st.lists(aws_text, max_size=6, unique=True))
    flows = []
    for index in range(draw(st.integers(0, 6))):
        role = {"role": draw(st.sampled_from(ids))}
        other = draw(others)
        source, destination = (role, other) if draw(st.booleans()) else (other, role)
        flow_ports = draw(st.lists(ports(ssh_port), min_size=1, max_size=4))
        world = any(
            ("cidr" in p and _wide([p["cidr"]]))
            or ("cidr_list" in p and _wide(lists[p["cidr_list"]]))
            for p in (source, destination)
        )
        safe = all(p in WORLD_SAFE_TCP_PORTS for p in flow_ports)
        flow: dict[str, Any] = {
            "source": source,
            "destination": destination,
            "ports": flow_ports,
            "description": draw(aws_text),
            "public": draw(st.booleans()) or (world and not safe),
        }
        if index < len(names):
            flow["name"] = names[index]
        flows.append(flow)
    tags = draw(
        st.dictionaries(
            st.one_of(tag_text, st.sampled_from(YAML_LOOKALIKES)).filter(
                lambda k: (
                    0 < len(k) <= 128
                    and k not in HASG_TAG_KEYS
                    and not k.lower().startswith(("aws:", "hasg:"))
                    and all(c.isalnum() or c.isspace() or c in "_.:/=+-@" for c in k)
                )
            ),
            st.one_of(tag_text, st.sampled_from(YAML_LOOKALIKES)).filter(
                lambda v: all(c.isalnum() or c == " " or c in "_.:/=+-@" for c in v)
            ),
            max_size=3,
        )
    )
    return Policy.model_validate(
        {
            "cluster": draw(clusters),
            "roles": [
                {"id": r, "description": draw(aws_text), "managed": draw(st.booleans())}
                for r in ids
            ],
            "flows": flows,
            "user_cidrs": user_cidrs,
            "admin_cidrs": admin_cidrs,
            "ssh_port": ssh_port,
            "tags": tags,
        }
    )
