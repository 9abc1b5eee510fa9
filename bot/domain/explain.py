"""Why an item matched a query: which term hit, in which field, under which alias; and the
classifier's verdict. Computed only for (item, subscription) pairs that matched, so the
matcher's hot path stays as it is.

`classify_verdict` is the one place the pipeline asks the action classifier for an action and
its reasons: switching to a richer classifier changes this function only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2

from bot.domain.classifier import classify_item
from bot.domain.models import MatchDoc, SourceContext
from bot.domain.query import (
    Action,
    And,
    InField,
    Literal,
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
    format_node,
    regex_options,
)
from bot.domain.semantics import describe_context, section_of
from bot.domain.text import FoldedText, fold, is_word_char
from bot.domain.vendors import VendorCatalog

FIELDS = ("title", "summary", "source")
_DEFAULT_FIELDS = ("title", "summary")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classifier's answer for one item: the action type (or None) and why."""

    action: str | None
    reasons: tuple[str, ...] = ()
    issuer: str | None = None
    jurisdiction: str | None = None
    targets: tuple[str, ...] = ()
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class TermHit:
    """One query term found in an item: the term as written in the query, where, and as what."""

    term: str
    field: str  # title | summary | row | body | page context | source | classifier
    matched: str  # the words as they appear in the item (the action type for action: terms)
    alias: str | None = None  # for vendor: terms, the catalog name that hit


def classify_verdict(title: str, text: str, context: SourceContext | None = None) -> Verdict:
    """Classify an item's action and say why (the seam to the action classifier).

    `context` is what the item's source declares (issuer, jurisdiction, default action) and a
    page-watch row's page title and heading.
    """
    found = classify_item(title, text, VendorCatalog.load_default(), context)
    if found.action is None:
        return Verdict(
            None, found.reasons or ("no regulatory action cue in the title or the lead of the text",)
        )
    return Verdict(
        found.action, found.reasons, found.issuer, found.jurisdiction, found.targets, found.severity
    )


def _atoms(
    node: Node, fields: tuple[str, ...], negated: bool = False
) -> Iterator[tuple[Node, tuple[str, ...]]]:
    """Yield each positive atom with the fields it searches (atoms under NOT explain nothing)."""
    if isinstance(node, Not):
        return
    if isinstance(node, InField):
        yield from _atoms(node.child, (node.field,))
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _atoms(child, fields)
    elif isinstance(node, Near):
        yield from _atoms(node.left, fields)
        yield from _atoms(node.right, fields)
    else:
        yield node, fields


def _find(folded: FoldedText, literal: str, prefix: bool) -> tuple[int, int] | None:
    """Return the original span of the first whole-word occurrence of a folded literal."""
    text = folded.folded
    check_left = is_word_char(literal[0])
    check_right = not prefix and is_word_char(literal[-1])
    start = text.find(literal)
    while start >= 0:
        end = start + len(literal)
        left_ok = not (check_left and start and is_word_char(text[start - 1]))
        right_ok = not (check_right and end < len(text) and is_word_char(text[end]))
        if left_ok and right_ok:
            if prefix:
                while end < len(text) and is_word_char(text[end]):
                    end += 1
            return folded.original_span(start, end)
        start = text.find(literal, start + 1)
    return None


@lru_cache(maxsize=8192)
def _looks_for(atom: Word | Phrase | Prefix | VendorTerm) -> tuple[tuple[Literal, ...], dict[str, str]]:
    """Return an atom's folded literals and, for a vendor, its aliases by folded form (read-only).

    Cached: a vendor has dozens of aliases in all scripts, and every alert is explained.
    """
    aliases = {fold(a).strip(): a for a in atom.aliases} if isinstance(atom, VendorTerm) else {}
    return atom_literals(atom), aliases


_term = lru_cache(maxsize=8192)(format_node)


