"""Match items against every subscription at once.

How an item is matched, in this order:
1. Each searched field is folded once (`text.fold`): title and summary, and the source name
   only when some query uses `source:`.
2. A hit counts only as a whole word: an edge of the term that is a word character must not
   touch another word character. Han, Kana and Thai characters never count as word characters,
   so terms in those scripts match as substrings. Literals whose edges are word characters
   (nearly all: words, phrases, prefixes, vendor aliases) go into one Aho-Corasick automaton as
   " term " (" term" for a prefix) and scan the field with every non-word character made a
   space (`text.words_only`): a raw hit is then a whole-word hit, and since every key starts
   with a space the walk stays in the automaton's small hot part (1.5x faster at 100k terms
   than walking unanchored keys). A term with punctuation ("tp-link", ".net", "zte corp.")
   is checked against the folded text; its non-word edges get no pad, as they need no
   boundary. Terms without any word character (Han names) go into a second automaton over
   the folded field, walked only when the field has non-ASCII text or such a term is ASCII.
3. Regexes are pre-filtered with RE2 sets; the item's action is a pseudo-term.
4. Identical queries form one group, whatever the number of subscribers. Most groups (one
   term set, or at most two required sets plus exclusions) are decided by set operations on
   the hit term ids (`_index_groups`); the others are evaluated (`query_eval.py`), only when
   every term set they need has a hit.
5. The result (`ItemMatches`) lists the matching groups: subscription ids on demand, terms put
   into words only when read, once per group.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, compress
from operator import attrgetter, not_
from typing import Any

import ahocorasick
import re2

from bot.domain.bulk import gc_paused
from bot.domain.models import Match, MatchDoc
from bot.domain.query import (
    MAX_QUERY_COST,
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
    regex_options,
)
from bot.domain.query_eval import (
    DEFAULT_MASK,
    AnyTerm,
    Conjunction,
    DocState,
    Evaluator,
    Evidence,
    OverBudget,
    Span,
    TermIds,
    compile_query,
)
from bot.domain.text import FoldedText, is_word_char, words_only, words_only_bytes

hyperscan: Any
try:  # optional: wheels exist for Linux x86-64, macOS and Windows; elsewhere Aho-Corasick does it
    hyperscan = importlib.import_module("hyperscan")
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None

log = logging.getLogger(__name__)

MAX_REPORTED_TERMS = 20
# Literal scanning engines, both giving the same answers (tested): Hyperscan (SIMD, 5-6x faster
# on 1.5 kB items at 100,000 terms, but 2.5 s to compile 65,000 terms) and pyahocorasick.
HYPERSCAN, AHOCORASICK, AUTO = "hyperscan", "ahocorasick", "auto"
# AUTO starts with Aho-Corasick (built in a fraction of the time) and compiles Hyperscan once the
# text scanned would have paid for the compile: about this many bytes of text per literal.
_SWITCH_BYTES_PER_LITERAL = 1_000
_SWITCH_MIN_BYTES = 256_000
# A group table indexed by fewer than this share of all terms is read by intersecting the hit
# terms with its own (most hits then index nothing in it), a larger one by looking each hit up.
_SPARSE_SHARE = 0.25
_REGEX_SET_CHUNK = 1000  # patterns per RE2 set: one set scan costs about as much as a few regexes
_REGEX_SET_MAX_MEM = 32 << 20

_ASCII_WORD = {chr(c): chr(c).isalnum() or c == ord("_") for c in range(128)}
_ATOM_TYPES = frozenset((Word, Phrase, Prefix, VendorTerm, Regex, Action))


@dataclass(frozen=True, slots=True)
class MatcherStats:
    """Sizes of a built matcher, for logs and benchmarks."""

    subscriptions: int
    distinct_queries: int
    literals: int
    edge_literals: int  # literals without a word character ("华为", "++"): the second automaton
    regexes: int
    always_evaluated: int


class _Group:
    """The subscriptions sharing one compiled query."""

    __slots__ = ("evaluator", "exclude", "excluded", "needs", "second", "sids", "size")

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.sids: list[int] = []  # sorted once built
        self.size = 0
        # Term id sets besides the trigger that must each have a hit anywhere in the item for
        # the query to match: checked before evaluating it.
        self.needs: tuple[tuple[int, ...], ...] = ()
        # A query decided by two required term sets: the second one (checked in the fields of
        # the table the group is in).
        self.second: tuple[int, ...] = ()
        # Term sets of which none may have a hit in its fields (a set query's exclusions).
        self.excluded: tuple[_Clause, ...] = ()
        self.exclude: tuple[int, ...] = ()  # the term set of the only one, if one


class _Item:
    """One matched item, kept by its matches so that their terms can be found when first read."""

    __slots__ = ("doc", "reported", "state")

    def __init__(self, doc: MatchDoc, state: DocState) -> None:
        self.doc = doc
        self.state = state
        self.reported: dict[object, tuple[str, ...]] = {}  # evidence -> terms: once per item

    def terms(self, evidence: Evidence) -> tuple[str, ...]:
        key = evidence[0] if len(evidence) == 1 else frozenset(evidence)
        terms = self.reported.get(key)
        if terms is None:
            terms = self.reported[key] = _report(evidence, self.state, self.doc)
        return terms

    def group_terms(self, group: _Group, evidence: Evidence | None) -> tuple[str, ...]:
        """Return the terms of a group's query that matched this item (evidence found if None)."""
        if evidence is None:  # not kept while matching: the query is evaluated again (same answer)
            state = self.state
            state.budget = MAX_QUERY_COST
            evidence = group.evaluator.eval(state, DEFAULT_MASK) or []
        return self.terms(evidence)


