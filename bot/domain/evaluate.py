"""Compiled queries: how the matcher decides one subscription against one scanned item.

Most real queries are a conjunction of term sets ("vendor:X action:any", "a b -c",
"(ban OR fine) huawei"): those compile to `Conjunction`, checked with a few C-level set
operations. The rest (NEAR, OR over AND groups) walk a small tree of evaluators.

Every compiled query also gets a *trigger*: term ids one of which must be hit for it to match,
so the matcher evaluates it only for items that hit one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    Regex,
    VendorTerm,
    Word,
    atom_literals,
)
from bot.domain.text import FoldedText, count_words

TITLE, SUMMARY, SOURCE = 0, 1, 2
FIELD_BITS = {"title": 1 << TITLE, "summary": 1 << SUMMARY, "source": 1 << SOURCE}
DEFAULT_MASK = (1 << TITLE) | (1 << SUMMARY)  # terms without a field search title and summary
_MAX_POSITIONS = 200  # per NEAR side: bounds the pair loop on very repetitive text

# Evidence of a hit: (field, start, end, raw). raw=False: offsets in the folded field text;
# raw=True: offsets in the original text (regexes run on the original).
Span = tuple[int, int, int, bool]
# A NEAR operand's occurrence: (field, start, end, evidence), offsets in the folded field.
Position = tuple[int, int, int, list[Span]]
# (cost, term ids): one of the terms must be hit for a node to match. Cost steers AND to its
# rarest part: actions and short words are common, long phrases are rare.
Trigger = tuple[int, frozenset[int]]


class DocState:
    """One item being matched: its folded fields and the term ids hit, per field and overall."""

    __slots__ = ("action", "by_mask", "fields", "hits", "per_field")

    def __init__(self, fields: list[FoldedText | None], action: str | None) -> None:
        self.fields = fields
        self.action = action
        self.hits: dict[int, list[Span]] = {}
        self.per_field: list[set[int]] = [set(), set(), set()]  # term ids hit, by field
        # by_mask[m]: term ids hit in at least one field of mask m (filled by `index_hits`).
        self.by_mask: list[set[int]] = []

    def add(self, tid: int, span: Span) -> None:
        """Record one hit."""
        spans = self.hits.get(tid)
        if spans is None:
            self.hits[tid] = [span]
        else:
            spans.append(span)
        self.per_field[span[0]].add(tid)

    def add_pseudo(self, tid: int) -> None:
        """Record a term that holds for the whole item (an action): hit in every field, no span."""
        self.hits.setdefault(tid, [])
        for tids in self.per_field:
            tids.add(tid)

    def index_hits(self) -> None:
        """Build the per-mask sets of hit term ids once all fields are scanned."""
        title, summary, source = self.per_field
        default = title | summary
        empty: set[int] = set()
        self.by_mask = [
            empty,
            title,
            summary,
            default,
            source,
            title | source,
            summary | source,
            default | source,
        ]

    def spans(self, tids: frozenset[int], mask: int) -> list[Span]:
        """Return the evidence of the hit terms among `tids` within the fields of `mask`."""
        hits = self.hits
        return [
            span for tid in self.by_mask[mask].intersection(tids) for span in hits[tid] if mask >> span[0] & 1
        ]

    def words_between(self, field: int, start: int, end: int) -> int:
        """Count the words between two folded offsets of a field."""
        text = self.fields[field]
        return count_words(text.folded, start, end) if text is not None else 0


class Evaluator:
    """A compiled query node: `eval` returns the evidence, or None when it does not match."""

    __slots__ = ()

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        raise NotImplementedError

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return []  # only literal terms have word positions (the parser enforces it for NEAR)


class Conjunction(Evaluator):
    """All `required` term sets hit, no `excluded` set hit, and the action condition holds."""

    __slots__ = ("action", "excluded", "no_action", "required")

    def __init__(
        self,
        required: tuple[tuple[frozenset[int], int], ...],
        excluded: tuple[tuple[frozenset[int], int], ...],
        action: str | None,
        no_action: tuple[str, ...],
    ) -> None:
        self.required = required
        self.excluded = excluded
        self.action = action
        self.no_action = no_action

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
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
            return doc.spans(tids, field_mask)
        return [span for tids, field_mask in self.required for span in doc.spans(tids, field_mask)]

    @property
    def key(self) -> object:
        """Return a value equal for conjunctions that match the same items."""
        return (frozenset(self.required), frozenset(self.excluded), self.action, frozenset(self.no_action))


def _action_holds(kind: str, action: str | None) -> bool:
    return action is not None and kind in ("any", action)


class _Terms(Evaluator):
    __slots__ = ("tids",)

    def __init__(self, tids: frozenset[int]) -> None:
        self.tids = tids

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        return doc.spans(self.tids, mask) or None

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return [(span[0], span[1], span[2], [span]) for span in doc.spans(self.tids, mask) if not span[3]]


class _Action(Evaluator):
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        return [] if _action_holds(self.kind, doc.action) else None


class _And(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        found: list[Span] = []
        for child in self.children:
            spans = child.eval(doc, mask)
            if spans is None:
                return None
            found.extend(spans)
        return found


class _Or(Evaluator):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Evaluator, ...]) -> None:
        self.children = children

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        # Every matching alternative is evidence, so all of them are evaluated.
        found: list[Span] | None = None
        for child in self.children:
            spans = child.eval(doc, mask)
            if spans is not None:
                found = spans if found is None else found + spans
        return found

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return [pos for child in self.children for pos in child.positions(doc, mask)]


class _Not(Evaluator):
    __slots__ = ("child",)

    def __init__(self, child: Evaluator) -> None:
        self.child = child

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        return [] if self.child.eval(doc, mask) is None else None


class _Field(Evaluator):
    __slots__ = ("child", "mask")

    def __init__(self, mask: int, child: Evaluator) -> None:
        self.mask = mask
        self.child = child

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        return self.child.eval(doc, self.mask)

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        return self.child.positions(doc, self.mask)


class _Near(Evaluator):
    __slots__ = ("distance", "left", "right")

    def __init__(self, left: Evaluator, right: Evaluator, distance: int) -> None:
        self.left = left
        self.right = right
        self.distance = distance

    def eval(self, doc: DocState, mask: int) -> list[Span] | None:
        found = [span for pos in self.positions(doc, mask) for span in pos[3]]
        return found or None

    def positions(self, doc: DocState, mask: int) -> list[Position]:
        lefts = self.left.positions(doc, mask)
        if not lefts:
            return []
        rights = self.right.positions(doc, mask)
        out: list[Position] = []
        for lfield, lstart, lend, lspans in lefts[:_MAX_POSITIONS]:
            for rfield, rstart, rend, rspans in rights[:_MAX_POSITIONS]:
                if rfield != lfield:
                    continue
                # Count the words strictly between the two sides, only in the text between
                # them; overlapping sides do not count as near.
                if lend <= rstart:
                    gap = doc.words_between(lfield, lend, rstart)
                elif rend <= lstart:
                    gap = doc.words_between(lfield, rend, lstart)
                else:
                    continue
                if gap <= self.distance:
                    out.append((lfield, min(lstart, rstart), max(lend, rend), lspans + rspans))
        return out


@dataclass(frozen=True, slots=True)
class TermIds:
    """Allocates term ids: literals (folded text, prefix?), regex patterns and action kinds."""

    literals: dict[tuple[str, bool], int]
    regexes: dict[str, int]
    actions: dict[str, int]

    def count(self) -> int:
        """Return the number of ids allocated so far."""
        return len(self.literals) + len(self.regexes) + len(self.actions)

    def literal(self, text: str, prefix: bool) -> int:
        """Return the id of a folded literal, allocating it on first use."""
        return self.literals.setdefault((text, prefix), self.count())

    def regex(self, pattern: str) -> int:
        """Return the id of a regex pattern, allocating it on first use."""
        return self.regexes.setdefault(pattern, self.count())

    def action(self, kind: str) -> int:
        """Return the id of the pseudo-term hit when the item's action is `kind` (or any)."""
        return self.actions.setdefault(kind, self.count())


