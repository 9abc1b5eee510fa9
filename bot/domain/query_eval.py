"""Compiled queries: how the matcher decides one subscription against one scanned item.

Most real queries are a conjunction of term sets ("vendor:X action:any", "a b -c",
"(ban OR fine) huawei"): those compile to `Conjunction`, checked with a few C-level set
operations. The rest (NEAR, OR over AND groups) walk a small tree of evaluators.

Every compiled query also gets its *requirements*: term id sets, each of which must have a hit
for the query to match (cheapest first). The matcher indexes a query under the first (its
trigger) and evaluates it only for items that hit one of those and every other set too.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Protocol

from bot.domain.errors import RegwatchError
from bot.domain.query import (
    MAX_QUERY_COST,
    NEAR_MAX_POSITIONS,
    Action,
    And,
    InField,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Regex,
    VendorTerm,
    Word,
    atom_literals,
)
from bot.domain.text import FoldedText, word_tokens, words_only

TITLE, SUMMARY, SOURCE = 0, 1, 2
FIELD_BITS = {"title": 1 << TITLE, "summary": 1 << SUMMARY, "source": 1 << SOURCE}
DEFAULT_MASK = (1 << TITLE) | (1 << SUMMARY)  # terms without a field search title and summary
_MAX_POSITIONS = NEAR_MAX_POSITIONS  # per NEAR side: bounds the pair loop on very repetitive text

# One occurrence of a term: (field, start, end, raw). raw=False: offsets in the folded field
# text; raw=True: offsets in the original text (regexes run on the original).
Span = tuple[int, int, int, bool]
# Why a query matched: (field mask, term id) pairs, "this term, within these fields". The matcher
# turns them into the words of the item, once per distinct evidence and item.
Evidence = list[tuple[int, int]]
# A NEAR operand's occurrence: (field, first word, last word, evidence); words are numbered by
# tokenizing the whole folded field, so NEAR distances are word numbers subtracted.
Position = tuple[int, int, int, Evidence]
# (cost, term ids): one of the terms must be hit for a node to match. Cost steers AND to its
# rarest part: actions and short words are common, long phrases are rare.
Trigger = tuple[int, tuple[int, ...]]
# Triggers that must all hold for a node to match, cheapest first (empty: no requirement known).
Requirements = tuple[Trigger, ...]


class OverBudget(RegwatchError):
    """One query's evaluation on one item used up its work budget (it does not match)."""


class Locator(Protocol):
    """Finds where a term occurs in a folded field (the matcher knows each term's text)."""

    def locate(self, tid: int, field: int, text: str) -> list[Span]:
        """Return every occurrence of term `tid` in `text`."""

    def span_ending(self, tid: int, field: int, text: str, end: int) -> Span:
        """Return the occurrence of term `tid` that ends at offset `end` of `text`."""


