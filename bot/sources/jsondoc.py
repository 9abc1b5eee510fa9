"""Shared reading for JSON API adapters: decode the body, refuse what is not JSON, read plain fields."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.domain.errors import ParseError, WrongShape
from bot.sources.htmltext import TITLE_MAX_CHARS, html_to_text, plain_text

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def load_json(body: bytes, *, max_bytes: int, what: str) -> Any:
    """Decode a JSON document, or raise ParseError saying why it is not `what`."""
    if len(body) > max_bytes:
        raise ParseError(f"document is larger than {max_bytes} bytes")
    # JSON is UTF-8 (RFC 8259); a BOM is tolerated, bad bytes become U+FFFD rather than an error.
    text = bytes(body).decode("utf-8-sig", errors="replace").lstrip()
    if not text:
        raise ParseError("empty document")
    if text[0] == "<":
        # A WAF challenge or a moved page answers 200 with HTML: a broken source, not an empty one.
        raise ParseError(f"not {what}: the server sent HTML or XML, not JSON")
    return decode_json(text)


def decode_json(text: str) -> Any:
    """Parse JSON text, or raise ParseError with the position and the reason."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's conversion limit
        raise ParseError(f"invalid JSON: {exc}") from None


def shape_error(doc: object, what: str) -> WrongShape:
    """Return the error for a JSON document that is not `what`, naming what it is instead.

    Its type tells a caller trying several adapters (bot/sources/adapters.py) to try the next.
    """
    if isinstance(doc, dict):
        keys = ", ".join(sorted(str(k) for k in doc)[:8])
        detail = f"top-level keys: {keys}" if keys else "an empty object"
    else:
        detail = f"a top-level {type(doc).__name__}"
    return WrongShape(f"JSON but not {what} ({detail})")


def text_of(value: object, *, limit: int = TITLE_MAX_CHARS, html: bool = False) -> str:
    """Return a field as capped plain text ("" when it is missing or not a string)."""
    if not isinstance(value, str):
        return ""
    return html_to_text(value, limit=limit) if html else plain_text(value, limit=limit)


def day_of(value: object) -> datetime | None:
    """Return a "YYYY-MM-DD" field as midnight UTC, or None when it is missing or invalid."""
    if not isinstance(value, str) or not (m := _DAY.fullmatch(value.strip())):
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    except ValueError:
        return None


def http_link(value: object) -> str | None:
    """Return an absolute http(s) URL field, or None for anything else."""
    if not isinstance(value, str):
        return None
    link = value.strip()
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def dicts(value: object) -> list[Mapping[str, Any]]:
    """Return the objects of a JSON array field, skipping anything that is not an object."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
