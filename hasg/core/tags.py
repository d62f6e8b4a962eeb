"""Tags: the keys by which hasg knows its own groups, and the rules every tag
obeys (AWS's, and hasg's reserved keys).

Below the policy model (which checks a policy's tags with `check_tag`) and
the Blueprint (whose groups carry them), so that neither imports the other.
"""

from __future__ import annotations

import unicodedata

MANAGED_BY_TAG = "managed-by"
MANAGED_BY_VALUE = "hasg"
CLUSTER_TAG = "hasg:cluster"
ROLE_TAG = "hasg:role"
# Which policy a group was last applied from (docs/aws.md, "Concurrent applies").
POLICY_DIGEST_TAG = "hasg:policy-digest"
NAME_TAG = "Name"
# Keys hasg sets itself; policy tags may not use them, nor the `hasg:` prefix.
HASG_TAG_KEYS = (NAME_TAG, MANAGED_BY_TAG, CLUSTER_TAG, ROLE_TAG, POLICY_DIGEST_TAG)
RESERVED_TAG_PREFIX = "hasg:"
# Tags per resource (EC2 User Guide, "Tag restrictions"); hasg's own count too.
AWS_TAG_LIMIT = 50


def ownership_tags(cluster: str, role: str) -> dict[str, str]:
    """The tags by which hasg recognizes a group as its own."""
    return {MANAGED_BY_TAG: MANAGED_BY_VALUE, CLUSTER_TAG: cluster, ROLE_TAG: role}


# EC2 User Guide, "Tag restrictions": keys 1-128 and values 0-256 Unicode
# characters; letters, numbers and spaces, and _ . : / = + - @. Line and
# paragraph separators are Unicode "spaces" too, but break every line-based
# reader (terminals, HCL), so only space separators (Zs) count as spaces.
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_AWS_PREFIX = "aws:"


def _tag_character(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Zs" or char in _TAG_PUNCTUATION


def check_tag(key: str, value: str) -> None:
    """Refuse a tag AWS would refuse, or one that is hasg's or AWS's own."""
    if key in HASG_TAG_KEYS or key.lower().startswith(RESERVED_TAG_PREFIX):
        raise ValueError(
            f"tag {key!r}: hasg sets {', '.join(HASG_TAG_KEYS)} itself and reserves the "
            f"{RESERVED_TAG_PREFIX} prefix"
        )
    if key.lower().startswith(_AWS_PREFIX):
        raise ValueError(f"tag {key!r}: the {_AWS_PREFIX} prefix is reserved by AWS")
    if not 1 <= len(key) <= TAG_KEY_MAX:
        raise ValueError(f"tag key {key!r} must be 1 to {TAG_KEY_MAX} characters")
    if len(value) > TAG_VALUE_MAX:
        raise ValueError(f"tag {key!r}: value is longer than {TAG_VALUE_MAX} characters")
    for what, text in (("key", key), ("value", value)):
        # Terraform normalises every string to NFC; boto3 sends it as written.
        # Text that is not NFC would tag differently through emit-hcl and apply.
        nfc = unicodedata.normalize("NFC", text)
        if nfc != text:
            raise ValueError(
                f"tag {key!r}: the {what} is not in Unicode normal form C, which Terraform "
                f"would turn it into (apply would not); write {nfc!r}"
            )
        bad = sorted({c for c in text if not _tag_character(c)})
        if bad:
            raise ValueError(
                f"tag {key!r}: the {what} contains {''.join(bad)!r}, which AWS does not allow "
                "in tags (allowed: letters, digits, spaces and _.:/=+-@)"
            )
