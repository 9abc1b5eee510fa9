"""The subscription query language: parse text into a small AST, print it back.

Grammar, loosest binding first (NOT > NEAR > AND > OR):

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*
    near    := unary ("NEAR/n" unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | FIELD ":" primary | "vendor:" NAME | "action:" TYPE
             | WORD | PREFIX* | "PHRASE" | /REGEX/

Rules the grammar does not show:
- Operators are upper case (`AND`, `OR`, `NOT`, `NEAR/5`); "or" in lower case is a word.
- `title:`, `summary:`, `source:` apply to the term or group written right after the colon; an
  inner restriction wins over an outer one. Terms without one search title and summary.
- `vendor:Name` takes one word or a quoted name: `vendor:"China Mobile"`. An unquoted name that
  runs on into a longer catalog name (`vendor:China Mobile`) is rejected with a hint to quote
  it, because it would silently mean `vendor:China AND Mobile`.
- A query must name something that has to appear: one that could match an item containing none
  of its terms (`-huawei`, `a OR -b`) is rejected; it would alert on nearly everything.
- NEAR takes words, phrases, prefixes, vendors, or OR-groups of these on each side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import re2

from bot.domain.errors import QueryError
from bot.domain.text import fold
from bot.domain.vendors import VendorCatalog

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 50
MAX_DEPTH = 20
MAX_NEAR_DISTANCE = 50
MAX_REGEX_LENGTH = 300
MAX_REGEX_PROGRAM_SIZE = 5000
MIN_PREFIX_LENGTH = 3
REGEX_MAX_MEM = 4 << 20
# The cost model (`query_cost`): worst-case work units to evaluate one query on one item, hostile
# items included. A query costing more is refused when it is added; evaluation stops at the same
# budget (bot/domain/query_eval.py), so one subscription can never starve the others.
MAX_QUERY_COST = 100_000
NEAR_MAX_POSITIONS = 200  # occurrences of each NEAR side considered per item
REGEX_COST = 1_000  # a separate linear-time pass over the item's text

ACTION_TYPES = (
    "ban",
    "directive",
    "sanction",
    "entity_list",
    "covered_list",
    "guidance",
    "fine",
    "investigation",
    "any",
)


# ---------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Word:
    """A whole word (or a punctuated token such as TP-Link or C++), as typed."""

    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words in this order, adjacent; `text` is what stood between the quotes."""

    text: str


@dataclass(frozen=True, slots=True)
class Prefix:
    """Any word starting with `text` (typed as `text*`)."""

    text: str


@dataclass(frozen=True, slots=True)
class VendorTerm:
    """Any name of a catalog vendor; `known` is False when the name fell back to a phrase."""

    name: str
    aliases: tuple[str, ...]
    known: bool = True


@dataclass(frozen=True, slots=True)
class Regex:
    """A google-re2 pattern, run case-insensitively on the original text."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Action:
    """The item's classified action is `kind`, or any action for "any"."""

    kind: str


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near:
    """Both sides match in the same field with at most `distance` words between them."""

    left: Node
    right: Node
    distance: int


@dataclass(frozen=True, slots=True)
class InField:
    """The child matches within one field: title, summary or source."""

    field: str
    child: Node


Atom = Word | Phrase | Prefix | VendorTerm | Regex | Action
Node = Atom | Not | And | Or | Near | InField
_ATOMS = (Word, Phrase, Prefix, VendorTerm, Regex, Action)


@dataclass(frozen=True, slots=True)
class Literal:
    """A folded literal the matcher looks for: a whole word or phrase, or a word prefix."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: the AST root and any warnings for the person who wrote it."""

    root: Node
    # Warnings follow from the AST, so equality compares the AST only.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return format_node(self.root)

    def atoms(self) -> tuple[Atom, ...]:
        """Return every atom (word, phrase, prefix, vendor, regex, action) in query order."""
        return tuple(_walk_atoms(self.root))

    def literals(self) -> tuple[Literal, ...]:
        """Return the distinct folded literals to index, vendor aliases included."""
        seen: dict[Literal, None] = {}
        for atom in _walk_atoms(self.root):
            for literal in atom_literals(atom):
                seen.setdefault(literal, None)
        return tuple(seen)


