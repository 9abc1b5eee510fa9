"""Search terms for query-driven sources: what to ask a server that can search.

A `search` source (Federal Register `conditions[term]`, GOV.UK `keywords=`, Google News `q=`)
is fetched once per distinct term set that the subscriptions need, and its answers are then
matched against every subscription like any other source's items. A term set is a *cover* of a
query: a few literals such that every item the query matches contains at least one of them, so
searching for them loses none of its matches.

- a word, phrase or prefix covers itself; a vendor is covered by its catalog name;
- AND is covered by its smallest coverable part, OR by the union of its parts;
- NOT, `action:` and regexes cannot be searched for: a query made only of them has no cover
  and is not fanned out (it still matches the items of every other source);
- a cover of more than MAX_TERMS literals is too broad to search and counts as none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bot.domain.query import And, InField, Near, Node, Not, Or, Phrase, Prefix, VendorTerm, Word
from bot.domain.text import fold, is_word_char

MAX_TERMS = 5

TermSet = tuple[str, ...]


def search_cover(node: Node) -> TermSet | None:
    """Return the sorted folded literals that cover `node`, or None when it has no usable cover."""
    cover = _cover(node)
    if cover is None or not cover or len(cover) > MAX_TERMS:
        return None
    return tuple(sorted(cover))


def _cover(node: Node) -> frozenset[str] | None:
    if isinstance(node, Word | Phrase | Prefix):
        text = fold(node.text).strip()
        return frozenset({text}) if text else None
    if isinstance(node, VendorTerm):
        return frozenset({fold(node.name).strip()})
    if isinstance(node, InField):
        return _cover(node.child)
    if isinstance(node, Near):
        return _smallest((_cover(node.left), _cover(node.right)))
    if isinstance(node, And):
        return _smallest(_cover(child) for child in node.children)
    if isinstance(node, Or):
        parts = [_cover(child) for child in node.children]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(part for part in parts if part is not None))
    if isinstance(node, Not):
        return None
    return None  # Action, Regex


def _smallest(covers: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    usable = [cover for cover in covers if cover]
    return min(usable, key=len) if usable else None


def term_sets(roots: Iterable[Node]) -> Counter[TermSet]:
    """Count how many queries need each term set (queries without a cover are left out)."""
    counts: Counter[TermSet] = Counter()
    for root in roots:
        cover = search_cover(root)
        if cover is not None:
            counts[cover] += 1
    return counts


def term_key(terms: TermSet) -> str:
    """Return the stable text that names a term set (stored to remember which were searched)."""
    return "\n".join(terms)


def search_text(terms: TermSet, *, join: str = " OR ") -> str:
    """Write a term set as one search: a literal with more than one word is quoted."""
    return join.join(_quoted(term) for term in terms)


def _quoted(term: str) -> str:
    if all(is_word_char(char) for char in term):
        return term
    return '"' + term.replace('"', " ").strip() + '"'
