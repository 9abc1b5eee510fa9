"""Match items against every subscription at once (DESIGN 3.4 semantics).

How an item is matched, in this order:
1. Each searched field is folded once (`text.fold`): title and summary, and the source name
   only when some query uses `source:`.
2. One Aho-Corasick automaton over all folded literals (words, phrases, prefixes, vendor
   aliases) scans each field. A hit counts only as a whole word: an edge of the term that is a
   word character must not touch another word character. Han, Kana and Thai characters never
   count as word characters, so terms in those scripts match as substrings.
3. Short plain words (up to 2 letters: "EU", "5G", "AI") are looked up among the field's
   tokens instead: in the automaton they would hit inside most words of every item.
4. Regexes are pre-filtered with RE2 sets; the item's action is a pseudo-term.
5. Only the queries whose trigger terms were hit are evaluated (`evaluate.py`). Identical
   queries are evaluated once per item, whatever the number of subscribers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import ahocorasick
import re2

from bot.domain.evaluate import DEFAULT_MASK, DocState, Evaluator, Span, TermIds, compile_query
from bot.domain.models import Match, MatchDoc
from bot.domain.query import And, InField, Near, Node, Not, Or, Query, regex_options
from bot.domain.text import WORD_CLASS, FoldedText, is_word_char

SHORT_WORD_MAX = 2
MAX_REPORTED_TERMS = 20
_RECENT_TERMS = 4  # term tuples remembered per query, with their Match objects
_REGEX_SET_CHUNK = 500  # RE2 sets fail to compile when very large; build several

_SHORT_WORD = re.compile(rf"{WORD_CLASS}{{1,{SHORT_WORD_MAX}}}")
_SHORT_TOKEN = re.compile(rf"(?<!{WORD_CLASS}){WORD_CLASS}{{1,{SHORT_WORD_MAX}}}(?!{WORD_CLASS})")
_ASCII_WORD = {chr(c): chr(c).isalnum() or c == ord("_") for c in range(128)}
_ASCII_NON_WORD_TO_SPACE = bytes(
    c if c >= 0x80 or chr(c).isalnum() or c == ord("_") else ord(" ") for c in range(256)
)
_by_subscription = attrgetter("subscription_id")


@dataclass(frozen=True, slots=True)
class MatcherStats:
    """Sizes of a built matcher, for logs and benchmarks."""

    subscriptions: int
    distinct_queries: int
    literals: int
    short_words: int
    regexes: int
    always_evaluated: int


class _Group:
    """The subscriptions sharing one compiled query."""

    __slots__ = ("evaluator", "recent", "sids")

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.sids: list[int] = []
        # Match objects are immutable: when a later item matches with the same terms (the
        # usual case for a popular vendor), the same objects are handed out again.
        self.recent: dict[tuple[str, ...], tuple[Match, ...]] = {}

    def matches(self, terms: tuple[str, ...]) -> tuple[Match, ...]:
        found = self.recent.get(terms)
        if found is None:
            if len(self.recent) >= _RECENT_TERMS:
                self.recent.clear()
            found = self.recent[terms] = tuple([Match(sid, terms) for sid in self.sids])
        return found


class Matcher:
    """A compiled index of every subscription; build a new one (off the event loop) to change them."""

    def __init__(self, subscriptions: Iterable[tuple[int, Query]]) -> None:
        self._ids = TermIds({}, {}, {})
        groups: dict[object, _Group] = {}
        triggers: dict[int, frozenset[int]] = {}  # id(group) -> its trigger terms
        self._always: list[_Group] = []
        self._subscription_count = 0
        self._scan_source = False
        for sid, query in subscriptions:
            self._subscription_count += 1
            self._scan_source = self._scan_source or _mentions_source(query.root)
            evaluator, trigger = compile_query(query.root, self._ids)
            key = getattr(evaluator, "key", query.root)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(evaluator)
                if trigger is None:
                    self._always.append(group)
                else:
                    triggers[id(group)] = trigger[1]
            group.sids.append(sid)
        self._groups = list(groups.values())
        self._tid_groups = self._index_groups(triggers)
        self._automaton, self._short = self._build_literals()
        self._short_keys = set(self._short)
        self._regex_sets, self._regexes, self._unset_regexes = self._build_regexes()

    # ---------------------------------------------------------------- build

    def _index_groups(self, triggers: dict[int, frozenset[int]]) -> list[tuple[_Group, ...]]:
        by_tid: list[list[_Group]] = [[] for _ in range(self._ids.count())]
        for group in self._groups:
            group.sids.sort()
            for tid in triggers.get(id(group), ()):
                by_tid[tid].append(group)
        return [tuple(groups) for groups in by_tid]

    def _build_literals(self) -> tuple[Any, dict[bytes, int]]:
        short: dict[bytes, int] = {}
        entries: dict[str, list[int]] = {}  # folded text -> [word tid, prefix tid]
        for (text, prefix), tid in self._ids.literals.items():
            if not prefix and _SHORT_WORD.fullmatch(text):
                short[text.encode("utf-8", "surrogatepass")] = tid
                continue
            entry = entries.setdefault(text, [-1, -1])
            entry[1 if prefix else 0] = tid
        if not entries:
            return None, short
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for text, (word_tid, prefix_tid) in entries.items():
            # (length - 1, check left edge, check right edge, word tid, prefix tid)
            automaton.add_word(
                text, (len(text) - 1, is_word_char(text[0]), is_word_char(text[-1]), word_tid, prefix_tid)
            )
        automaton.make_automaton()
        return automaton, short

    def _build_regexes(self) -> tuple[list[tuple[Any, list[int]]], list[tuple[int, Any]], list[int]]:
        options = regex_options()
        compiled = [(tid, re2.compile(pattern, options)) for pattern, tid in self._ids.regexes.items()]
        patterns = list(self._ids.regexes)
        sets: list[tuple[Any, list[int]]] = []
        unset: list[int] = []
        for offset in range(0, len(compiled), _REGEX_SET_CHUNK):
            chunk = list(range(offset, min(offset + _REGEX_SET_CHUNK, len(compiled))))
            regex_set = re2.Set.SearchSet(options)
            try:
                for index in chunk:
                    regex_set.Add(patterns[index])
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
        state = DocState(fields, doc.action)
        for field, text in enumerate(fields):
            if text is not None and text.folded:
                self._scan(field, text.folded, state)
        if doc.action is not None:
            for kind in (doc.action, "any"):
                tid = self._ids.actions.get(kind)
                if tid is not None:
                    state.add_pseudo(tid)
        if self._regexes:
            self._scan_regexes(doc, state)
        if not state.hits and not self._always:
            return []
        state.index_hits()

        tid_groups = self._tid_groups
        candidates: set[_Group] = set(self._always)
        for tid in state.hits:
            candidates.update(tid_groups[tid])
        out: list[Match] = []
        reported: dict[Span, str] = {}
        for group in candidates:
            evidence = group.evaluator.eval(state, DEFAULT_MASK)
            if evidence is not None:
                out.extend(group.matches(_report(evidence, fields, doc, reported)))
        if len(candidates) > 1:
            out.sort(key=_by_subscription)
        return out

    def _scan(self, field: int, text: str, state: DocState) -> None:
        automaton = self._automaton
        if automaton is not None:
            size = len(text)
            known = _ASCII_WORD  # inlined lookups: this loop runs once per raw hit
            add = state.add
            for last, (span, check_left, check_right, word_tid, prefix_tid) in automaton.iter(text):
                start = last - span
                if check_left and start:
                    before = known.get(text[start - 1])
                    if before or (before is None and is_word_char(text[start - 1])):
                        continue
                end = last + 1
                if word_tid >= 0:
                    whole = True
                    if check_right and end < size:
                        after = known.get(text[end])
                        whole = not (after or (after is None and is_word_char(text[end])))
                    if whole:
                        add(word_tid, (field, start, end, False))
                if prefix_tid >= 0:
                    # Report the whole word the prefix starts.
                    while end < size and is_word_char(text[end]):
                        end += 1
                    add(prefix_tid, (field, start, end, False))
        if self._short:
            self._scan_short(field, text, state)

    def _scan_short(self, field: int, text: str, state: DocState) -> None:
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
            tid = self._short[key]
            term = key.decode("utf-8", "surrogatepass")
            size = len(term)
            start = text.find(term)
            while start >= 0:
                end = start + size
                if (start == 0 or not is_word_char(text[start - 1])) and (
                    end == len(text) or not is_word_char(text[end])
                ):
                    state.add(tid, (field, start, end, False))
                start = text.find(term, start + 1)

    def _scan_regexes(self, doc: MatchDoc, state: DocState) -> None:
        for field, text in enumerate((doc.title, doc.summary, doc.source)):
            if not text:
                continue
            matched = [index for regex_set, _ in self._regex_sets for index in regex_set.Match(text)]
            for index in matched + self._unset_regexes:
                tid, regex = self._regexes[index]
                found = regex.search(text)
                if found is not None:
                    state.add(tid, (field, found.start(), found.end(), True))

    # ---------------------------------------------------------------- info

    def __len__(self) -> int:
        return self._subscription_count

    @property
    def stats(self) -> MatcherStats:
        """Return the sizes of this index."""
        return MatcherStats(
            subscriptions=self._subscription_count,
            distinct_queries=len(self._groups),
            literals=len(self._ids.literals),
            short_words=len(self._short),
            regexes=len(self._ids.regexes),
            always_evaluated=len(self._always),
        )


def match_one(query: Query, doc: MatchDoc) -> Match | None:
    """Match one query against one item (previews, `/alerts why`, tests); subscription id 0."""
    matches = Matcher([(0, query)]).match(doc)
    return matches[0] if matches else None


def _mentions_source(node: Node) -> bool:
    """Tell whether a query restricts something to the source field (else it is never scanned)."""
    if isinstance(node, InField):
        return node.field == "source" or _mentions_source(node.child)
    if isinstance(node, Not):
        return _mentions_source(node.child)
    if isinstance(node, And | Or):
        return any(_mentions_source(child) for child in node.children)
    if isinstance(node, Near):
        return _mentions_source(node.left) or _mentions_source(node.right)
    return False


def _report(
    evidence: list[Span], fields: list[FoldedText | None], doc: MatchDoc, cache: dict[Span, str]
) -> tuple[str, ...]:
    """Turn evidence spans into the matched terms as written in the item, in reading order."""
    if len(evidence) == 1:
        span = evidence[0]
        text = cache.get(span)
        if text is None:
            text = cache[span] = _original(span, fields, doc)
        return (text,)
    spans = sorted(set(evidence), key=lambda span: (span[0], span[3], span[1], -span[2]))
    terms: dict[str, None] = {}
    reach = (-1, False, -1)  # field, raw, end of the last kept span: drop spans nested in it
    for span in spans:
        field, _, end, raw = span
        if field == reach[0] and raw == reach[1] and end <= reach[2]:
            continue
        reach = (field, raw, end)
        text = cache.get(span)
        if text is None:
            text = cache[span] = _original(span, fields, doc)
        terms.setdefault(text, None)
        if len(terms) >= MAX_REPORTED_TERMS:
            break
    return tuple(terms)


def _original(span: Span, fields: list[FoldedText | None], doc: MatchDoc) -> str:
    field, start, end, raw = span
    folded = fields[field]
    if raw or folded is None:  # regex spans are already in original offsets
        text = (doc.title, doc.summary, doc.source)[field][start:end]
    else:
        ostart, oend = folded.original_span(start, end)
        text = folded.original[ostart:oend]
    # As written, but a phrase broken over lines reads as one line.
    return " ".join(text.split()) if "  " in text or not text.isprintable() else text
