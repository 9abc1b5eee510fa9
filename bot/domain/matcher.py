"""Match items against every subscription at once (DESIGN 3.4 semantics).

How a document is matched, in this order:
1. Each searched field is folded once (`text.fold`).
2. One Aho-Corasick automaton over all folded literals (words, phrases, prefixes, vendor
   aliases) scans each field; a hit counts only if it is a whole word: an edge of the term that
   is a word character must not touch another word character. Han, Kana and Thai characters
   never count as word characters, so terms in those scripts match as substrings.
3. Short plain words (up to 3 letters: "EU", "5G", "ZTE") are looked up among the text's short
   tokens instead: in the automaton they would hit inside most words of every item.
4. Regexes are pre-filtered with RE2 sets; the action is a pseudo-term.
5. Only subscriptions one of whose trigger terms was hit are evaluated. A subscription's trigger
   terms are a set of terms one of which must appear for it to match (parse_query rejects queries
   without one; hand-built queries without one are evaluated for every item).

Identical queries are evaluated once per item, whatever the number of subscribers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick
import re2

from bot.domain.models import Match, MatchDoc
from bot.domain.query import (
    Action,
    And,
    InField,
    Near,
    Node,
    Not,
    Phrase,
    Prefix,
    Query,
    Regex,
    VendorTerm,
    Word,
    atom_literals,
    regex_options,
)
from bot.domain.text import WORD_CLASS, FoldedText, is_word_char, word_index, word_starts

TITLE, SUMMARY, SOURCE = 0, 1, 2
_FIELD_BIT = {"title": 1 << TITLE, "summary": 1 << SUMMARY, "source": 1 << SOURCE}
DEFAULT_MASK = (1 << TITLE) | (1 << SUMMARY)  # terms without a field search title and summary
SHORT_WORD_MAX = 3
MAX_REPORTED_TERMS = 20
_MAX_POSITIONS = 200  # per NEAR side and field: bounds the pair loop on very repetitive text
_REGEX_SET_CHUNK = 500  # RE2 sets fail to compile when very large; build several

_SHORT_WORD = re.compile(rf"{WORD_CLASS}{{1,{SHORT_WORD_MAX}}}")
_SHORT_TOKEN = re.compile(rf"(?<!{WORD_CLASS}){WORD_CLASS}{{1,{SHORT_WORD_MAX}}}(?!{WORD_CLASS})")
_ASCII_NON_WORD_TO_SPACE = bytes(
    c if c >= 0x80 or chr(c).isalnum() or c == ord("_") else ord(" ") for c in range(256)
)

# A span of evidence: (field, start, end, raw). raw=False: offsets in the folded field text;
# raw=True: offsets in the original text (regex matches run on the original).
Span = tuple[int, int, int, bool]
Hits = dict[int, list[Span]]


@dataclass(frozen=True, slots=True)
class MatcherStats:
    """Sizes of a built matcher, for logs and benchmarks."""

    subscriptions: int
    distinct_queries: int
    literals: int
    short_words: int
    regexes: int
    always_evaluated: int


class _Doc:
    """One document being matched: folded fields, hits, and word positions on demand."""

    __slots__ = ("action", "fields", "hits", "starts")

    def __init__(self, fields: list[FoldedText | None], action: str | None) -> None:
        self.fields = fields
        self.action = action
        self.hits: Hits = {}
        self.starts: list[list[int] | None] = [None, None, None]

    def word_span(self, field: int, start: int, end: int) -> tuple[int, int]:
        starts = self.starts[field]
        if starts is None:
            text = self.fields[field]
            starts = self.starts[field] = word_starts(text.folded) if text is not None else []
        return word_index(starts, start), word_index(starts, end - 1)


# A positional match for NEAR: (field, first word, last word, evidence spans).
_Position = tuple[int, int, int, list[Span]]


class _Eval:
    """A compiled query node; `eval` returns the evidence spans, or None when it does not match."""

    __slots__ = ()

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        raise NotImplementedError

    def positions(self, doc: _Doc, mask: int) -> list[_Position]:
        return []  # only literal terms have word positions (the parser enforces it for NEAR)


class _Terms(_Eval):
    __slots__ = ("tids",)

    def __init__(self, tids: tuple[int, ...]) -> None:
        self.tids = tids

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        found: list[Span] = []
        hits = doc.hits
        for tid in self.tids:
            spans = hits.get(tid)
            if spans:
                found.extend(span for span in spans if mask >> span[0] & 1)
        return found or None

    def positions(self, doc: _Doc, mask: int) -> list[_Position]:
        out: list[_Position] = []
        for span in self.eval(doc, mask) or ():
            first, last = doc.word_span(span[0], span[1], span[2])
            out.append((span[0], first, last, [span]))
        return out


class _Action(_Eval):
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        action = doc.action
        if action is not None and self.kind in ("any", action):
            return []
        return None


class _And(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: tuple[_Eval, ...]) -> None:
        self.children = children

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        found: list[Span] = []
        for child in self.children:
            spans = child.eval(doc, mask)
            if spans is None:
                return None
            found.extend(spans)
        return found


class _Or(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: tuple[_Eval, ...]) -> None:
        self.children = children

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        # Every matching alternative is evidence, so all of them are evaluated.
        found: list[Span] | None = None
        for child in self.children:
            spans = child.eval(doc, mask)
            if spans is not None:
                found = spans if found is None else found + spans
        return found

    def positions(self, doc: _Doc, mask: int) -> list[_Position]:
        return [pos for child in self.children for pos in child.positions(doc, mask)]


class _Not(_Eval):
    __slots__ = ("child",)

    def __init__(self, child: _Eval) -> None:
        self.child = child

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        return [] if self.child.eval(doc, mask) is None else None


class _Field(_Eval):
    __slots__ = ("child", "mask")

    def __init__(self, mask: int, child: _Eval) -> None:
        self.mask = mask
        self.child = child

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        return self.child.eval(doc, self.mask)

    def positions(self, doc: _Doc, mask: int) -> list[_Position]:
        return self.child.positions(doc, self.mask)


class _Near(_Eval):
    __slots__ = ("distance", "left", "right")

    def __init__(self, left: _Eval, right: _Eval, distance: int) -> None:
        self.left = left
        self.right = right
        self.distance = distance

    def eval(self, doc: _Doc, mask: int) -> list[Span] | None:
        found = [span for pos in self.positions(doc, mask) for span in pos[3]]
        return found or None

    def positions(self, doc: _Doc, mask: int) -> list[_Position]:
        lefts = self.left.positions(doc, mask)
        if not lefts:
            return []
        rights = self.right.positions(doc, mask)
        out: list[_Position] = []
        for lfield, lfirst, llast, lspans in lefts[:_MAX_POSITIONS]:
            for rfield, rfirst, rlast, rspans in rights[:_MAX_POSITIONS]:
                if rfield != lfield:
                    continue
                # Words strictly between the two sides; overlapping sides do not count as near.
                if llast < rfirst:
                    gap = rfirst - llast - 1
                elif rlast < lfirst:
                    gap = lfirst - rlast - 1
                else:
                    continue
                if gap <= self.distance:
                    out.append((lfield, min(lfirst, rfirst), max(llast, rlast), lspans + rspans))
        return out


class _Group:
    """Subscriptions sharing one query; `evaluator` None means "matched when a trigger hit"."""

    __slots__ = ("evaluator", "mask", "sids", "tids")

    def __init__(self, evaluator: _Eval | None, tids: tuple[int, ...], mask: int) -> None:
        self.evaluator = evaluator
        self.tids = tids
        self.mask = mask
        self.sids: list[int] = []


class Matcher:
    """A compiled index of every subscription; rebuild it (off the event loop) to change them."""

    def __init__(self, subscriptions: Iterable[tuple[int, Query]]) -> None:
        self._literal_ids: dict[tuple[str, bool], int] = {}
        self._action_ids: dict[str, int] = {}
        self._regex_ids: dict[str, int] = {}
        self._regex_patterns: list[str] = []
        self._groups: list[_Group] = []
        self._group_by_key: dict[object, _Group] = {}
        self._always: list[_Group] = []
        self._scan_source = False
        self._term_count = 0
        self._subscription_count = 0
        for sid, query in subscriptions:
            self._add(sid, query.root)
        self._tid_groups: list[tuple[_Group, ...]] = self._index_groups()
        self._automaton, self._short = self._build_literals()
        self._short_keys = set(term.encode("utf-8", "surrogatepass") for term in self._short)
        self._regex_sets, self._regexes, self._unset_regexes = self._build_regexes()

    # ---------------------------------------------------------------- build

    def _add(self, sid: int, root: Node) -> None:
        self._subscription_count += 1
        key: object
        simple = _simple_atom(root)
        if simple is not None:
            atom, mask = simple
            tids = tuple(self._literal_id(lit.text, lit.prefix) for lit in atom_literals(atom))
            if mask & _FIELD_BIT["source"]:
                self._scan_source = True
            key = (tids, mask)
            group = self._group_by_key.get(key)
            if group is None:
                group = self._group_by_key[key] = _Group(None, tids, mask)
                self._groups.append(group)
        else:
            key = root
            group = self._group_by_key.get(key)
            if group is None:
                evaluator, trigger = self._compile(root, DEFAULT_MASK)
                group = self._group_by_key[key] = _Group(evaluator, trigger[1] if trigger else (), 0)
                self._groups.append(group)
                if trigger is None:
                    self._always.append(group)
        group.sids.append(sid)

    def _literal_id(self, text: str, prefix: bool) -> int:
        key = (text, prefix)
        tid = self._literal_ids.get(key)
        if tid is None:
            tid = self._literal_ids[key] = self._new_tid()
        return tid

    def _new_tid(self) -> int:
        self._term_count += 1
        return self._term_count - 1

    # A trigger is (cost, term ids): one of the terms must be hit for the node to match.
    # Costs steer AND to its rarest child: actions and short words are common, long phrases rare.
    def _compile(self, node: Node, mask: int) -> tuple[_Eval, tuple[int, tuple[int, ...]] | None]:
        if isinstance(node, Word | Phrase | Prefix | VendorTerm):
            if mask & _FIELD_BIT["source"]:
                self._scan_source = True
            tids = []
            cost = 0
            for literal in atom_literals(node):
                tids.append(self._literal_id(literal.text, literal.prefix))
                short = not literal.prefix and _SHORT_WORD.fullmatch(literal.text) is not None
                cost += 30 if short else 1 + 20 // max(len(literal.text), 1)
            return _Terms(tuple(tids)), (cost, tuple(tids))
        if isinstance(node, Regex):
            tid = self._regex_ids.get(node.pattern)
            if tid is None:
                tid = self._regex_ids[node.pattern] = self._new_tid()
                self._regex_patterns.append(node.pattern)
            return _Terms((tid,)), (20, (tid,))
        if isinstance(node, Action):
            tid = self._action_ids.get(node.kind)
            if tid is None:
                tid = self._action_ids[node.kind] = self._new_tid()
            return _Action(node.kind), (1000 if node.kind == "any" else 300, (tid,))
        if isinstance(node, Not):
            child, _ = self._compile(node.child, mask)
            return _Not(child), None
        if isinstance(node, InField):
            field_mask = _FIELD_BIT[node.field]
            child, trigger = self._compile(node.child, field_mask)
            return _Field(field_mask, child), trigger
        if isinstance(node, Near):
            left, ltrigger = self._compile(node.left, mask)
            right, rtrigger = self._compile(node.right, mask)
            return _Near(left, right, node.distance), _cheapest([ltrigger, rtrigger])
        compiled = [self._compile(child, mask) for child in node.children]
        # Cheap, selective children first so AND stops early; NOT children last.
        compiled.sort(key=lambda pair: pair[1][0] if pair[1] else 10**9)
        children = tuple(evaluator for evaluator, _ in compiled)
        triggers = [trigger for _, trigger in compiled]
        if isinstance(node, And):
            return _And(children), _cheapest(triggers)
        if any(trigger is None for trigger in triggers):
            return _Or(children), None
        present = [trigger for trigger in triggers if trigger is not None]
        return _Or(children), (
            sum(cost for cost, _ in present),
            tuple(dict.fromkeys(tid for _, tids in present for tid in tids)),
        )

    def _index_groups(self) -> list[tuple[_Group, ...]]:
        by_tid: list[list[_Group]] = [[] for _ in range(self._term_count)]
        for group in self._groups:
            for tid in group.tids:
                if not by_tid[tid] or by_tid[tid][-1] is not group:
                    by_tid[tid].append(group)
        for group in self._groups:
            group.sids.sort()
        return [tuple(groups) for groups in by_tid]

    def _build_literals(self) -> tuple[ahocorasick.Automaton | None, dict[str, int]]:
        short: dict[str, int] = {}
        entries: dict[str, list[int]] = {}  # folded text -> [word tid, prefix tid]
        for (text, prefix), tid in self._literal_ids.items():
            if not prefix and _SHORT_WORD.fullmatch(text):
                short[text] = tid
                continue
            entry = entries.setdefault(text, [-1, -1])
            entry[1 if prefix else 0] = tid
        if not entries:
            return None, short
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for text, (word_tid, prefix_tid) in entries.items():
            # (length - 1, check left edge, check right edge, word tid, prefix tid)
            automaton.add_word(
                text,
                (len(text) - 1, is_word_char(text[0]), is_word_char(text[-1]), word_tid, prefix_tid),
            )
        automaton.make_automaton()
        return automaton, short

    def _build_regexes(self) -> tuple[list[tuple[re2.Set, list[int]]], list[tuple[int, Any]], list[int]]:
        options = regex_options()
        compiled = [(self._regex_ids[p], re2.compile(p, options)) for p in self._regex_patterns]
        sets: list[tuple[re2.Set, list[int]]] = []
        unset: list[int] = []
        for offset in range(0, len(compiled), _REGEX_SET_CHUNK):
            chunk = list(range(offset, min(offset + _REGEX_SET_CHUNK, len(compiled))))
            regex_set = re2.Set.SearchSet(options)
            try:
                for index in chunk:
                    regex_set.Add(self._regex_patterns[index])
                if not regex_set.Compile():
                    raise ValueError("RE2 set did not compile")
            except Exception:  # a set over its memory budget: search these one by one instead
                unset.extend(chunk)
                continue
            sets.append((regex_set, chunk))
        return sets, compiled, unset

    # ---------------------------------------------------------------- match

    def match(self, doc: MatchDoc) -> list[Match]:
        """Return every subscription matching `doc`, with its terms as written, by subscription id."""
        fields: list[FoldedText | None] = [
            FoldedText(doc.title),
            FoldedText(doc.summary),
            FoldedText(doc.source) if self._scan_source else None,
        ]
        state = _Doc(fields, doc.action)
        hits = state.hits
        for index, text in enumerate(fields):
            if text is not None and text.folded:
                self._scan(index, text.folded, hits)
        if doc.action is not None:
            for kind in (doc.action, "any"):
                tid = self._action_ids.get(kind)
                if tid is not None:
                    hits[tid] = []
        if self._regexes:
            self._scan_regexes(doc, hits)
        if not hits and not self._always:
            return []

        tid_groups = self._tid_groups
        candidates: dict[int, _Group] = {}
        for tid in hits:
            for group in tid_groups[tid]:
                candidates[id(group)] = group
        for group in self._always:
            candidates[id(group)] = group

        out: list[Match] = []
        for group in candidates.values():
            evaluator = group.evaluator
            if evaluator is None:
                mask = group.mask
                evidence = [span for tid in group.tids for span in hits.get(tid, ()) if mask >> span[0] & 1]
                if not evidence:
                    continue
            else:
                found = evaluator.eval(state, DEFAULT_MASK)
                if found is None:
                    continue
                evidence = found
            terms = _report(evidence, fields, doc)
            out.extend(Match(sid, terms) for sid in group.sids)
        out.sort(key=_by_subscription)
        return out

    def _scan(self, field: int, text: str, hits: Hits) -> None:
        automaton = self._automaton
        if automaton is not None:
            size = len(text)
            for last, (span, check_left, check_right, word_tid, prefix_tid) in automaton.iter(text):
                start = last - span
                if check_left and start and is_word_char(text[start - 1]):
                    continue
                end = last + 1
                if word_tid >= 0 and not (check_right and end < size and is_word_char(text[end])):
                    spans = hits.get(word_tid)
                    if spans is None:
                        hits[word_tid] = [(field, start, end, False)]
                    else:
                        spans.append((field, start, end, False))
                if prefix_tid >= 0:
                    # Report the whole word the prefix starts.
                    while end < size and is_word_char(text[end]):
                        end += 1
                    hits.setdefault(prefix_tid, []).append((field, start, end, False))
        if self._short:
            self._scan_short(field, text, hits)

    def _scan_short(self, field: int, text: str, hits: Hits) -> None:
        # Split on ASCII non-word bytes at C speed; tokens with non-ASCII bytes (rare) are
        # re-split by the exact rule, since "eu—" or "华为eu" still hold the word "eu".
        data = text.encode("utf-8", "surrogatepass")
        tokens = data.translate(_ASCII_NON_WORD_TO_SPACE).split()
        found = self._short_keys.intersection(tokens)
        if not data.isascii():
            for token in tokens:
                if not token.isascii():
                    words = _SHORT_TOKEN.findall(token.decode("utf-8", "surrogatepass"))
                    found.update(
                        self._short_keys.intersection(w.encode("utf-8", "surrogatepass") for w in words)
                    )
        for key in found:
            term = key.decode("utf-8", "surrogatepass")
            spans = hits.setdefault(self._short[term], [])
            size = len(term)
            start = text.find(term)
            while start >= 0:
                end = start + size
                if (start == 0 or not is_word_char(text[start - 1])) and (
                    end == len(text) or not is_word_char(text[end])
                ):
                    spans.append((field, start, end, False))
                start = text.find(term, start + 1)

    def _scan_regexes(self, doc: MatchDoc, hits: Hits) -> None:
        texts = [doc.title, doc.summary, doc.source]
        for field, text in enumerate(texts):
            if not text:
                continue
            matched = [index for regex_set, _ in self._regex_sets for index in _set_hits(regex_set, text)]
            for index in matched + self._unset_regexes:
                tid, regex = self._regexes[index]
                found = regex.search(text)
                if found is not None:
                    hits.setdefault(tid, []).append((field, found.start(), found.end(), True))

    # ---------------------------------------------------------------- info

    def __len__(self) -> int:
        return self._subscription_count

    @property
    def stats(self) -> MatcherStats:
        """Return the sizes of this index."""
        return MatcherStats(
            subscriptions=self._subscription_count,
            distinct_queries=len(self._groups),
            literals=len(self._literal_ids),
            short_words=len(self._short),
            regexes=len(self._regex_patterns),
            always_evaluated=len(self._always),
        )


def match_one(query: Query, doc: MatchDoc) -> Match | None:
    """Match one query against one document (previews, `/alerts why`, tests); id 0."""
    matches = Matcher([(0, query)]).match(doc)
    return matches[0] if matches else None


# ---------------------------------------------------------------- helpers


def _simple_atom(root: Node) -> tuple[Word | Phrase | Prefix | VendorTerm, int] | None:
    """Return (atom, field mask) when the query is one literal atom, optionally in one field."""
    mask = DEFAULT_MASK
    if isinstance(root, InField):
        mask = _FIELD_BIT[root.field]
        root = root.child
    if isinstance(root, Word | Phrase | Prefix | VendorTerm):
        return root, mask
    return None


def _cheapest(
    triggers: list[tuple[int, tuple[int, ...]] | None],
) -> tuple[int, tuple[int, ...]] | None:
    present = [trigger for trigger in triggers if trigger is not None]
    return min(present, key=lambda trigger: trigger[0]) if present else None


def _by_subscription(match: Match) -> int:
    return match.subscription_id


def _set_hits(regex_set: re2.Set, text: str) -> list[int]:
    indices: list[int] = regex_set.Match(text)
    return indices


def _report(evidence: list[Span], fields: list[FoldedText | None], doc: MatchDoc) -> tuple[str, ...]:
    """Turn evidence spans into the matched terms as written in the item, in reading order."""
    spans = sorted(set(evidence), key=lambda span: (span[0], span[3], span[1], -span[2]))
    terms: dict[str, None] = {}
    reach = (-1, False, -1)  # field, raw, end of the last kept span: drop spans nested in it
    originals = (doc.title, doc.summary, doc.source)
    for field, start, end, raw in spans:
        if (field, raw) == reach[:2] and end <= reach[2]:
            continue
        reach = (field, raw, end)
        if raw:
            text = originals[field][start:end]
        else:
            folded = fields[field]
            if folded is None:
                continue
            ostart, oend = folded.original_span(start, end)
            text = folded.original[ostart:oend]
        # As written, but a phrase broken over lines reads as one line.
        terms.setdefault(" ".join(text.split()), None)
        if len(terms) >= MAX_REPORTED_TERMS:
            break
    return tuple(terms)