def compile_query(root: Node, ids: TermIds) -> tuple[Evaluator, Trigger | None]:
    """Compile a query root to an evaluator and its trigger (None: evaluate for every item)."""
    conjunction = _conjunction(root, DEFAULT_MASK, ids)
    if conjunction is not None:
        return conjunction
    return _tree(root, DEFAULT_MASK, ids)


# ---------------------------------------------------------------- conjunctions

_Clause = tuple[frozenset[int], int]


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
        union = frozenset().union(*(clause[0] for clause, _ in clauses))
        return (union, clauses[0][0][1]), sum(cost for _, cost in clauses)
    return None


def _conjunction(root: Node, mask: int, ids: TermIds) -> tuple[Conjunction, Trigger | None] | None:
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
        triggers.append((_ACTION_COST[action == "any"], frozenset({ids.action(action)})))
    conjunction = Conjunction(
        tuple(clause for clause, _ in required), tuple(excluded), action, tuple(no_action)
    )
    return conjunction, min(triggers, key=lambda trigger: trigger[0]) if triggers else None


_ACTION_COST = {True: 1000, False: 300}


def _atom_ids(node: Word | Phrase | Prefix | VendorTerm | Regex, ids: TermIds) -> tuple[frozenset[int], int]:
    if isinstance(node, Regex):
        return frozenset({ids.regex(node.pattern)}), 20
    tids = []
    cost = 0
    for literal in atom_literals(node):
        tids.append(ids.literal(literal.text, literal.prefix))
        cost += _literal_cost(literal.text)
    return frozenset(tids), cost


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


