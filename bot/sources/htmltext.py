"""Turn feed HTML (or plain text) into short plain text for matching and alerts.

Regex stripping, not an HTML parser: it is several times faster (see notes/performance.md §1.1) and
the output is only ever shown as escaped text, so a tag the regex misreads costs a few stray
characters, never markup.
"""

from __future__ import annotations

import re
from html import unescape

TITLE_MAX_CHARS = 1_000
TEXT_MAX_CHARS = 10_000

# Look at a bounded prefix only: a feed may carry a whole book in content:encoded, and the text
# we keep is capped anyway. Tags inside the prefix still have to be stripped, so keep some slack.
_MAX_INPUT_CHARS = 200_000

# Script and style bodies are code, not text; an unterminated one runs to the end, as in browsers.
_DROP = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.IGNORECASE | re.DOTALL)
# Block-level tags separate words ("<p>a</p><p>b</p>" is "a b"); inline tags do not ("<b>K</b>aspersky").
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|tr|td|th|table|h[1-6]|blockquote|pre|hr|dd|dt|dl|section|article|"
    r"header|footer|figure|figcaption|img|iframe)\b[^>]*>",
    re.IGNORECASE,
)
# A tag starts with a letter, "/", "!" or "?"; a lone "<" as in "x < y" is text and stays.
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>")
_PARTIAL_TAG_AT_END = re.compile(r"<[A-Za-z/!?][^>]*\Z")
# C0 and C1 controls (tab, newline and carriage return become spaces when whitespace collapses).
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # End on a word boundary when one is near, so a cut word does not look like a different word.
    space = cut.rfind(" ", limit - 80)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def html_to_text(value: str | None, *, limit: int = TEXT_MAX_CHARS) -> str:
    """Return `value` (an HTML fragment) as plain text: no tags, entities decoded, whitespace collapsed."""
    if not value:
        return ""
    if len(value) > _MAX_INPUT_CHARS:
        value = _PARTIAL_TAG_AT_END.sub("", value[:_MAX_INPUT_CHARS])
    if "<" in value:
        value = _DROP.sub(" ", value)
        value = _BLOCK_TAG.sub(" ", value)
        value = _TAG.sub("", value)
    if "&" in value:
        value = unescape(value)
    return _cap(" ".join(value.translate(_CONTROLS).split()), limit)


def plain_text(value: str | None, *, limit: int = TEXT_MAX_CHARS) -> str:
    """Return `value` (already plain text) with controls removed and whitespace collapsed."""
    if not value:
        return ""
    if len(value) > _MAX_INPUT_CHARS:
        value = value[:_MAX_INPUT_CHARS]
    return _cap(" ".join(value.translate(_CONTROLS).split()), limit)