@lru_cache(maxsize=1 << 16)  # many subscriptions share atoms (vendor:Huawei): fold them once
def atom_literals(atom: Atom) -> tuple[Literal, ...]:
    """Return the folded literals an atom looks for (none for regex and action)."""
    if isinstance(atom, Word | Phrase):
        return (Literal(fold(atom.text).strip()),)
    if isinstance(atom, Prefix):
        return (Literal(fold(atom.text).strip(), prefix=True),)
    if isinstance(atom, VendorTerm):
        return tuple(dict.fromkeys(Literal(fold(alias).strip()) for alias in atom.aliases))
    return ()


def _walk_atoms(node: Node) -> Iterator[Atom]:
    if isinstance(node, _ATOMS):
        yield node
    elif isinstance(node, Not | InField):
        yield from _walk_atoms(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _walk_atoms(child)
    elif isinstance(node, Near):
        yield from _walk_atoms(node.left)
        yield from _walk_atoms(node.right)


def uses_action(node: Node) -> bool:
    """Tell whether a query looks at the item's classified action (`action:` anywhere in it)."""
    return any(isinstance(atom, Action) for atom in _walk_atoms(node))


# ---------------------------------------------------------------- printing


def format_node(node: Node) -> str:
    """Return the canonical text of a node; parsing it gives back an equal node."""
    if isinstance(node, Word):
        return node.text
    if isinstance(node, Prefix):
        return node.text + "*"
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Regex):
        return f"/{node.pattern}/"
    if isinstance(node, Action):
        return f"action:{node.kind}"
    if isinstance(node, VendorTerm):
        return "vendor:" + (node.name if _is_bare_word(node.name) else f'"{node.name}"')
    if isinstance(node, Not):
        return "NOT " + _wrap(node.child, (And, Or, Near))
    if isinstance(node, And):
        # Explicit AND: "vendor:Kaspersky AND Lab" must not read as a multi-word vendor name.
        return " AND ".join(_wrap(child, (Or,)) for child in node.children)
    if isinstance(node, Or):
        return " OR ".join(format_node(child) for child in node.children)
    if isinstance(node, Near):
        # NEAR chains to the left, so only a NEAR on the right needs parentheses.
        left = _wrap(node.left, (And, Or, Not))
        right = _wrap(node.right, (And, Or, Not, Near))
        return f"{left} NEAR/{node.distance} {right}"
    # InField: a term (or a field of a term) follows the colon directly, the rest in parentheses.
    if _bare_after_field(node.child):
        return f"{node.field}:{format_node(node.child)}"
    return f"{node.field}:({format_node(node.child)})"


def _bare_after_field(node: Node) -> bool:
    if isinstance(node, InField):
        return _bare_after_field(node.child)
    return isinstance(node, Word | Phrase | Prefix | Regex | VendorTerm)


def _wrap(node: Node, kinds: tuple[type, ...]) -> str:
    text = format_node(node)
    return f"({text})" if isinstance(node, kinds) else text


def _is_bare_word(text: str) -> bool:
    try:
        tokens = _lex(text)
    except QueryError:
        return False
    return len(tokens) == 1 and tokens[0].kind == "word" and tokens[0].text == text and "*" not in text


# ---------------------------------------------------------------- lexing


class _Token(NamedTuple):  # a tuple: made five times per query, 100,000 queries at start
    kind: str  # word, phrase, regex, lparen, rparen, and, or, not, near, field
    text: str
    pos: int
    attached: bool  # directly follows the previous token, no space between
    value: int = 0  # NEAR distance