def _tree(node: Node, mask: int, ids: TermIds) -> tuple[Evaluator, Trigger | None]:
    if isinstance(node, Word | Phrase | Prefix | VendorTerm | Regex):
        tids, cost = _atom_ids(node, ids)
        return _Terms(tids), (cost, tids)
    if isinstance(node, Action):
        return _Action(node.kind), (_ACTION_COST[node.kind == "any"], frozenset({ids.action(node.kind)}))
    if isinstance(node, Not):
        child, _ = _tree(node.child, mask, ids)
        return _Not(child), None
    if isinstance(node, InField):
        field_mask = FIELD_BITS[node.field]
        child, trigger = _tree(node.child, field_mask, ids)
        return _Field(field_mask, child), trigger
    if isinstance(node, Near):
        left, ltrigger = _tree(node.left, mask, ids)
        right, rtrigger = _tree(node.right, mask, ids)
        return _Near(left, right, node.distance), _cheapest([ltrigger, rtrigger])
    compiled = [_tree(child, mask, ids) for child in node.children]
    # Cheap, selective children first so AND stops early; NOT children (no trigger) last.
    compiled.sort(key=lambda pair: pair[1][0] if pair[1] else 10**9)
    children = tuple(evaluator for evaluator, _ in compiled)
    triggers = [trigger for _, trigger in compiled]
    if isinstance(node, And):
        return _And(children), _cheapest(triggers)
    present = [trigger for trigger in triggers if trigger is not None]
    if len(present) < len(triggers):
        return _Or(children), None
    return _Or(children), (
        sum(cost for cost, _ in present),
        frozenset().union(*(tids for _, tids in present)),
    )


def _cheapest(triggers: list[Trigger | None]) -> Trigger | None:
    present = [trigger for trigger in triggers if trigger is not None]
    return min(present, key=lambda trigger: trigger[0]) if present else None