class _Why:
    """Why one query group matched one item: put into words when first read."""

    __slots__ = ("evidence", "group", "item", "terms")

    def __init__(self, item: _Item, group: _Group, evidence: Evidence | None) -> None:
        self.item = item
        self.group = group
        self.evidence = evidence
        self.terms: tuple[str, ...] | None = None

    def read(self) -> tuple[str, ...]:
        terms = self.terms
        if terms is None:
            terms = self.terms = self.item.group_terms(self.group, self.evidence)
        return terms


class _Found(Match):
    """A Match whose terms are put into words when first read.

    Most matches never become alerts (the target has one already for this link, or the
    subscription is another server's): reporting terms cost 4.7x a whole match, so only the
    ones read pay for it. Equal to a plain Match with the same subscription and terms.
    """

    __slots__ = ("_why",)
    _why: _Why

    @property
    def terms(self) -> tuple[str, ...]:
        return self._why.read()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self.subscription_id == other.subscription_id and self.terms == other.terms

    def __hash__(self) -> int:
        return hash((self.subscription_id, self.terms))

    def __repr__(self) -> str:
        return f"Match(subscription_id={self.subscription_id!r}, terms={self.terms!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Match, (self.subscription_id, self.terms)


_new = object.__new__
_set_sid = Match.__dict__["subscription_id"].__set__  # the slot itself, past the frozen __setattr__
_set_why = _Found.__dict__["_why"].__set__
_sids_of = attrgetter("sids")
_size_of = attrgetter("size")
_second_of = attrgetter("second")
_exclude_of = attrgetter("exclude")


class ItemMatches:
    """The subscriptions matching one item, kept per query group: ids now, terms when read.

    Subscriptions with the same query share one group (at 100,000 subscriptions an item
    matches about 80 subscriptions in 30 groups), so matching does no work per subscription:
    `subscription_ids` lists them, `terms_of` puts one group's terms into words when asked,
    and iterating makes `Match` objects (in subscription id order), for callers that want them.
    """

    __slots__ = ("_evidence", "_groups", "_item", "_whys")

    def __init__(self, item: _Item | None, groups: list[_Group], evidence: list[Evidence | None]) -> None:
        self._item = item
        self._groups = groups  # matched groups; evidence[i] is groups[i]'s, or None (found on read)
        self._evidence = evidence
        self._whys: dict[int, _Why] | None = None  # subscription id -> its group's reasons, when asked

    def __len__(self) -> int:
        return sum(map(_size_of, self._groups))

    def __bool__(self) -> bool:
        return bool(self._groups)

    def subscription_ids(self) -> list[int]:
        """Return the matching subscriptions' ids, in order."""
        groups = self._groups
        if len(groups) == 1:
            return list(groups[0].sids)
        return sorted(chain.from_iterable(map(_sids_of, groups)))

    def _why_of(self) -> dict[int, _Why]:
        whys = self._whys
        if whys is None:
            whys = self._whys = {}
            item = self._item
            if item is not None:
                for group, evidence in zip(self._groups, self._evidence, strict=True):
                    whys.update(dict.fromkeys(group.sids, _Why(item, group, evidence)))
        return whys

    def terms_of(self, subscription_id: int) -> tuple[str, ...]:
        """Return the terms, as written in the item, that made one matching subscription match."""
        return self._why_of()[subscription_id].read()

    def __iter__(self) -> Iterator[Match]:
        """Yield a `Match` per subscription, by subscription id; terms are found when read."""
        whys = self._why_of()
        for sid in self.subscription_ids():
            match = _new(_Found)
            _set_sid(match, sid)
            _set_why(match, whys[sid])
            yield match


_NOTHING = ItemMatches(None, [], [])


