"""Narrow a query to candidate items with a full-text index, without ever losing a match.

Stored items are indexed with SQLite FTS5 (`unicode61` tokenizer) over title and text. For an
item whose title and text are plain ASCII, FTS5 splits at least wherever the whole-word rule
does (every ASCII character that is not a letter or digit separates tokens; the rule's word
characters are letters, digits and _), and folds case as `text.fold` does, so a literal that
occurs as a whole word is found as an FTS5 phrase of its letter-and-digit runs. Items with any
non-ASCII character (folding by NFKC, accents, Han runs that the rule splits and FTS5 does not)
are always candidates; a literal with non-ASCII letters can only occur in those.

`fts_filter` returns the FTS5 expression every matching ASCII item satisfies, `EVERY` when the
query cannot be narrowed (only NOT, action:, regex or source: terms), or `NONE` when no ASCII
item can match (every term non-ASCII). The exact query still decides each candidate.
"""

from __future__ import annotations

import re
from typing import Final

from bot.domain.query import (
    Action,
    And,
    InField,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Query,
    Regex,
    VendorTerm,
    Word,
    atom_literals,
)

EVERY: Final = "*every*"
NONE: Final = "*none*"
_TOKEN = re.compile(r"[a-z0-9]+")


def fts_filter(query: Query) -> str:
    """Return the FTS5 expression for a query's candidates, or EVERY, or NONE."""
    return _filter(query.root)


def _filter(node: Node) -> str:
    if isinstance(node, Word | Phrase | Prefix | VendorTerm):
        return _any_of([_literal(lit.text, lit.prefix) for lit in atom_literals(node)])
    if isinstance(node, Regex | Action | Not):
        return EVERY
    if isinstance(node, InField):
        return EVERY if node.field == "source" else _filter(node.child)
    if isinstance(node, And):
        return _all_of([_filter(child) for child in node.children])
    if isinstance(node, Or):
        return _any_of([_filter(child) for child in node.children])
    if isinstance(node, Near):
        return _all_of([_filter(node.left), _filter(node.right)])
    return EVERY


def _literal(text: str, prefix: bool) -> str:
    if not text.isascii():
        return NONE  # only in items with non-ASCII text, which are always candidates
    tokens = _TOKEN.findall(text)
    if not tokens:
        return EVERY  # punctuation only ("++"): FTS5 cannot look for it
    return '"' + " ".join(tokens) + '"' + ("*" if prefix else "")


def _any_of(parts: list[str]) -> str:
    if EVERY in parts:
        return EVERY
    kept = list(dict.fromkeys(part for part in parts if part != NONE))
    if not kept:
        return NONE
    return kept[0] if len(kept) == 1 else "(" + " OR ".join(kept) + ")"


def _all_of(parts: list[str]) -> str:
    if NONE in parts:
        return NONE
    kept = list(dict.fromkeys(part for part in parts if part != EVERY))
    if not kept:
        return EVERY
    return kept[0] if len(kept) == 1 else "(" + " AND ".join(kept) + ")"