_FIELD_PREFIX = re.compile(r"(title|summary|source|vendor|action):", re.IGNORECASE)
_NEAR = re.compile(r"NEAR/(\d{1,4})")
_OPERATORS = {"AND": "and", "OR": "or", "NOT": "not"}
_WORD = re.compile(r'[^()"\s\x1c-\x1f\x85]*')  # up to whitespace (as str.isspace), a parenthesis or a quote


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    attached = False
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            attached = False
            continue
        start = i
        if char == "(":
            tokens.append(_Token("lparen", char, start, attached))
            i += 1
        elif char == ")":
            tokens.append(_Token("rparen", char, start, attached))
            i += 1
        elif char == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError("unclosed quote", start)
            tokens.append(_Token("phrase", text[i + 1 : close], start, attached))
            i = close + 1
        elif char == "/":
            i = _lex_regex(text, i, tokens, attached)
        elif char == "-":
            if i + 1 == n or text[i + 1].isspace() or text[i + 1] == ")":
                raise QueryError("- must be followed directly by a term, as in -huawei", start)
            tokens.append(_Token("not", "-", start, attached))
            i += 1
        else:
            end = _WORD.match(text, i).end()  # type: ignore[union-attr]  # always matches
            raw = text[i:end]
            field_match = _FIELD_PREFIX.match(raw)
            if field_match:
                tokens.append(_Token("field", field_match.group(1).lower(), start, attached))
                i += field_match.end()
                attached = True
                continue
            if raw in _OPERATORS:
                tokens.append(_Token(_OPERATORS[raw], raw, start, attached))
            elif raw == "NEAR" or raw.startswith("NEAR/"):
                near = _NEAR.fullmatch(raw)
                if near is None:
                    raise QueryError("NEAR needs a distance in words, e.g. NEAR/5", start)
                distance = int(near.group(1))
                if distance > MAX_NEAR_DISTANCE:
                    raise QueryError(f"NEAR distance can be at most {MAX_NEAR_DISTANCE} words", start)
                tokens.append(_Token("near", raw, start, attached, distance))
            else:
                tokens.append(_Token("word", raw, start, attached))
            i = end
        attached = True
    return tokens


def _lex_regex(text: str, start: int, tokens: list[_Token], attached: bool) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "/":
            tokens.append(_Token("regex", text[start + 1 : i], start, attached))
            return i + 1
        i += 1
    raise QueryError("unclosed regular expression: end it with /", start)


# ---------------------------------------------------------------- parsing