class _Literals:
    """Each literal term's folded text, to find where it occurs once an item matched."""

    __slots__ = ("_texts",)

    def __init__(self, ids: TermIds) -> None:
        self._texts = {tid: key for key, tid in ids.literals.items()}  # id -> (text, prefix)

    def locate(self, tid: int, field: int, text: str) -> list[Span]:
        """Return every whole-word occurrence of literal `tid` in a folded field."""
        known = self._texts.get(tid)
        if known is None:
            return []  # actions and regexes have no literal text
        literal, prefix = known
        check_left = is_word_char(literal[0])
        check_right = not prefix and is_word_char(literal[-1])
        size = len(text)
        out: list[Span] = []
        start = text.find(literal)
        while start >= 0:
            end = start + len(literal)
            if not (check_left and start and is_word_char(text[start - 1])) and not (
                check_right and end < size and is_word_char(text[end])
            ):
                out.append(self.span_ending(tid, field, text, end))
            start = text.find(literal, start + 1)
        return out

    def span_ending(self, tid: int, field: int, text: str, end: int) -> Span:
        """Return the occurrence of literal `tid` ending at `end`; a prefix takes its whole word."""
        literal, prefix = self._texts[tid]
        start = end - len(literal)
        if prefix:
            while end < len(text) and is_word_char(text[end]):
                end += 1
        return field, start, end, False


# Raw hits of one Hyperscan scan, as (key index, end offset) pairs.
def _collect(key: int, start: int, end: int, flags: int, hits: list[tuple[int, int]]) -> None:
    hits.append((key, end))


# Per term id: the query groups it indexes (a list of tuples, the empty ones shared), with the
# field mask its hits are read in: [(mask, groups per term id)].
_Tables = list[tuple[int, list[tuple["_Group", ...]], frozenset[int] | None]]
# (term ids, field mask): one of the terms must have a hit in one of the fields.
_Clause = tuple[tuple[int, ...], int]

# " term " -> [(shift from the hit's last index to the term's end, length, text to check when it
# has non-word characters inside, term id)]
_Anchored = dict[str, list[tuple[int, int, str | None, int]]]


class _AhoScanner:
    """Whole-word literals found by one Aho-Corasick walk over a field's words-only text."""

    name = AHOCORASICK

    def __init__(self, anchored: _Anchored) -> None:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
        for key, entries in anchored.items():
            automaton.add_word(key, tuple(entries))
        automaton.make_automaton()
        self._automaton = automaton

    def scan(self, text: str, first: dict[int, int]) -> None:
        """Record in `first` every whole-word literal hit in the folded `text` (term id -> end)."""
        add = first.setdefault
        # In words_only(text) index i is text's i - 1; a hit's last index is its closing space
        # (a word) or its last character (a prefix).
        for last, entries in self._automaton.iter(words_only(text)):
            for shift, size, check, tid in entries:
                end = last - shift
                if check is None or text[end - size : end] == check:
                    add(tid, end)


class _HyperScanner:
    """The same keys compiled into one Hyperscan database (literal mode), scanned over UTF-8 bytes.

    A key whose words-only form can come from punctuation ("tp link" from "tp-link") is checked
    on each raw hit, so all its hits are reported; any other key reports only its first hit
    (HS_FLAG_SINGLEMATCH; a literal's hits come in order of end offset), which is all the
    matcher records. Scratch space is per thread, as Hyperscan requires.
    """

    name = HYPERSCAN

    def __init__(self, anchored: _Anchored) -> None:
        self._entries = [tuple(entries) for entries in anchored.values()]
        # Each key's Hyperscan id says what to do with its hit, with no lookup (a table lookup
        # per hit cost a third of the callback): a key with one unchecked term, the usual case,
        # has id (term id << 2) | shift, the term ending `shift` + 1 before the hit's end offset
        # in the words-only bytes; any other key has id (key index << 2) | 2.
        ids = [
            entries[0][3] << 2 | entries[0][0]
            if len(entries) == 1 and entries[0][2] is None
            else index << 2 | 2
            for index, entries in enumerate(self._entries)
        ]
        single = hyperscan.HS_FLAG_SINGLEMATCH
        flags = [0 if any(e[2] is not None for e in entries) else single for entries in self._entries]
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=[key.encode("utf-8", "surrogatepass") for key in anchored],
            ids=ids,
            elements=len(flags),
            flags=flags,
            literal=True,
        )
        self._database = database
        self._local = threading.local()

    def scan(self, text: str, first: dict[int, int]) -> None:
        """Record in `first` every whole-word literal hit in the folded `text` (term id -> end)."""
        data, same = words_only_bytes(text)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        rest: list[tuple[int, int]] = []  # raw hits whose key needs the loop below
        if same:  # ASCII: byte offsets are character offsets
            # The callback runs once per hit (55 per item at 100,000 subscriptions, each taking
            # the GIL back): a plain key is recorded at once, as it reports only its first hit.
            def on_hit(key: int, start: int, stop: int, flags: int, context: object) -> None:
                if key & 2:
                    rest.append((key, stop))
                else:
                    first[key >> 2] = stop - 1 - (key & 1)

            self._database.scan(data, match_event_handler=on_hit, scratch=scratch)
            hits = rest
        else:
            self._database.scan(data, match_event_handler=_collect, context=rest, scratch=scratch)
            hits = [(key, len(data[:stop].decode("utf-8", "surrogatepass"))) for key, stop in rest]
        add = first.setdefault
        entries_of = self._entries
        for key, stop in hits:
            last = stop - 1
            if not key & 2:
                add(key >> 2, last - (key & 1))
                continue
            for shift, size, check, tid in entries_of[key >> 2]:
                end = last - shift
                if check is None or text[end - size : end] == check:
                    add(tid, end)


