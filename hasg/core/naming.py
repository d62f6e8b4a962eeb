"""Names made from what things are, kept unique: the one way every target
names its resources (Terraform's rule resources, CloudFormation's logical
ids), so that reordering a policy renames, and so recreates, nothing.

A readable name can clash with another (a role `a_1` and a role `a1`, a role
named like a parameter). Every name that clashes, and only those, takes a
suffix from a hash of what it stands for, longer until none clash; which
names clash depends on the set of things named, never on their order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)
# Digest lengths tried in turn: 8 hex digits almost always do.
_WIDTHS = (8, 16, 64)


def unique_names(
    readable: Mapping[Key, str],
    identity: Callable[[Key], Sequence[object]],
    *,
    namespace: Callable[[Key], Hashable] = lambda key: None,
    acceptable: Callable[[str], bool] = lambda name: True,
    suffixed: Callable[[str, str], str] = lambda name, digest: f"{name}_{digest}",
) -> dict[Key, str]:
    """Each key's name: its readable name, or where that clashes within its
    `namespace` (or is not `acceptable`), the name `suffixed` with a digest
    of its `identity` (a JSON-able list of what it is)."""
    names = dict(readable)
    for width in _WIDTHS:
        seen = Counter((namespace(key), name) for key, name in names.items())
        clashing = [
            key
            for key, name in names.items()
            if seen[(namespace(key), name)] > 1 or not acceptable(name)
        ]
        if not clashing:
            return names
        # Only where names clash: `hasg emit-hcl` starts without these.
        import hashlib
        import json

        for key in clashing:
            digest = hashlib.sha256(json.dumps(list(identity(key))).encode()).hexdigest()[:width]
            names[key] = suffixed(readable[key], digest)
    raise AssertionError(f"names still clash: {sorted(names.values())}")