def parse_query(text: str, vendors: VendorCatalog | None = None) -> Query:
    """Parse query text into a Query, or raise QueryError with the position and the reason.

    `vendors` defaults to the built-in catalog (bot/data/vendors.toml).
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if not text.strip():
        raise QueryError("empty query", 0)
    simple = _simple_atom(text)
    if simple is not None:
        return Query(simple)
    parser = _Parser(_lex(text), vendors if vendors is not None else VendorCatalog.load_default())
    root = parser.parse()
    if not _requires_a_term(root):
        raise QueryError(
            "this query would match items that contain none of its terms; "
            "add a term that must appear (for example: huawei -phone)",
            parser.first_not,
        )
    check_cost(root)
    return Query(root, (*parser.warnings, *operator_hints(text)))


def vendor_hint(name: str, vendors: VendorCatalog) -> str:
    """Return "; did you mean X?" for a vendor name close to a catalog name (a typo), else ""."""
    import difflib

    names = {n.casefold(): n for v in vendors for n in (v.name, *v.aliases)}
    close = difflib.get_close_matches(name.casefold(), list(names), n=1, cutoff=0.8)
    return f"; did you mean vendor:{_quoted(names[close[0]])}?" if close else ""


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def operator_hints(text: str) -> tuple[str, ...]:
    """Hint when lower-case `or`/`and` stand between terms: they are searched as words, not operators."""
    if "or" not in text and "and" not in text:
        return ()  # what the patterns below look for is not there (most queries)
    outside = re.sub(r'"[^"]*"|/[^/]*/', " ", text)  # not inside phrases or regular expressions
    found = sorted({w for w in re.findall(r"(?<![\w:])(or|and)(?![\w*])", outside)})
    return tuple(
        f"'{w}' is searched as a word; write {w.upper()} for the operator (operators are upper case)"
        for w in found
    )


# ---------------------------------------------------------------- cost model


def query_cost(node: Node) -> int:
    """Return the worst-case work to evaluate `node` on one item, in evaluation steps.

    Word, phrase, prefix and vendor terms are found for all subscriptions at once in one scan,
    and AND/OR/NOT over them are set operations: 1 each. A regex is its own pass over the text.
    NEAR compares the occurrences of its two sides within the distance window: with at most
    NEAR_MAX_POSITIONS occurrences a side and `width` occurrences per word on the right, a NEAR
    costs up to 2 x NEAR_MAX_POSITIONS + NEAR_MAX_POSITIONS x min(NEAR_MAX_POSITIONS,
    (2 x distance + 2) x width). An attacker controls item text, so every word counts as common.
    """
    if isinstance(node, Regex):
        return REGEX_COST
    if isinstance(node, Not | InField):
        return query_cost(node.child)
    if isinstance(node, And | Or):
        return sum(query_cost(child) for child in node.children)
    if isinstance(node, Near):
        per_left = min(NEAR_MAX_POSITIONS, (2 * node.distance + 2) * _width(node.right))
        pairs = 2 * NEAR_MAX_POSITIONS + NEAR_MAX_POSITIONS * per_left
        return query_cost(node.left) + query_cost(node.right) + pairs
    return 1


def _width(node: Node) -> int:
    """Return how many occurrences of a NEAR side can start at one word."""
    if isinstance(node, InField):
        return _width(node.child)
    if isinstance(node, Or):
        return sum(_width(child) for child in node.children)
    if isinstance(node, Word | Phrase | Prefix | VendorTerm):
        return max(1, len(atom_literals(node)))
    return NEAR_MAX_POSITIONS  # a NEAR's spans: many can start at one word


def check_cost(root: Node) -> None:
    """Raise QueryError saying why when the query's worst-case cost exceeds MAX_QUERY_COST."""
    cost = query_cost(root)
    if cost <= MAX_QUERY_COST:
        return
    nears = [node for node in _walk(root) if isinstance(node, Near)]
    regexes = sum(1 for node in _walk(root) if isinstance(node, Regex))
    parts = []
    if nears:
        widest = max(near.distance for near in nears)
        parts.append(f"{len(nears)} NEAR operators (distance up to {widest} words)")
    if regexes:
        parts.append(f"{regexes} regular expressions")
    what = " and ".join(parts) or "its terms"
    raise QueryError(
        f"the query is too costly to evaluate: {what} could take about {cost:,} steps per item,"
        f" more than the {MAX_QUERY_COST:,} allowed; use fewer NEAR operators, smaller NEAR"
        " distances, phrases instead of NEAR, or fewer regular expressions",
        0,
    )


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Not | InField):
        yield from _walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _walk(child)
    elif isinstance(node, Near):
        yield from _walk(node.left)
        yield from _walk(node.right)


def _simple_atom(text: str) -> Phrase | Word | None:
    """Return the atom of a query that is one valid quoted phrase or one plain word, else None.

    Most subscriptions are one vendor name in quotes or one word; this gives the same atom as
    the full parser, which still handles every other query and reports every error.
    """
    if text[0] == '"':
        if text.find('"', 1) != len(text) - 1:
            return None
        inner = text[1:-1]
        if not inner.strip() or not _has_letters(inner):
            return None
        return Phrase(inner)
    if text.isalnum() and text not in _OPERATORS and text != "NEAR" and _has_letters(text):
        return Word(text)
    return None


def _has_letters(text: str) -> bool:
    if text.isascii():  # folding ASCII only lowers it and collapses spaces: the same letters
        return any(char.isalnum() for char in text)
    return any(char.isalnum() for char in fold(text))