class DocState:
    """One item being matched: its folded fields and which terms it holds, per field.

    Scanning records each term's first occurrence per field (where it ends); every occurrence
    is located on demand, for NEAR only.
    """

    __slots__ = ("_located", "_words", "action", "budget", "by_mask", "fields", "first", "locator", "raw")

    def __init__(self, fields: list[FoldedText | None], action: str | None, locator: Locator) -> None:
        self.fields = fields
        self.action = action
        self.locator = locator
        # Per field: term id -> end of its first occurrence, or -1 when not known (found later).
        self.first: list[dict[int, int]] = [{}, {}, {}]
        self.raw: dict[int, list[Span]] = {}  # regex hits, found with their spans
        # by_mask[m]: term ids hit in at least one field of mask m (filled by `index_hits`).
        self.by_mask: list[set[int]] = []
        self._located: dict[tuple[int, int], list[Span]] = {}
        self._words: dict[int, list[int]] = {}  # field -> start offset of each word token
        # Work left for the query being evaluated (the matcher resets it for each one).
        self.budget = MAX_QUERY_COST

    def spend(self, work: int) -> None:
        """Use `work` steps of the current query's budget; raise OverBudget when it runs out."""
        self.budget -= work
        if self.budget < 0:
            raise OverBudget("the query used up its evaluation budget on this item")

    def word_span(self, field: int, start: int, end: int) -> tuple[int, int]:
        """Return the numbers of the first and last word tokens a folded span touches."""
        starts = self._words.get(field)
        if starts is None:
            text = self.fields[field]
            starts = self._words[field] = _token_starts(text.folded) if text is not None else []
        return bisect_right(starts, start) - 1, bisect_right(starts, end - 1) - 1

    def add_pseudo(self, tid: int) -> None:
        """Record a term that holds for the whole item (an action): in every field, no span."""
        for first in self.first:
            first[tid] = -1

    def add_raw(self, tid: int, span: Span) -> None:
        """Record a hit whose span is known already (regexes)."""
        self.raw.setdefault(tid, []).append(span)
        self.first[span[0]].setdefault(tid, -1)

    def index_hits(self) -> None:
        """Build the per-mask sets of hit term ids once all fields are scanned."""
        title, summary, source = (set(first) for first in self.first)
        default = title | summary
        if not source:  # the usual case, no source scanned: no unions to build
            self.by_mask = [source, title, summary, default, source, title, summary, default]
            return
        self.by_mask = [set(), title, summary, default, source, title | source, summary | source]
        self.by_mask.append(default | source)

    def evidence(self, tids: tuple[int, ...], mask: int) -> Evidence:
        """Return the terms among `tids` hit within the fields of `mask`, as evidence."""
        return [(mask, tid) for tid in self.by_mask[mask].intersection(tids)]

    def first_spans(self, tid: int, mask: int) -> list[Span]:
        """Return the first occurrence of a hit term in each field of `mask` (for reports)."""
        raw = self.raw.get(tid)
        if raw is not None:
            return [span for span in raw if mask >> span[0] & 1]
        out: list[Span] = []
        for field, first in enumerate(self.first):
            end = first.get(tid) if mask >> field & 1 else None
            text = self.fields[field]
            if end is None or text is None:
                continue
            if end >= 0:
                out.append(self.locator.span_ending(tid, field, text.folded, end))
            else:
                out.extend(self.spans(tid, 1 << field)[:1])
        return out

    def spans(self, tid: int, mask: int) -> list[Span]:
        """Return every occurrence of a hit term within the fields of `mask`."""
        raw = self.raw.get(tid)
        if raw is not None:
            return [span for span in raw if mask >> span[0] & 1]
        out: list[Span] = []
        for field, first in enumerate(self.first):
            if mask >> field & 1 and tid in first:
                spans = self._located.get((tid, field))
                if spans is None:
                    text = self.fields[field]
                    located = self.locator.locate(tid, field, text.folded) if text is not None else []
                    spans = self._located[tid, field] = located
                out.extend(spans)
        return out


def _token_starts(folded: str) -> list[int]:
    """Return `word_tokens(folded)`; ASCII text by splitting its words-only form (3x faster)."""
    if not folded.isascii():
        return word_tokens(folded)
    starts: list[int] = []
    at = -1  # words_only pads one space in front: its index i is folded's i - 1
    for part in words_only(folded).split(" "):
        if part:
            starts.append(at)
        at += len(part) + 1
    return starts


class Evaluator:
    """A compiled query node: `eval` returns the evidence, or None when it does not match."""

    __slots__ = ()

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        """Return why the node matches `doc` within the fields of `mask`, or None."""
        raise NotImplementedError

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        """Return the node's occurrences, for NEAR (only literal terms have any)."""
        return []


class Conjunction(Evaluator):
    """All `required` term sets hit, no `excluded` set hit, and the action condition holds."""

    __slots__ = ("action", "excluded", "no_action", "required")

    def __init__(
        self,
        required: tuple[tuple[tuple[int, ...], int], ...],
        excluded: tuple[tuple[tuple[int, ...], int], ...],
        action: str | None,
        no_action: tuple[str, ...],
    ) -> None:
        self.required = required
        self.excluded = excluded
        self.action = action
        self.no_action = no_action

    def holds(self, doc: DocState) -> bool:
        """Tell whether the conjunction matches `doc` (what `eval` decides, without evidence)."""
        by_mask = doc.by_mask
        for tids, field_mask in self.required:
            if by_mask[field_mask].isdisjoint(tids):
                return False
        for tids, field_mask in self.excluded:
            if not by_mask[field_mask].isdisjoint(tids):
                return False
        if self.action is not None and not _action_holds(self.action, doc.action):
            return False
        return not any(_action_holds(kind, doc.action) for kind in self.no_action)

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        by_mask = doc.by_mask
        for tids, field_mask in self.required:
            if by_mask[field_mask].isdisjoint(tids):
                return None
        for tids, field_mask in self.excluded:
            if not by_mask[field_mask].isdisjoint(tids):
                return None
        if self.action is not None and not _action_holds(self.action, doc.action):
            return None
        if any(_action_holds(kind, doc.action) for kind in self.no_action):
            return None
        if len(self.required) == 1:
            tids, field_mask = self.required[0]
            return doc.evidence(tids, field_mask)
        return [ref for tids, field_mask in self.required for ref in doc.evidence(tids, field_mask)]

    @property
    def key(self) -> object:
        """Return a value equal for conjunctions that match the same items."""
        return (frozenset(self.required), frozenset(self.excluded), self.action, frozenset(self.no_action))