def _indexed(tables: _Tables, by_mask: list[set[int]]) -> Iterator[_Group]:
    """Yield the groups indexed under the terms hit (a group may come more than once)."""
    parts = [
        map(table.__getitem__, by_mask[mask] if keys is None else by_mask[mask].intersection(keys))
        for mask, table, keys in tables
    ]
    return chain.from_iterable(chain.from_iterable(parts) if len(parts) > 1 else parts[0])


def available_engines() -> tuple[str, ...]:
    """Return the literal scanning engines this installation can use, fastest first."""
    return (HYPERSCAN, AHOCORASICK) if hyperscan is not None else (AHOCORASICK,)


class Matcher:
    """A compiled index of every subscription; build a new one (off the event loop) to change them.

    `match` only reads the index (plus caches and a scanner built once, under a lock), so one
    matcher can serve worker threads while a new one is built.

    `engine` picks the literal scanner: "hyperscan", "ahocorasick", or "auto" (the default):
    Aho-Corasick first, Hyperscan once the text matched would have paid for its compile (2.5 s
    at 65,000 terms; a matcher that sees a few items, `regwatch match` or a preview, never
    compiles it). Answers are the same on every engine. Scanners are built on first use.
    """

    def __init__(self, subscriptions: Iterable[tuple[int, Query]], engine: str = AUTO) -> None:
        if engine not in (AUTO, HYPERSCAN, AHOCORASICK):
            raise ValueError(f"unknown matching engine {engine!r}")
        if engine == HYPERSCAN and hyperscan is None:
            raise ValueError("the hyperscan engine is not installed here")
        self._engine = engine
        with gc_paused():
            self._build(subscriptions)

    def _build(self, subscriptions: Iterable[tuple[int, Query]]) -> None:
        self._ids = TermIds()
        groups: dict[object, _Group] = {}  # compiled key -> group: equal queries share one
        # The same parsed object (callers share one per distinct text) is compiled once, found
        # without hashing its tree; the root is kept in the value so that its id is not reused.
        by_object: dict[int, tuple[Node, _Group]] = {}
        # id(group) -> the term id sets its query needs, each hit somewhere (cheapest first)
        requirements: dict[int, tuple[tuple[int, ...], ...]] = {}
        self._always: list[_Group] = []
        self._subscription_count = 0
        self.work = 0  # evaluation steps spent on costly operators (NEAR), summed over items
        self.over_budget = 0  # evaluations stopped by the per-item budget (a query hand-built past it)
        self._scan_source = False
        self._uses_actions = False
        for sid, query in subscriptions:
            self._subscription_count += 1
            root = query.root
            seen = by_object.get(id(root))
            if seen is not None:
                seen[1].sids.append(sid)
                continue
            self._scan_source = self._scan_source or _mentions_source(root)
            self._uses_actions = self._uses_actions or _mentions_action(root)
            evaluator, needs = compile_query(root, self._ids)
            key = getattr(evaluator, "key", root)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(evaluator)
                if not needs:
                    self._always.append(group)
                else:
                    requirements[id(group)] = tuple(tids for _, tids in needs)
            by_object[id(root)] = (root, group)
            group.sids.append(sid)
        self._groups = list(groups.values())
        self._ids.atoms.clear()  # only needed while compiling
        self._tables = self._index_groups(requirements)
        # Queries of two required term sets, by the fields of the second: [(mask, first tables)].
        self._pair_tables = [
            (int(kind[5:]), tables) for kind, tables in self._tables.items() if kind.startswith("first")
        ]
        self._anchored, self._edged, self._edged_count = self._build_literals()
        self._literals = _Literals(self._ids)
        self._regex_sets, self._regexes, self._unset_regexes = self._build_regexes()
        # The literal scanner, built on first use; _scanned counts folded characters matched,
        # and the scanner is (re)built when it reaches _switch_at.
        self._scanner: _AhoScanner | _HyperScanner | None = None
        self._scanned = 0
        self._switch_at: float = 0 if self._anchored else float("inf")
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- build

    def _index_groups(self, requirements: dict[int, tuple[tuple[int, ...], ...]]) -> dict[str, _Tables]:
        """Index every query group under the terms that decide it.

        Most queries are decided by set operations on the hit term ids alone, with no Python
        work per query ("set" queries): one term set (`kaspersky`, `vendor:X`), or a conjunction
        of at most two required term sets (the action counts as one) and any number of
        excluded ones (`vendor:X -title:report`, `"acme corp" action:ban`). Such a query
        matches when its required sets have hits in their fields ("met": one set; "first": the
        first of two, the second checked by C-level filters) and none of its excluded sets has
        (checked on the few such queries found). Every other query (NEAR,
        OR of conjunctions, three or more required sets, pure negations) is evaluated, and only
        when the term sets it needs all have a hit anywhere in the item: the two cheapest by
        index ("cand", or "cand_first" with the second checked by C-level filters), the rest checked first
        (`_Group.needs`): "sanctions NEAR/5 vendor:X" is not looked at for every item saying
        "sanctions".
        """
        for group in self._groups:  # pseudo-terms of excluded actions, before the tables are sized
            evaluator = group.evaluator
            if type(evaluator) is Conjunction:
                for kind in evaluator.no_action:
                    self._ids.action(kind)
        build: dict[tuple[str, int], dict[int, list[_Group]]] = {}
        vetoable: list[_Group] = []

        def put(kind: str, clause: _Clause, group: _Group) -> None:
            table = build.setdefault((kind, clause[1]), {})
            for tid in clause[0]:
                table.setdefault(tid, []).append(group)

        # Which of a query's term sets to index it by: the one fewest other queries combine
        # with, then the rarest by the cost guess. A word that many queries pair with a name
        # ("equipment" in `"acme" equipment` for 200 names) is common text; the names are not.
        decided_of = [
            None if type(group.evaluator) is AnyTerm else self._set_clauses(group.evaluator)
            for group in self._groups
        ]
        shared: Counter[int] = Counter()
        for group, decided in zip(self._groups, decided_of, strict=True):
            if decided is not None:
                sets = [tids for tids, _ in decided[0]]
            else:
                sets = list(requirements.get(id(group), ()))
            if len(sets) > 1:
                for tids in sets:
                    shared.update(tids)
        met_tables: dict[int, dict[int, list[_Group]]] = {}  # one-term queries, most of them

        def popularity(tids: tuple[int, ...]) -> int:
            return sum(map(shared.__getitem__, tids))

        for group, decided in zip(self._groups, decided_of, strict=True):
            group.sids.sort()
            group.size = len(group.sids)
            evaluator = group.evaluator
            if type(evaluator) is AnyTerm:
                table = met_tables.get(evaluator.field_mask)
                if table is None:
                    table = met_tables[evaluator.field_mask] = build.setdefault(
                        ("met", evaluator.field_mask), {}
                    )
                for tid in evaluator.tids:
                    groups = table.get(tid)
                    if groups is None:
                        table[tid] = [group]
                    else:
                        groups.append(group)
                continue
            if decided is not None:
                required, excluded = decided
                if len(required) == 1:
                    put("met", required[0], group)
                else:  # indexed by one set, the other checked on the few groups found
                    first, second = required
                    if popularity(second[0]) < popularity(first[0]):
                        first, second = second, first
                    group.second, second_mask = second
                    put(f"first{second_mask}", first, group)
                if excluded:
                    group.excluded = tuple(excluded)
                    vetoable.append(group)
                continue
            needs = requirements.get(id(group), ())
            if len(needs) > 1:  # stable: equally shared sets stay cheapest first
                needs = tuple(sorted(needs, key=popularity))
            if len(needs) == 1:
                put("cand", (needs[0], 7), group)
            elif needs:  # indexed by the cheapest set, the second checked by C-level filters
                put("cand_first", (needs[0], 7), group)
                group.second = needs[1]
                group.needs = needs[2:]
        count = self._ids.count
        tables: dict[str, _Tables] = {}  # only the kinds some query is indexed in
        for (kind, mask), by_tid in sorted(build.items()):
            dense: list[tuple[_Group, ...]] = [()] * count
            for tid, found in by_tid.items():
                dense[tid] = tuple(found)
            # A table of few terms is read through the hit terms it holds (a set intersection),
            # a large one by looking every hit term up.
            keys = frozenset(by_tid) if len(by_tid) < count * _SPARSE_SHARE else None
            tables.setdefault(kind, []).append((mask, dense, keys))
        # Groups with one exclusion, by its field mask (checked by C-level filters), and the rest.
        excluding_one: dict[int, set[_Group]] = {}
        for group in vetoable:
            if len(group.excluded) == 1:
                group.exclude, mask = group.excluded[0]
                excluding_one.setdefault(mask, set()).add(group)
        self._excluding_one = [(mask, frozenset(groups)) for mask, groups in sorted(excluding_one.items())]
        self._excluding_more = frozenset(group for group in vetoable if len(group.excluded) > 1)
        return tables

    def _set_clauses(self, evaluator: Evaluator) -> tuple[list[_Clause], list[_Clause]] | None:
        """Return a query's required and excluded term sets when they alone decide it, else None."""
        if type(evaluator) is AnyTerm:
            return [(evaluator.tids, evaluator.field_mask)], []
        if type(evaluator) is not Conjunction:
            return None
        actions = self._ids.actions
        required = list(evaluator.required)  # cheapest first
        if evaluator.action is not None:  # an action holds when its pseudo-term is hit
            required.append(((actions[evaluator.action],), DEFAULT_MASK))
        if not 1 <= len(required) <= 2:
            return None
        excluded = list(evaluator.excluded) + [
            ((actions[kind],), DEFAULT_MASK) for kind in evaluator.no_action
        ]
        return required, excluded

    def _build_literals(self) -> tuple[_Anchored, Any, int]:
        anchored: _Anchored = {}
        edged: dict[str, list[int]] = {}  # folded text -> [word tid, prefix tid]
        for (text, prefix), tid in self._ids.literals.items():
            inner = words_only(text)[1:-1]
            if inner.isspace():  # no word character at all ("华为", "++"): the second automaton
                edged.setdefault(text, [-1, -1])[1 if prefix else 0] = tid
                continue
            # A space pad (whole-word rule) on each side whose edge is a word character; the
            # right one ends the key, and "zte corp." or ".net" need no pad on their dot side.
            right = not prefix and is_word_char(text[-1])
            key = (" " if is_word_char(text[0]) else "") + inner + (" " if right else "")
            check = text if " " in inner else None  # "tp link" must not take "tp-link"
            anchored.setdefault(key, []).append((1 if right else 0, len(text), check, tid))
        edged_automaton = None
        if edged:
            edged_automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for text, (word_tid, prefix_tid) in edged.items():
                # (length - 1, check left edge, check right edge, word tid, prefix tid)
                edged_automaton.add_word(
                    text, (len(text) - 1, is_word_char(text[0]), is_word_char(text[-1]), word_tid, prefix_tid)
                )
            edged_automaton.make_automaton()
        self._edged_ascii = any(text.isascii() for text in edged)
        return anchored, edged_automaton, len(edged)

    def _build_regexes(self) -> tuple[list[tuple[Any, list[int]]], list[tuple[int, Any]], list[int]]:
        options = regex_options()
        compiled = [(tid, re2.compile(pattern, options)) for pattern, tid in self._ids.regexes.items()]
        patterns = list(self._ids.regexes)
        set_options = regex_options()
        set_options.max_mem = _REGEX_SET_MAX_MEM
        sets: list[tuple[Any, list[int]]] = []
        unset: list[int] = []
        for offset in range(0, len(compiled), _REGEX_SET_CHUNK):
            chunk = list(range(offset, min(offset + _REGEX_SET_CHUNK, len(compiled))))
            try:
                regex_set = re2.Set.SearchSet(set_options)
                for index in chunk:
                    regex_set.Add(patterns[index])
                regex_set.Compile()  # returns nothing; a failure raises or shows on first Match
                regex_set.Match("")
            except Exception:  # a set RE2 cannot build: search these one by one instead
                unset.extend(chunk)
                continue
            sets.append((regex_set, chunk))
        return sets, compiled, unset

    def prepare(self) -> str:
        """Build the literal scanner of the chosen engine now (AUTO: the fastest); return its name.

        For benchmarks, and before a batch large enough to pay for Hyperscan's compile.
        """
        with self._lock:
            if self._anchored and (self._scanner is None or self._switch_at != float("inf")):
                final = HYPERSCAN if self._engine != AHOCORASICK and hyperscan is not None else AHOCORASICK
                self._install(final)
        return self.engine

    def _settle(self) -> None:
        """Build the first scanner, or (AUTO) switch to Hyperscan once it pays for itself."""
        with self._lock:
            if self._scanned < self._switch_at:
                return  # another thread did it
            if self._scanner is None and self._engine != HYPERSCAN:
                self._install(AHOCORASICK)
                if self._engine == AUTO and hyperscan is not None:
                    size = len(self._anchored) * _SWITCH_BYTES_PER_LITERAL
                    self._switch_at = self._scanned + max(size, _SWITCH_MIN_BYTES)
            else:
                self._install(HYPERSCAN)

    def _install(self, engine: str) -> None:
        # The scanner is in place before `_switch_at` says so: a thread in `match` that reads the
        # new `_switch_at` must also find the scanner (it does not take the lock).
        self._build_scanner(engine)
        self._switch_at = float("inf")

    def _build_scanner(self, engine: str) -> None:
        if engine == HYPERSCAN:
            try:
                self._scanner = _HyperScanner(self._anchored)
            except hyperscan.error as exc:  # never seen; the automaton gives the same answers
                log.warning(
                    "hyperscan could not compile the subscriptions' terms (%s): using Aho-Corasick", exc
                )
                if self._scanner is None:
                    self._scanner = _AhoScanner(self._anchored)
            else:
                self._anchored = {}  # compiled into the database: no longer needed
            return
        self._scanner = _AhoScanner(self._anchored)
        if self._engine == AHOCORASICK or hyperscan is None:
            self._anchored = {}

    # ---------------------------------------------------------------- match

    def match(self, doc: MatchDoc) -> list[Match]:
        """Return every subscription matching `doc`, with its terms as written, by subscription id.

        The terms of each match are put into words when first read (`Match.terms`).
        """
        return list(self.match_item(doc))

    def match_item(self, doc: MatchDoc) -> ItemMatches:
        """Return the subscriptions matching `doc`, per query group (see `ItemMatches`)."""
        fields: list[FoldedText | None] = [
            FoldedText(doc.title),
            FoldedText(doc.summary),
            FoldedText(doc.source) if self._scan_source else None,
        ]
        self._scanned += len(doc.title) + len(doc.summary)
        if self._scanned >= self._switch_at:
            self._settle()
        state = DocState(fields, doc.action, self._literals)
        for field, text in enumerate(fields):
            if text is not None and text.folded:
                self._scan(text.folded, state.first[field])
        if doc.action is not None:
            for kind in (doc.action, "any"):
                tid = self._ids.actions.get(kind)
                if tid is not None:
                    state.add_pseudo(tid)
        if self._regexes:
            self._scan_regexes(doc, state)
        state.index_hits()
        hit = state.by_mask[7]
        if not hit and not self._always:
            return _NOTHING

        by_mask = state.by_mask
        tables = self._tables
        met = set(_indexed(tables["met"], by_mask)) if "met" in tables else set()
        for second_mask, first_tables in self._pair_tables:
            pairs = list(_indexed(first_tables, by_mask))
            if pairs:  # keep those whose second term set has a hit too (no Python per group)
                disjoint = by_mask[second_mask].isdisjoint
                met.update(compress(pairs, map(not_, map(disjoint, map(_second_of, pairs)))))
        for mask, excluding in self._excluding_one:  # about 9 per item: C-level filters
            checked = list(met.intersection(excluding))
            if checked:
                met.difference_update(
                    compress(checked, map(not_, map(by_mask[mask].isdisjoint, map(_exclude_of, checked))))
                )
        for group in met.intersection(self._excluding_more):
            for tids, mask in group.excluded:
                if not by_mask[mask].isdisjoint(tids):
                    met.discard(group)
                    break
        groups = list(met)
        evidence: list[Evidence | None] = [None] * len(groups)  # found when the terms are read
        candidates = set(_indexed(tables["cand"], by_mask)) if "cand" in tables else set()
        isdisjoint = hit.isdisjoint
        if "cand_first" in tables:
            firsts = list(_indexed(tables["cand_first"], by_mask))
            if firsts:
                candidates.update(compress(firsts, map(not_, map(isdisjoint, map(_second_of, firsts)))))
        candidates.update(self._always)
        for group in candidates:
            for need in group.needs:
                if isdisjoint(need):
                    break  # a term the query needs is nowhere in the item
            else:
                evaluator = group.evaluator
                if type(evaluator) is Conjunction:
                    if evaluator.holds(state):  # evidence found only if its terms are read
                        groups.append(group)
                        evidence.append(None)
                    continue
                state.budget = MAX_QUERY_COST  # each query gets its own budget on each item
                try:
                    found = evaluator.eval(state, DEFAULT_MASK)
                except OverBudget:
                    self.over_budget += 1
                    log.warning("a query used up its evaluation budget on one item; it does not match it")
                    continue
                finally:
                    self.work += MAX_QUERY_COST - state.budget
                if found is not None:
                    groups.append(group)
                    evidence.append(found)
        if not groups:
            return _NOTHING
        return ItemMatches(_Item(doc, state), groups, evidence)

    def _scan(self, text: str, first: dict[int, int]) -> None:
        """Record in `first` every literal occurring in `text` as a whole word (id -> end)."""
        if self._scanner is not None:
            self._scanner.scan(text, first)
        if self._edged is not None and (self._edged_ascii or not text.isascii()):
            self._scan_edged(text, first.setdefault)

    def _scan_edged(self, text: str, add: Any) -> None:
        size = len(text)
        known = _ASCII_WORD  # inlined lookups: this loop runs once per raw hit
        for last, (span, check_left, check_right, word_tid, prefix_tid) in self._edged.iter(text):
            start = last - span
            if check_left and start:
                before = known.get(text[start - 1])
                if before or (before is None and is_word_char(text[start - 1])):
                    continue
            end = last + 1
            if prefix_tid >= 0:
                add(prefix_tid, end)
            if word_tid >= 0:
                if check_right and end < size:
                    after = known.get(text[end])
                    if after or (after is None and is_word_char(text[end])):
                        continue
                add(word_tid, end)

    def _scan_regexes(self, doc: MatchDoc, state: DocState) -> None:
        for field, text in enumerate((doc.title, doc.summary, doc.source)):
            if not text:
                continue
            # Set.Match gives the matching pattern indexes, or None when none matches.
            matched = [chunk[i] for regex_set, chunk in self._regex_sets for i in regex_set.Match(text) or ()]
            for index in matched + self._unset_regexes:
                tid, regex = self._regexes[index]
                found = regex.search(text)
                if found is not None:
                    state.add_raw(tid, (field, found.start(), found.end(), True))

    # ---------------------------------------------------------------- info

    def __len__(self) -> int:
        return self._subscription_count

    @property
    def engine(self) -> str:
        """Return the engine scanning literals now ("none" before the first item, or without literals)."""
        return self._scanner.name if self._scanner is not None else "none"

    @property
    def uses_actions(self) -> bool:
        """Tell whether some query tests the item's action (then items need classifying first)."""
        return self._uses_actions

    @property
    def stats(self) -> MatcherStats:
        """Return the sizes of this index."""
        return MatcherStats(
            subscriptions=self._subscription_count,
            distinct_queries=len(self._groups),
            literals=len(self._ids.literals),
            edge_literals=self._edged_count,
            regexes=len(self._ids.regexes),
            always_evaluated=len(self._always),
        )


