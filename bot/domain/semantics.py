"""What a source's items mean: the semantics a source declares, and the context a row carries.

A source of any kind may declare, in its `[source.options]`:

- `issuer`: who publishes its items ("FCC", "BIS", "Council of the EU");
- `jurisdiction`: where that issuer acts ("US", "EU", "UK", "DE", ...);
- `action`: the action each of its items is, unless its text says otherwise (one of the action
  types: `ban`, `directive`, `sanction`, `entity_list`, `covered_list`, `guidance`, `fine`,
  `investigation`). The FCC Covered List page declares `covered_list`: a new row is an addition
  to the list even though the row's text names no action.

The pipeline passes them to the classifier as a `SourceContext`, with a page-watch row's page
title and nearest heading, and `why` shows them. Options, not new top-level keys, so the sources
file format stays as it was (an older regwatch ignores the three options).

Text sections: the pipeline appends the context of a row ("Listed on: <page> › <heading>") and
the body of a document ("Full text: …") to the item's text, after markers, so a plain phrase such
as `"covered list"` finds a row by its page and `why` can say which part of the text a term hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.errors import ConfigError
from bot.domain.models import SourceContext
from bot.domain.query import ACTION_TYPES as _QUERY_ACTIONS

ACTION_TYPES = tuple(a for a in _QUERY_ACTIONS if a != "any")
SEMANTIC_OPTIONS = ("issuer", "jurisdiction", "action")
_MAX_NAME = 100

# Where the pipeline puts a row's context and a document's body inside an item's text.
CONTEXT_MARK = " — Listed on: "
BODY_MARK = " — Full text: "
_SECTIONS = ((BODY_MARK, "body"), (CONTEXT_MARK, "page context"))


def check_semantics(options: Mapping[str, Any]) -> None:
    """Raise ConfigError when a source's issuer, jurisdiction or action option is malformed."""
    for key in SEMANTIC_OPTIONS:
        value = options.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_NAME:
            raise ConfigError(f"options.{key} must be a short non-empty string")
    action = options.get("action")
    if action is not None and action.strip() not in ACTION_TYPES:
        raise ConfigError(
            f"options.action {action!r} is not an action type; use one of {', '.join(ACTION_TYPES)}"
        )


def _clean(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def source_context(
    options: Mapping[str, Any] | None, *, page_title: str | None = None, heading: str | None = None
) -> SourceContext | None:
    """Return what a source declares about its items plus a row's page context (None: nothing)."""
    options = options or {}
    action = _clean(options.get("action"))
    context = SourceContext(
        issuer=_clean(options.get("issuer")),
        jurisdiction=_clean(options.get("jurisdiction")),
        action=action if action in ACTION_TYPES else None,
        title=_clean(page_title),
        heading=_clean(heading),
    )
    return None if context == SourceContext() else context


def row_context(page_title: str | None, heading: str | None) -> str:
    """Return a row's context as one line: "page title › heading" (empty when neither is known)."""
    return " › ".join(p for p in (_clean(page_title), _clean(heading)) if p)


def source_field(name: str, page_title: str | None = None, heading: str | None = None) -> str:
    """Return what `source:` searches for an item: the source's name, then a row's page context."""
    context = row_context(page_title, heading)
    return f"{name} — {context}" if context else name


def with_context(text: str, page_title: str | None, heading: str | None) -> str:
    """Append a row's page context to its text, after the context marker."""
    context = row_context(page_title, heading)
    return f"{text}{CONTEXT_MARK}{context}" if context else text


def with_body(text: str, body: str) -> str:
    """Append a document's full text to its summary, after the body marker."""
    return f"{text}{BODY_MARK}{body}" if body else text


def section_of(text: str, position: int) -> str:
    """Name the part of an item's text a position falls in: summary (row), body or page context."""
    best, name = -1, "row" if CONTEXT_MARK in text else "summary"
    for mark, section in _SECTIONS:
        at = text.rfind(mark, 0, position + 1)
        if at > best:
            best, name = at, section
    return name


def describe_context(context: SourceContext | None) -> str:
    """Say in words what a source declares and where a row stands ("" when nothing)."""
    if context is None:
        return ""
    parts = []
    if context.issuer:
        parts.append(
            f"issuer {context.issuer}" + (f" ({context.jurisdiction})" if context.jurisdiction else "")
        )
    elif context.jurisdiction:
        parts.append(f"jurisdiction {context.jurisdiction}")
    if context.action:
        parts.append(f"default action {context.action}")
    where = row_context(context.title, context.heading)
    if where:
        parts.append(f"listed on {where}")
    return ", ".join(parts)