def _hit(atom: Node, field: str, folded: FoldedText) -> TermHit | None:
    term = _term(atom)
    if isinstance(atom, Regex):
        found = re2.compile(atom.pattern, regex_options()).search(folded.original)
        return TermHit(term, field, found.group(0)) if found is not None else None
    if not isinstance(atom, Word | Phrase | Prefix | VendorTerm):
        return None
    literals, aliases = _looks_for(atom)
    best: tuple[tuple[int, int], str] | None = None
    text = folded.folded
    for literal in literals:
        if literal.text not in text:
            continue  # most aliases of a vendor are not in the item: no call for them
        span = _find(folded, literal.text, literal.prefix)
        # The longest alias found names the hit best ("AO Kaspersky Lab" over "Kaspersky").
        if span is not None and (best is None or span[1] - span[0] > best[0][1] - best[0][0]):
            best = span, literal.text
    if best is None:
        return None
    (start, end), literal_text = best
    matched = " ".join(folded.original[start:end].split())
    if field == "summary":
        # A row's text, the page context appended to it, or a document's fetched body.
        field = section_of(folded.original, start)
    return TermHit(term, field, matched, aliases.get(literal_text))


def term_hits(query: Query, doc: MatchDoc) -> list[TermHit]:
    """Return, for each positive term of the query, where it occurs in the item (first per field)."""
    texts = {"title": doc.title, "summary": doc.summary, "source": doc.source}
    folded: dict[str, FoldedText] = {}
    hits: list[TermHit] = []
    seen: set[tuple[str, str]] = set()
    for atom, fields in _atoms(query.root, _DEFAULT_FIELDS):
        if isinstance(atom, Action):
            if doc.action is not None and atom.kind in ("any", doc.action):
                hits.append(TermHit(format_node(atom), "classifier", doc.action))
            continue
        for field in fields:
            key = (_term(atom), field)
            if key in seen:
                continue
            if field not in folded:
                folded[field] = FoldedText(texts[field] or "")
            hit = _hit(atom, field, folded[field])
            if hit is not None:
                seen.add(key)
                hits.append(hit)
    return hits


def missing_terms(query: Query, doc: MatchDoc) -> list[str]:
    """Return the positive terms of the query that the item does not contain."""
    found = {hit.term for hit in term_hits(query, doc)}
    missing: dict[str, None] = {}
    for atom, _ in _atoms(query.root, _DEFAULT_FIELDS):
        term = format_node(atom)
        if term not in found:
            missing.setdefault(term, None)
    return list(missing)


def explanation_record(
    hits: list[TermHit], verdict: Verdict, context: SourceContext | None = None
) -> dict[str, Any]:
    """Return the JSON-ready record stored with an alert."""
    declared = describe_context(context)
    return ({"source": declared} if declared else {}) | {
        "terms": [
            {"term": h.term, "field": h.field, "matched": h.matched}
            | ({"alias": h.alias} if h.alias is not None else {})
            for h in hits
        ],
        "classifier": {
            "action": verdict.action,
            "reasons": list(verdict.reasons),
            "issuer": verdict.issuer,
            "jurisdiction": verdict.jurisdiction,
            "targets": list(verdict.targets),
            "severity": verdict.severity,
        },
    }


def describe(record: dict[str, Any]) -> list[str]:
    """Return a stored explanation record as readable lines."""
    lines: list[str] = []
    for t in record.get("terms", []):
        if t.get("field") == "classifier":
            lines.append(f"{t['term']}: the item is classified as {t['matched']}")
            continue
        alias = f" (vendor alias {t['alias']!r})" if t.get("alias") else ""
        lines.append(f"{t['term']}: {t['matched']!r} in the {t['field']}{alias}")
    classifier = record.get("classifier") or {}
    action = classifier.get("action")
    reasons = "; ".join(classifier.get("reasons") or [])
    if action or reasons:
        lines.append(f"classifier: {action or 'no action'}" + (f" ({reasons})" if reasons else ""))
    details = [
        f"issued by {classifier['issuer']}" if classifier.get("issuer") else "",
        f"jurisdiction {classifier['jurisdiction']}" if classifier.get("jurisdiction") else "",
        f"against {', '.join(classifier['targets'])}" if classifier.get("targets") else "",
        f"severity {classifier['severity']}" if classifier.get("severity") else "",
    ]
    if action and any(details):
        lines.append("action: " + ", ".join(d for d in details if d))
    if record.get("source"):
        lines.append(f"source declares: {record['source']}")
    return lines
