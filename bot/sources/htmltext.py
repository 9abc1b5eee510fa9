"""Turn feed HTML (or plain text) into short plain text for matching and alerts.

Regex stripping, not an HTML parser: it is several times faster and
the output is only ever shown as escaped text, so a tag the regex misreads costs a few stray
characters, never markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from typing import Any

TITLE_MAX_CHARS = 1_000
TEXT_MAX_CHARS = 10_000

# Look at a bounded prefix only: a feed may carry a whole book in content:encoded, and the text
# we keep is capped anyway. Tags inside the prefix still have to be stripped, so keep some slack.
_MAX_INPUT_CHARS = 200_000


def _anycase(word: str) -> str:
    # Spelled-out case classes instead of re.IGNORECASE: with IGNORECASE, `re` loses its fast scan
    # for the leading "<" and these patterns ran several times slower.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _trie_pattern(words: Iterable[str]) -> str:
    """Return a case-insensitive regex matching any of `words`, branching one letter at a time.

    `re` tries alternatives one by one; sharing prefixes makes the tag regex about twice as fast.
    """
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [_anycase(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(tree)


_BLOCK_NAMES = (
    "p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "dd", "dt", "dl", "section", "article", "header", "footer", "figure",
    "figcaption", "img", "iframe",
)  # fmt: skip
# Script and style bodies are code, not text; an unterminated one runs to the end, as in browsers.
_DROP = re.compile(
    rf"<({_anycase('script')}|{_anycase('style')})\b[^>]*>.*?(?:</{_anycase('script')}\s*>|"
    rf"</{_anycase('style')}\s*>|\Z)|<!--.*?(?:-->|\Z)",
    re.DOTALL,
)
_NEEDS_DROP = re.compile(rf"<(?:{_anycase('script')}|{_anycase('style')}|!--)")
# Block-level tags separate words ("<p>a</p><p>b</p>" is "a b"); inline tags do not ("<b>K</b>aspersky").
_BLOCK_TAG = re.compile(rf"</?(?:{_trie_pattern(_BLOCK_NAMES)})\b[^>]*>")
# A tag starts with a letter, "/", "?" or "!" and a letter, "-" or "[" (<!DOCTYPE, <!--, <![CDATA[);
# a lone "<" as in "x < y" or "<!'" is text and stays.
_TAG = re.compile(r"<(?:[A-Za-z/?]|![A-Za-z\[-])[^>]*>")
_PARTIAL_TAG_AT_END = re.compile(r"<(?:[A-Za-z/?]|![A-Za-z\[-])[^>]*\Z")
# C0 and C1 controls that survive whitespace splitting (str.split already removes \t, \n, \x1c-\x1f...).
_CONTROLS = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)])


def _collapse(value: str) -> str:
    text = " ".join(value.split())
    # isprintable() is a fast C scan; only text that really holds a control pays for translate().
    return text if text.isprintable() else text.translate(_CONTROLS)


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
        if _NEEDS_DROP.search(value):
            value = _DROP.sub(" ", value)
        value = _BLOCK_TAG.sub(" ", value)
        value = _TAG.sub("", value)
    if "&" in value:
        value = unescape(value)
    return _cap(_collapse(value), limit)


def plain_text(value: str | None, *, limit: int = TEXT_MAX_CHARS) -> str:
    """Return `value` (already plain text) with controls removed and whitespace collapsed."""
    if not value:
        return ""
    if len(value) > _MAX_INPUT_CHARS:
        value = value[:_MAX_INPUT_CHARS]
    return _cap(_collapse(value), limit)