def _requires_a_term(node: Node) -> bool:
    """Tell whether every item the node matches must contain one of its positive atoms."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_requires_a_term(child) for child in node.children)
    if isinstance(node, Or):
        return all(_requires_a_term(child) for child in node.children)
    if isinstance(node, InField):
        return _requires_a_term(node.child)
    return True  # atoms, and NEAR (both sides are positional atoms)


def _is_positional(node: Node) -> bool:
    if isinstance(node, Word | Phrase | Prefix | VendorTerm | Near):
        return True
    if isinstance(node, Or):
        return all(_is_positional(child) for child in node.children)
    if isinstance(node, InField):
        return _is_positional(node.child)
    return False


_STARTS_OPERAND = frozenset({"word", "phrase", "regex", "lparen", "not", "field"})


class _Parser:
    def __init__(self, tokens: list[_Token], vendors: VendorCatalog) -> None:
        self.tokens = tokens
        self.vendors = vendors
        self.index = 0
        self.depth = 0
        self.terms = 0
        # Where a query of only NOT terms is reported: its first NOT.
        self.first_not = next((token.pos for token in tokens if token.kind == "not"), 0)
        self.warnings: list[str] = []

    # -- token helpers

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def end_pos(self) -> int:
        last = self.tokens[-1]
        return last.pos + max(len(last.text), 1)

    # -- grammar

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token is not None:
            # parse_or stops only at a closing parenthesis nobody opened.
            raise QueryError("unmatched closing parenthesis", token.pos)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            self.require_operand("OR needs a term on both sides", token.pos)
            children.append(self.parse_and())
        return _flatten(Or, children)

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while (token := self.peek()) is not None:
            if token.kind == "and":
                self.take()
                self.require_operand("AND needs a term on both sides", token.pos)
            elif token.kind not in _STARTS_OPERAND:
                break
            children.append(self.parse_near())
        return _flatten(And, children)

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while (token := self.peek()) is not None and token.kind == "near":
            self.take()
            self.require_operand("NEAR needs a term on both sides", token.pos)
            right_pos = self.tokens[self.index].pos
            right = self.parse_unary()
            for side, pos in ((left, token.pos), (right, right_pos)):
                if not _is_positional(side):
                    raise QueryError(
                        "NEAR takes a word, phrase, prefix, vendor or a group of alternatives "
                        "joined by OR on each side",
                        pos,
                    )
            left = Near(left, right, token.value)
        return left

    def parse_unary(self) -> Node:
        token = self.peek()
        if token is not None and token.kind == "not":
            self.take()
            self.require_operand("NOT needs a term after it", token.pos)
            self.enter(token.pos)
            child = self.parse_unary()
            self.depth -= 1
            return Not(child)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise QueryError("the query ends where a term was expected", self.end_pos())
        if token.kind == "lparen":
            self.take()
            self.enter(token.pos)
            inner = self.peek()
            if inner is None:
                raise QueryError("missing closing parenthesis", token.pos)
            if inner.kind == "rparen":
                raise QueryError("empty parentheses", token.pos)
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise QueryError("missing closing parenthesis", token.pos)
            self.take()
            self.depth -= 1
            return node
        if token.kind == "rparen":
            raise QueryError("unmatched closing parenthesis", token.pos)
        if token.kind in ("or", "and", "near"):
            raise QueryError(f"{token.text.split('/')[0]} needs a term on both sides", token.pos)
        self.take()
        if token.kind == "field":
            return self.parse_field(token)
        return self.atom(token)

    def parse_field(self, token: _Token) -> Node:
        operand = self.peek()
        name = token.text
        if operand is None or not operand.attached:
            what = {"vendor": "a vendor name", "action": "an action type"}.get(name, "a term")
            raise QueryError(f"{name}: needs {what} right after the colon, with no space", token.pos)
        if name == "vendor":
            return self.parse_vendor(token)
        if name == "action":
            return self.parse_action(token)
        if operand.kind == "not":
            raise QueryError(f"put the NOT before the field: -{name}:term", operand.pos)
        if operand.kind == "field" and operand.text == "action":
            raise QueryError("action: applies to the whole item and cannot follow a field", operand.pos)
        if operand.kind not in ("word", "phrase", "regex", "lparen", "field"):
            raise QueryError(f"{name}: needs a term or a group in parentheses", operand.pos)
        self.enter(token.pos)
        child = self.parse_primary()
        self.depth -= 1
        return InField(name, child)

    def parse_vendor(self, token: _Token) -> Node:
        operand = self.take()
        if operand.kind not in ("word", "phrase"):
            raise QueryError('vendor: needs a name, e.g. vendor:Huawei or vendor:"China Mobile"', operand.pos)
        name = operand.text.strip()
        if operand.kind == "word":
            if name.endswith("*"):
                raise QueryError("vendor: takes a whole name, not a prefix", operand.pos)
            self.reject_unquoted_multiword(name, token.pos)
        if not name:
            raise QueryError("vendor: needs a name", operand.pos)
        self.count_term(token.pos)
        vendor = self.vendors.lookup(name)
        if vendor is None:
            self.check_has_letters(name, operand.pos)
            self.warnings.append(
                f'unknown vendor "{name}": matching the words "{name}" instead'
                + vendor_hint(name, self.vendors)
            )
            return VendorTerm(name, (name,), known=False)
        return VendorTerm(vendor.name, vendor.all_names)

    def reject_unquoted_multiword(self, name: str, pos: int) -> None:
        words = [name]
        for offset in range(6):
            following = self.peek(offset)
            if following is None or following.kind != "word" or following.attached:
                break
            words.append(following.text)
            candidate = " ".join(words)
            if self.vendors.lookup(candidate) is not None:
                raise QueryError(
                    f'write multi-word vendor names in quotes: vendor:"{candidate}" '
                    "(or put AND before the next word)",
                    pos,
                )

    def parse_action(self, token: _Token) -> Node:
        operand = self.take()
        kind = operand.text.lower()
        if operand.kind != "word" or kind not in ACTION_TYPES:
            raise QueryError(
                f"unknown action type {operand.text!r}; use one of: {', '.join(ACTION_TYPES)}", operand.pos
            )
        self.count_term(token.pos)
        return Action(kind)

    def atom(self, token: _Token) -> Node:
        self.count_term(token.pos)
        if token.kind == "regex":
            return Regex(check_regex(token.text, token.pos))
        if token.kind == "phrase":
            if not token.text.strip():
                raise QueryError("empty phrase", token.pos)
            self.check_has_letters(token.text, token.pos)
            return Phrase(token.text)
        text = token.text
        if "*" in text[:-1]:
            raise QueryError("* can only end a word (prefix search)", token.pos + text.index("*"))
        if text.endswith("*"):
            stem = text[:-1]
            folded = fold(stem)
            if len(folded) < MIN_PREFIX_LENGTH or not folded[-1].isalnum():
                raise QueryError(
                    f"a prefix needs at least {MIN_PREFIX_LENGTH} letters or digits before *",
                    token.pos,
                )
            return Prefix(stem)
        self.check_has_letters(text, token.pos)
        return Word(text)

    # -- checks

    def require_operand(self, reason: str, pos: int) -> None:
        token = self.peek()
        if token is None or token.kind not in _STARTS_OPERAND:
            raise QueryError(reason, pos)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"the query nests more than {MAX_DEPTH} levels deep", pos)

    def count_term(self, pos: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"the query has more than {MAX_TERMS} terms", pos)

    @staticmethod
    def check_has_letters(text: str, pos: int) -> None:
        if not _has_letters(text):
            raise QueryError(f"{text.strip()!r} has no letters or digits to match", pos)


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            flat.extend(child.children)
        else:
            flat.append(child)
    return kind(tuple(flat))


def regex_options() -> re2.Options:
    """Return the RE2 options every query regex is compiled with (case-insensitive, capped memory)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = REGEX_MAX_MEM
    return options


def check_regex(pattern: str, pos: int) -> str:
    """Return `pattern` if it is a usable RE2 regex, else raise QueryError at `pos`."""
    if not pattern:
        raise QueryError("empty regular expression", pos)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QueryError(f"the regular expression is longer than {MAX_REGEX_LENGTH} characters", pos)
    try:
        compiled = re2.compile(pattern, regex_options())
    except Exception as exc:  # re2 raises its own error type, or UnicodeError for lone surrogates
        raise QueryError(f"invalid regular expression: {_re2_reason(exc, pattern)}", pos) from exc
    if compiled.programsize > MAX_REGEX_PROGRAM_SIZE:
        raise QueryError("the regular expression is too complex; simplify it", pos)
    if compiled.search("") is not None:
        raise QueryError("the regular expression matches empty text, so it would match every item", pos)
    return pattern


def _re2_reason(exc: Exception, pattern: str) -> str:
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    message = str(message)
    # RE2 appends ": <the offending part>"; keep the plain reason.
    return message.split(":", 1)[0] if ":" in message else message
