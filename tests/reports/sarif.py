"""SARIF judged by the OASIS SARIF 2.1.0 JSON Schema (vendored: README.md)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


# RFC 3986: the characters a URI reference may hold (2.2, 2.3, percent-encoded 2.1),
# and a scheme (3.1) for a URI. jsonschema checks "uri" and "uri-reference" only
# with a package this machine does not have, so the test brings its own check.
_URI_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _uri_reference(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI_CHARACTERS.fullmatch(value))


def _uri(value: object) -> bool:
    return not isinstance(value, str) or (_uri_reference(value) and bool(_SCHEME.match(value)))


@cache
def validator() -> Any:
    """The schema's own draft (draft-04), checking formats too: a SARIF log's
    URIs and dates are part of what makes it valid."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(_uri)
    formats.checks("uri-reference")(_uri_reference)
    return cls(schema, format_checker=formats)


def valid_sarif(text: str) -> dict[str, Any]:
    """The log, once the schema finds nothing wrong with it (else it raises
    jsonschema.ValidationError, naming the first problem)."""
    log: dict[str, Any] = json.loads(text)
    validator().validate(log)
    return log


def results(log: dict[str, Any]) -> list[dict[str, Any]]:
    (run,) = log["runs"]
    found: list[dict[str, Any]] = run["results"]
    return found