def match_one(query: Query, doc: MatchDoc, engine: str = AUTO) -> Match | None:
    """Match one query against one item (previews, `/alerts why`, tests); subscription id 0."""
    matches = Matcher([(0, query)], engine).match(doc)
    return matches[0] if matches else None


def _mentions_source(node: Node) -> bool:
    """Tell whether a query restricts something to the source field (else it is never scanned)."""
    if type(node) in _ATOM_TYPES:
        return False
    if isinstance(node, InField):
        return node.field == "source" or _mentions_source(node.child)
    if isinstance(node, Not):
        return _mentions_source(node.child)
    if isinstance(node, And | Or):
        return any(_mentions_source(child) for child in node.children)
    if isinstance(node, Near):
        return _mentions_source(node.left) or _mentions_source(node.right)
    return False


def _mentions_action(node: Node) -> bool:
    """Tell whether a query tests the item's action anywhere (action:, -action:)."""
    if isinstance(node, Action):
        return True
    if type(node) in _ATOM_TYPES:
        return False
    if isinstance(node, Not | InField):
        return _mentions_action(node.child)
    if isinstance(node, And | Or):
        return any(_mentions_action(child) for child in node.children)
    if isinstance(node, Near):
        return _mentions_action(node.left) or _mentions_action(node.right)
    return False


def _report(evidence: Evidence, state: DocState, doc: MatchDoc) -> tuple[str, ...]:
    """Turn evidence into the matched terms as written in the item, in reading order."""
    spans = {span for mask, tid in evidence for span in state.first_spans(tid, mask)}
    if len(spans) == 1:
        return (_original(spans.pop(), state.fields, doc),)
    terms: dict[str, None] = {}
    reach = (-1, False, -1)  # field, raw, end of the last kept span: drop spans nested in it
    for span in sorted(spans, key=_reading_order):
        field, _, end, raw = span
        if field == reach[0] and raw == reach[1] and end <= reach[2]:
            continue
        reach = (field, raw, end)
        terms.setdefault(_original(span, state.fields, doc), None)
        if len(terms) >= MAX_REPORTED_TERMS:
            break
    return tuple(terms)


def _reading_order(span: Span) -> tuple[int, bool, int, int]:
    return span[0], span[3], span[1], -span[2]


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