class AnyTerm(Evaluator):
    """One of `tids` occurs within the fields of `mask`: the most common query by far."""

    __slots__ = ("field_mask", "tids")

    def __init__(self, tids: tuple[int, ...], field_mask: int) -> None:
        self.tids = tids
        self.field_mask = field_mask

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        return doc.evidence(self.tids, self.field_mask) or None

    @property
    def key(self) -> object:
        """Return a value equal for evaluators that match the same items."""
        return self.tids, self.field_mask


def _action_holds(kind: str, action: str | None) -> bool:
    return action is not None and kind in ("any", action)


class _Terms(Evaluator):
    __slots__ = ("tids",)

    def __init__(self, tids: tuple[int, ...]) -> None:
        self.tids = tids

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        return doc.evidence(self.tids, mask) or None

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        out: list[Position] = []
        for tid in doc.by_mask[mask].intersection(self.tids):
            for field, start, end, raw in doc.spans(tid, mask):
                if not raw:
                    first, last = doc.word_span(field, start, end)
                    out.append((field, first, last, [(mask, tid)]))
        return out


class _Action(Evaluator):
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        return [] if _action_holds(self.kind, doc.action) else None


class _And(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        found: Evidence = []
        for child in self.children:
            evidence = child.eval(doc, mask)
            if evidence is None:
                return None
            found.extend(evidence)
        return found


class _Or(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        # Every matching alternative is evidence, so all of them are evaluated.
        found: Evidence | None = None
        for child in self.children:
            evidence = child.eval(doc, mask)
            if evidence is not None:
                found = evidence if found is None else found + evidence
        return found

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return [pos for child in self.children for pos in child.positions(doc, mask)]


class _Not(Evaluator):
    __slots__ = ("child",)

    def __init__(self, child: Evaluator) -> None:
        self.child = child

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        return [] if self.child.eval(doc, mask) is None else None


class _Field(Evaluator):
    __slots__ = ("child", "mask")

    def __init__(self, mask: int, child: Evaluator) -> None:
        self.mask = mask
        self.child = child

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        return self.child.eval(doc, self.mask)

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return self.child.positions(doc, self.mask)


class _Near(Evaluator):
    __slots__ = ("distance", "left", "right")

    def __init__(self, left: Evaluator, right: Evaluator, distance: int) -> None:
        self.left = left
        self.right = right
        self.distance = distance

    def eval(self, doc: DocState, mask: int) -> Evidence | None:
        found = [ref for position in self.positions(doc, mask) for ref in position[3]]
        return found or None

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        """Return the spans where both sides occur, at most `distance` words apart.

        Linear in the occurrences (plus the pairs found): the right side's occurrences are
        sorted by first and by last word, and each left occurrence looks only at the window of
        `distance` words after and before it (bisect). Spans found by several pairs count once,
        with the evidence of all of them.
        """
        lefts = self.left.positions(doc, mask)
        if not lefts:
            return []
        rights = self.right.positions(doc, mask)
        if not rights:
            return []
        lefts, rights = lefts[:_MAX_POSITIONS], rights[:_MAX_POSITIONS]
        doc.spend(len(lefts) + len(rights))
        fields: dict[int, list[Position]] = {}
        for right in rights:
            fields.setdefault(right[0], []).append(right)
        windows: dict[int, tuple[list[int], list[Position], list[int], list[Position]]] = {}
        for field, group in fields.items():
            after = sorted(group, key=lambda p: p[1])
            before = sorted(group, key=lambda p: p[2])
            windows[field] = ([p[1] for p in after], after, [p[2] for p in before], before)
        found: dict[tuple[int, int, int], dict[tuple[int, int], None]] = {}
        reach = self.distance + 1
        for field, first, last, evidence in lefts:
            window = windows.get(field)
            if window is None:
                continue
            firsts, after, lasts, before = window
            # Right sides after this one: first word in (last, last + distance + 1].
            lo, hi = bisect_right(firsts, last), bisect_right(firsts, last + reach)
            # Right sides before it: last word in [first - distance - 1, first).
            blo, bhi = bisect_left(lasts, first - reach), bisect_left(lasts, first)
            doc.spend(1 + hi - lo + bhi - blo)
            for right in after[lo:hi]:
                refs = found.setdefault((field, first, right[2]), {})
                refs.update(dict.fromkeys(evidence))
                refs.update(dict.fromkeys(right[3]))
            for right in before[blo:bhi]:
                refs = found.setdefault((field, right[1], last), {})
                refs.update(dict.fromkeys(evidence))
                refs.update(dict.fromkeys(right[3]))
        return [(field, first, last, list(refs)) for (field, first, last), refs in found.items()]


class TermIds:
    """Allocates term ids: literals (folded text, prefix?), regex patterns and action kinds."""

    def __init__(self) -> None:
        self.literals: dict[tuple[str, bool], int] = {}
        self.regexes: dict[str, int] = {}
        self.actions: dict[str, int] = {}
        self.count = 0  # ids allocated so far
        # Atoms repeat across subscriptions (vendor:Huawei): one shared id tuple for each.
        self.atoms: dict[Node, tuple[tuple[int, ...], int]] = {}

    def _new(self, table: dict[Any, int], key: Any) -> int:
        tid = table.get(key)
        if tid is None:
            tid = table[key] = self.count
            self.count += 1
        return tid

    def literal(self, text: str, prefix: bool) -> int:
        """Return the id of a folded literal, allocating it on first use."""
        return self._new(self.literals, (text, prefix))

    def regex(self, pattern: str) -> int:
        """Return the id of a regex pattern, allocating it on first use."""
        return self._new(self.regexes, pattern)

    def action(self, kind: str) -> int:
        """Return the id of the pseudo-term hit when the item's action is `kind` (or any)."""
        return self._new(self.actions, kind)


def compile_query(root: Node, ids: TermIds) -> tuple[Evaluator, Requirements]:
    """Compile a query root to an evaluator and its requirements (empty: evaluate for every item)."""
    if type(root) in _TERM_ATOMS:  # one term, most queries: what _conjunction gives, directly
        tids, cost = _atom_ids(root, ids)  # type: ignore[arg-type]
        return AnyTerm(tids, DEFAULT_MASK), ((cost, tids),)
    conjunction = _conjunction(root, DEFAULT_MASK, ids)
    if conjunction is not None:
        return conjunction
    evaluator, needs = _tree(root, DEFAULT_MASK, ids)
    return evaluator, _sorted(needs)


# ---------------------------------------------------------------- conjunctions

_Clause = tuple[tuple[int, ...], int]
_TERM_ATOMS = frozenset((Word, Phrase, Prefix, VendorTerm, Regex))


def _literal_set(node: Node, mask: int, ids: TermIds) -> tuple[_Clause, int] | None:
    """Return ((term ids, field mask), cost) when `node` is one term or an OR of terms."""
    if isinstance(node, InField):
        return _literal_set(node.child, FIELD_BITS[node.field], ids)
    if isinstance(node, Word | Phrase | Prefix | VendorTerm | Regex):
        tids, cost = _atom_ids(node, ids)
        return (tids, mask), cost
    if isinstance(node, Or):
        parts = [_literal_set(child, mask, ids) for child in node.children]
        if any(part is None for part in parts):
            return None
        clauses = [part for part in parts if part is not None]
        if len({clause[1] for clause, _ in clauses}) != 1:
            return None  # alternatives in different fields: not one set
        union = tuple(sorted(set().union(*(clause[0] for clause, _ in clauses))))
        return (union, clauses[0][0][1]), sum(cost for _, cost in clauses)
    return None


def _conjunction(root: Node, mask: int, ids: TermIds) -> tuple[Evaluator, Requirements] | None:
    children = root.children if isinstance(root, And) else (root,)
    required: list[tuple[_Clause, int]] = []
    excluded: list[_Clause] = []
    action: str | None = None
    no_action: list[str] = []
    for child in children:
        if isinstance(child, Action):
            if action is not None and action != child.kind:
                return None  # two different actions: let the tree say "never"
            action = child.kind
            continue
        if isinstance(child, Not):
            if isinstance(child.child, Action):
                no_action.append(child.child.kind)
                continue
            negated = _literal_set(child.child, mask, ids)
            if negated is None:
                return None
            excluded.append(negated[0])
            continue
        part = _literal_set(child, mask, ids)
        if part is None:
            return None
        required.append(part)
    required.sort(key=lambda part: part[1])  # cheapest (rarest) first: fails fastest
    triggers: list[Trigger] = [(cost, clause[0]) for clause, cost in required]
    if action is not None:
        triggers.append((_ACTION_COST[action == "any"], (ids.action(action),)))
    needs = _sorted(triggers)
    if len(required) == 1 and not excluded and action is None and not no_action:
        (tids, field_mask), _ = required[0]
        return AnyTerm(tids, field_mask), needs
    conjunction = Conjunction(
        tuple(clause for clause, _ in required), tuple(excluded), action, tuple(no_action)
    )
    return conjunction, needs


_ACTION_COST = {True: 1000, False: 300}


def _atom_ids(node: Word | Phrase | Prefix | VendorTerm | Regex, ids: TermIds) -> tuple[tuple[int, ...], int]:
    """Return the term ids of an atom and a guess of how often it occurs (its cost)."""
    known = ids.atoms.get(node)
    if known is not None:
        return known
    if isinstance(node, Regex):
        found: tuple[tuple[int, ...], int] = (ids.regex(node.pattern),), 20
    else:
        literals = atom_literals(node)
        tids = tuple(sorted({ids.literal(literal.text, literal.prefix) for literal in literals}))
        found = tids, sum(_literal_cost(literal.text) for literal in literals)
    ids.atoms[node] = found
    return found


def _literal_cost(text: str) -> int:
    """Guess how often a literal occurs, without corpus statistics.

    Phrases and names with punctuation are rare; single words are rarer the longer they are
    ("ban" is everywhere in regulatory news, "kaspersky" is not). A set of alternatives costs
    the sum of its members, so a vendor with many rare aliases still beats a common word.
    """
    if not text.isalnum():
        return 1
    return 1 + 40 // len(text)


# ---------------------------------------------------------------- trees


def _tree(node: Node, mask: int, ids: TermIds) -> tuple[Evaluator, list[Trigger]]:
    """Compile a node; its requirements: triggers that must all hold for it to match."""
    if isinstance(node, Word | Phrase | Prefix | VendorTerm | Regex):
        tids, cost = _atom_ids(node, ids)
        return _Terms(tids), [(cost, tids)]
    if isinstance(node, Action):
        return _Action(node.kind), [(_ACTION_COST[node.kind == "any"], (ids.action(node.kind),))]
    if isinstance(node, Not):
        child, _ = _tree(node.child, mask, ids)
        return _Not(child), []
    if isinstance(node, InField):
        field_mask = FIELD_BITS[node.field]
        child, needs = _tree(node.child, field_mask, ids)
        return _Field(field_mask, child), needs
    if isinstance(node, Near):
        left, lneeds = _tree(node.left, mask, ids)
        right, rneeds = _tree(node.right, mask, ids)
        return _Near(left, right, node.distance), lneeds + rneeds  # both sides must occur
    compiled = [_tree(child, mask, ids) for child in node.children]
    # Cheap, selective children first so AND stops early; NOT children (no trigger) last.
    compiled.sort(key=lambda pair: min(cost for cost, _ in pair[1]) if pair[1] else 10**9)
    children = tuple(evaluator for evaluator, _ in compiled)
    if isinstance(node, And):
        return _And(children), [need for _, needs in compiled for need in needs]
    if any(not needs for _, needs in compiled):
        return _Or(children), []
    # One alternative must match, so one of the cheapest triggers of each must hold.
    cheapest = [min(needs) for _, needs in compiled]
    return _Or(children), [
        (sum(cost for cost, _ in cheapest), tuple(sorted(set().union(*(tids for _, tids in cheapest)))))
    ]


def _sorted(needs: list[Trigger]) -> Requirements:
    """Return distinct requirements, cheapest first."""
    return tuple(sorted(set(needs)))
