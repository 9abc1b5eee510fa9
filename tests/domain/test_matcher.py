"""The matcher: real queries against real-looking items, terms reported as written."""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import re2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.domain import matcher as matcher_module
from bot.domain.errors import QueryError
from bot.domain.matcher import AHOCORASICK, HYPERSCAN, Matcher, available_engines, match_one
from bot.domain.models import Match, MatchDoc
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
    parse_query,
    regex_options,
)
from bot.domain.text import NOSPACE_RANGES, WORD_CLASS, fold, is_word_char
from bot.domain.vendors import VendorCatalog

CATALOG = VendorCatalog.load_default()

# Every test that matches runs on each literal scanning engine: the answers must be the same.
# Hyperscan is optional (no wheel on some platforms): its runs are skipped where it is missing.
ENGINES = [
    pytest.param(
        engine, marks=pytest.mark.skipif(engine not in available_engines(), reason="hyperscan not installed")
    )
    for engine in (HYPERSCAN, AHOCORASICK)
]
engines = pytest.mark.parametrize("engine", ENGINES)

# (query, title, summary, terms reported, or None for no match)
CASES = [
    # whole words, possessives, punctuation around words
    ("kaspersky", "Commerce bans Kaspersky's software", "", ("Kaspersky",)),
    ("kaspersky", "Kaspersky’s antivirus", "", ("Kaspersky",)),
    ("kaspersky", "(Kaspersky), said", "", ("Kaspersky",)),
    ("kaspersky", "KASPERSKY!", "", ("KASPERSKY",)),
    ("kaspersky", "Kasperskyx is a typo", "", None),
    ("kaspersky", "antikaspersky tools", "", None),
    ("kaspersky", "kaspersky_lab handle", "", None),
    ("Kaspersky's", "Kaspersky's statement", "", ("Kaspersky's",)),
    ("ban", "Urban banking bans", "", None),
    ("ban", "Ban on imports", "a ban.", ("Ban", "ban")),
    # punctuated terms: boundaries only on word-character edges
    ("TP-Link", "TP-Link routers", "", ("TP-Link",)),
    ("TP-Link", "tp‑link (non-breaking hyphen)", "", ("tp‑link",)),
    ("TP-Link", "TP Link routers", "", None),
    ("TP-Link", "XTP-Linkage", "", None),
    ("c++", "Rust vs C++ in government", "", ("C++",)),
    ("at&t", "AT&T fined", "", ("AT&T",)),
    (".net", "ASP.NET vulnerability", "", (".NET",)),
    (".net", "dotnet and netflix", "", None),
    ("c++", "C++20 rules", "", ("C++",)),
    ("c++", "C+ grade", "", None),
    ('"zte corp."', "ZTE Corp.'s unit", "", ("ZTE Corp.",)),
    ('"zte corp."', "ZTE Corp said", "", None),
    ('"tp link"', "TP-Link routers", "", None),
    ('"tp link"', "TP-Link, then TP Link", "", ("TP Link",)),  # the first raw hit fails its check
    ("kaspersky", "Санкции против Kaspersky", "", ("Kaspersky",)),  # byte and character offsets differ
    ("ban*", "Запрет: bans и banned", "", ("bans",)),  # a term is reported at its first hit
    # vendor: in every script, and look-alike words
    ("vendor:DJI", "Trip to Djibouti", "", None),
    ("vendor:DJI", "DJI drones added to list", "", ("DJI",)),
    ("vendor:DJI", "大疆无人机", "", ("大疆",)),
    ("vendor:ZTE", "Aztec ruins", "", None),
    ("vendor:ZTE", "ZTE fined", "", ("ZTE",)),
    ("vendor:ZTE", "中兴通讯被罚款", "", ("中兴通讯",)),
    ("vendor:Kaspersky", "Лаборатория Касперского заявила", "", ("Лаборатория Касперского",)),
    ("vendor:Kaspersky", "卡巴斯基被禁", "", ("卡巴斯基",)),
    ("vendor:Kaspersky", "Kaspersky Lab and AO Kaspersky Lab", "", ("Kaspersky Lab", "AO Kaspersky Lab")),
    ("vendor:Kaspersky", "Kaspersky's lab", "", ("Kaspersky",)),
    ("vendor:Huawei", "美国制裁华为公司", "", ("华为",)),
    ("vendor:Huawei", "Huawei Technologies Co., Ltd. sued", "", ("Huawei Technologies Co., Ltd.",)),
    ("vendor:TP-Link", "TPLink and TP-Link and 普联", "", ("TPLink", "TP-Link", "普联")),
    (
        'vendor:"China Mobile"',
        "China Mobile International USA loses license",
        "",
        ("China Mobile International USA",),
    ),
    ('vendor:"China Telecom"', "China Telecom (Americas) Corp", "", ("China Telecom (Americas)",)),
    ("vendor:ByteDance", "TikTok ban upheld", "", ("TikTok",)),
    ('vendor:"Acme Widgets"', "Acme Widgets recalled", "", ("Acme Widgets",)),
    # phrases: words in order, adjacent, across spacing and line breaks
    ('"dhs directive"', "New DHS directive", "", ("DHS directive",)),
    ('"dhs directive"', "New DHS\n  Directive issued", "", ("DHS Directive",)),
    ('"dhs directive"', "Directive from DHS", "", None),
    ('"dhs directive"', "DHS emergency directive", "", None),
    (
        '"binding operational directive"',
        "",
        "CISA issued Binding Operational Directive 23-01.",
        ("Binding Operational Directive",),
    ),
    # prefixes: left boundary only; the whole word is reported
    ("direct*", "CISA Directives issued", "", ("Directives",)),
    ("direct*", "indirect effects", "", None),
    ("sanction*", "Treasury sanctioned ZTE", "", ("sanctioned",)),
    # NEAR: either order, distance limit, same field only
    ("ban NEAR/2 kaspersky", "Kaspersky faces a ban", "", ("Kaspersky", "ban")),
    ("ban NEAR/5 kaspersky", "ban on the sale of all Kaspersky products", "", ("ban", "Kaspersky")),
    ("ban NEAR/4 kaspersky", "ban on the sale of all Kaspersky products", "", None),
    ("kaspersky NEAR/0 lab", "Kaspersky Lab", "", ("Kaspersky", "Lab")),
    ("ban NEAR/3 huawei", "Huawei", "ban", None),
    ("(ban OR fine) NEAR/2 vendor:ZTE", "ZTE gets a fine", "", ("ZTE", "fine")),
    ("a NEAR/1 b NEAR/1 c", "a b c", "", ("a", "b", "c")),
    # fields
    ("title:huawei", "Weekly roundup", "Huawei mentioned", None),
    ("summary:huawei", "Weekly roundup", "Huawei mentioned", ("Huawei",)),
    ("huawei", "Weekly roundup", "Huawei mentioned", ("Huawei",)),
    ("source:cisa", "x", "", ("CISA",)),
    ("cisa", "x", "", None),
    ("title:(zte OR huawei) ban", "ZTE news", "a ban", ("ZTE", "ban")),
    # NOT and precedence
    ("huawei -phone", "Huawei phone review", "", None),
    ("huawei -phone", "Huawei banned", "", ("Huawei",)),
    ("huawei NOT title:phone", "Huawei banned", "phone", ("Huawei",)),
    ("huawei OR zte -fine", "ZTE fine", "", None),
    ("huawei OR zte -fine", "Huawei fine", "", ("Huawei",)),
    ("(huawei OR zte) -fine", "Huawei fine", "", None),
    ("a b OR c", "c", "", ("c",)),
    ("a b OR c", "a", "", None),
    ("a b OR c", "b a", "", ("b", "a")),
    # actions
    ("vendor:Kaspersky action:any", "Kaspersky update", "", None),
    ("action:ban huawei", "Huawei", "", None),
    # regex: linear-time RE2, case-insensitive, on the original text
    ("/CVE-\\d{4}-\\d+/ kaspersky", "Kaspersky CVE-2024-1234 fixed", "", ("Kaspersky", "CVE-2024-1234")),
    ("/emergency directive \\d+/", "", "Emergency Directive 24-02", ("Emergency Directive 24",)),
    ("title:/^FCC/", "Notice from the FCC", "", None),
    # accents, width, case folding
    ("ＫＡＳＰＥＲＳＫＹ", "kaspersky lab", "", ("kaspersky",)),
    ("strasse", "Die Straße", "", ("Straße",)),
    ("café", "CAFE\u0301 open", "", ("CAFE\u0301",)),  # decomposed accent kept as written
    ("cafe", "Le café", "", ("café",)),
    ("istanbul", "İstanbul court", "", ("İstanbul",)),
    ("σοφος", "ΣΟΦΟΣ", "", ("ΣΟΦΟΣ",)),
    # scripts without spaces match as substrings; Latin words next to them still match
    ("华为", "美国商务部将华为列入实体清单", "", ("华为",)),
    ("huawei", "美国制裁Huawei公司", "", ("Huawei",)),
    ("ファーウェイ", "米国がファーウェイを制裁", "", ("ファーウェイ",)),
    ("หัวเว่ย", "สหรัฐคว่ำบาตรหัวเว่ยแล้ว", "", ("หัวเว่ย",)),
    # short words follow the same rules
    ("eu ban", "The EU's ban on Huawei", "", ("EU", "ban")),
    ("ai", "He said it again", "", None),
    ("ai", "AI—rules and 华为ai", "", ("AI",)),  # a term is reported as first written in a field
    ("ai", "AI—rules", "华为ai", ("AI", "ai")),
    ("5g", "5G rollout", "", ("5G",)),
    ("5g", "15G or 5Gx", "", None),
    ("eu", "Neutral", "«EU»", ("EU",)),
]


@engines
@pytest.mark.parametrize(("query", "title", "summary", "terms"), CASES)
def test_match_cases(
    query: str, title: str, summary: str, terms: tuple[str, ...] | None, engine: str
) -> None:
    doc = MatchDoc(title=title, summary=summary, source="CISA news")
    found = match_one(parse_query(query, CATALOG), doc, engine)
    assert (found.terms if found else None) == terms


@engines
@pytest.mark.parametrize(
    ("query", "action", "matches"),
    [
        ("vendor:Kaspersky action:any", "ban", True),
        ("vendor:Kaspersky action:any", None, False),
        ("vendor:Kaspersky action:ban", "ban", True),
        ("vendor:Kaspersky action:ban", "fine", False),
        ("vendor:Kaspersky -action:any", None, True),
        ("vendor:Kaspersky -action:any", "entity_list", False),
        ("action:covered_list", "covered_list", True),
        ("action:covered_list OR huawei", "fine", False),
        ("action:covered_list OR huawei", "covered_list", True),
    ],
)
def test_action_conditions(query: str, action: str | None, matches: bool, engine: str) -> None:
    doc = MatchDoc(title="Kaspersky products", summary="", source="FCC", action=action)
    found = match_one(parse_query(query, CATALOG), doc, engine)
    assert (found is not None) == matches
    if found is not None and "kaspersky" in query.lower():
        assert found.terms == ("Kaspersky",)


@engines
def test_matcher_returns_every_matching_subscription_sorted_by_id(engine: str) -> None:
    queries = {
        7: "vendor:Huawei",
        3: "huawei ban",
        5: "zte",
        1: "vendor:Huawei",
        9: '"entity list" -huawei',
        4: "title:huawei",
    }
    matcher = Matcher(((sid, parse_query(text, CATALOG)) for sid, text in queries.items()), engine)
    doc = MatchDoc(title="Commerce adds Huawei to the Entity List", summary="A ban follows.", source="BIS")
    assert matcher.match(doc) == [
        Match(1, ("Huawei",)),
        Match(3, ("Huawei", "ban")),
        Match(4, ("Huawei",)),
        Match(7, ("Huawei",)),
    ]
    assert len(matcher) == 6
    stats = matcher.stats
    assert stats.subscriptions == 6
    assert stats.distinct_queries == 5  # the two vendor:Huawei subscriptions share one query
    assert stats.always_evaluated == 0


@engines
def test_terms_change_from_item_to_item(engine: str) -> None:
    matcher = Matcher(
        [(1, parse_query("vendor:Kaspersky", CATALOG)), (2, parse_query("kaspersky", CATALOG))], engine
    )
    first = MatchDoc("Kaspersky banned", "", "x")
    second = MatchDoc("Лаборатория Касперского", "", "x")
    assert matcher.match(first) == [Match(1, ("Kaspersky",)), Match(2, ("Kaspersky",))]
    assert matcher.match(second) == [Match(1, ("Лаборатория Касперского",))]
    assert matcher.match(first) == [Match(1, ("Kaspersky",)), Match(2, ("Kaspersky",))]


@engines
def test_empty_matcher_and_empty_item(engine: str) -> None:
    assert Matcher([], engine).match(MatchDoc("Huawei", "", "x")) == []
    assert Matcher([(1, parse_query("huawei", CATALOG))], engine).match(MatchDoc("", "", "")) == []


@engines
def test_a_hand_built_query_without_a_required_term_is_evaluated_for_every_item(engine: str) -> None:
    matcher = Matcher([(1, Query(Not(Word("huawei"))))], engine)
    assert matcher.stats.always_evaluated == 1
    assert matcher.match(MatchDoc("ZTE", "", "x")) == [Match(1, ())]
    assert matcher.match(MatchDoc("Huawei", "", "x")) == []


@engines
def test_regexes_still_match_when_the_re2_set_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    class BrokenSet:
        @staticmethod
        def SearchSet(options: object) -> BrokenSet:
            return BrokenSet()

        def Add(self, pattern: str) -> int:
            raise re2.error("out of memory")

    monkeypatch.setattr(matcher_module.re2, "Set", BrokenSet)
    matcher = Matcher(
        [(1, parse_query("/cve-\\d+/", CATALOG)), (2, parse_query("/zte/ huawei", CATALOG))], engine
    )
    assert matcher.match(MatchDoc("CVE-2024 Huawei ZTE", "", "x")) == [
        Match(1, ("CVE-2024",)),
        Match(2, ("Huawei", "ZTE")),
    ]


@engines
def test_regexes_in_several_re2_sets(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    monkeypatch.setattr(matcher_module, "_REGEX_SET_CHUNK", 2)
    patterns = ["alpha\\d", "beta\\d", "gamma\\d", "delta\\d", "epsilon\\d"]
    matcher = Matcher(
        ((sid, parse_query(f"/{pattern}/", CATALOG)) for sid, pattern in enumerate(patterns)), engine
    )
    assert matcher.match(MatchDoc("Epsilon7 and beta2", "gamma", "x")) == [
        Match(1, ("beta2",)),
        Match(4, ("Epsilon7",)),
    ]


def test_reported_terms_are_capped_and_nested_hits_collapse() -> None:
    words = " ".join(f"w{i}" for i in range(30))
    query = parse_query(" OR ".join(f"w{i}" for i in range(30)), CATALOG)
    found = match_one(query, MatchDoc(words, "", "x"))
    assert found is not None
    assert len(found.terms) == matcher_module.MAX_REPORTED_TERMS
    nested = match_one(
        parse_query('kaspersky OR "kaspersky lab"', CATALOG), MatchDoc("Kaspersky Lab", "", "x")
    )
    assert nested is not None
    assert nested.terms == ("Kaspersky Lab",)


def test_invalid_query_never_reaches_the_matcher() -> None:
    with pytest.raises(QueryError):
        parse_query("-huawei", CATALOG)


# ---------------------------------------------------------------- against a reference (property)


def _pattern(literal: str, prefix: bool) -> re.Pattern[str]:
    left = f"(?<!{WORD_CLASS})" if is_word_char(literal[0]) else ""
    right = f"{WORD_CLASS}*" if prefix else f"(?!{WORD_CLASS})" if is_word_char(literal[-1]) else ""
    return re.compile(left + re.escape(literal) + right)


_TOKEN = re.compile(f"[{NOSPACE_RANGES}]|{WORD_CLASS}+")


def _spans(node: Node, doc: MatchDoc, fields: tuple[int, ...]) -> list[tuple[int, int, int]]:
    texts = (fold(doc.title), fold(doc.summary), fold(doc.source))
    out = []
    assert isinstance(node, Word | Phrase | Prefix | VendorTerm)
    for literal in atom_literals(node):
        for field in fields:
            pattern = _pattern(literal.text, literal.prefix)
            out += [(field, m.start(), m.end()) for m in pattern.finditer(texts[field])]
    return out


def _positions(node: Node, doc: MatchDoc, fields: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(field, first word, last word) of every occurrence, by tokenizing the whole field."""
    if isinstance(node, InField):
        return _positions(node.child, doc, (("title", "summary", "source").index(node.field),))
    if isinstance(node, Or):
        return [pos for child in node.children for pos in _positions(child, doc, fields)]
    texts = (fold(doc.title), fold(doc.summary), fold(doc.source))
    if isinstance(node, Near):
        out = []
        for lf, l1, l2 in _positions(node.left, doc, fields):
            for rf, r1, r2 in _positions(node.right, doc, fields):
                if lf == rf and (l2 < r1 or r2 < l1) and max(r1 - l2, l1 - r2) - 1 <= node.distance:
                    out.append((lf, min(l1, r1), max(l2, r2)))
        return out
    out = []
    for field, start, end in _spans(node, doc, fields):
        starts = [m.start() for m in _TOKEN.finditer(texts[field])]
        first = max(i for i, s in enumerate(starts) if s <= start) if starts[0] <= start else -1
        last = max(i for i, s in enumerate(starts) if s <= end - 1)
        out.append((field, first, last))
    return out


def _reference(node: Node, doc: MatchDoc, fields: tuple[int, ...] = (0, 1)) -> bool:
    if isinstance(node, Word | Phrase | Prefix | VendorTerm):
        return bool(_spans(node, doc, fields))
    if isinstance(node, Regex):
        compiled = re2.compile(node.pattern, regex_options())
        return any(compiled.search((doc.title, doc.summary, doc.source)[f]) for f in fields)
    if isinstance(node, Action):
        return doc.action is not None and node.kind in ("any", doc.action)
    if isinstance(node, Not):
        return not _reference(node.child, doc, fields)
    if isinstance(node, InField):
        return _reference(node.child, doc, (("title", "summary", "source").index(node.field),))
    if isinstance(node, And):
        return all(_reference(child, doc, fields) for child in node.children)
    if isinstance(node, Or):
        return any(_reference(child, doc, fields) for child in node.children)
    assert isinstance(node, Near)
    return bool(_positions(node, doc, fields))


_VOCAB = [
    "huawei",
    "Huawei's",
    "ban",
    "bans",
    "fine",
    "ZTE",
    "aztec",
    "DJI",
    "djibouti",
    "TP-Link",
    "tp link",
    "Kaspersky",
    "Лаборатория Касперского",
    "华为",
    "华为公司",
    "eu",
    "EU's",
    "5G",
    "entity",
    "list",
    "C++",
    "Straße",
    "strasse",
    "(",
    ")",
    ",",
    "—",
    "\n",
]
_TEXT = st.lists(st.sampled_from(_VOCAB), max_size=14).map(" ".join)
_TERMS = st.sampled_from(
    [
        "huawei",
        "ban",
        "fine",
        "zte",
        "eu",
        "5g",
        "ban*",
        "TP-Link",
        "c++",
        "strasse",
        "华为",
        '"entity list"',
        '"tp link"',
        "vendor:DJI",
        "vendor:Kaspersky",
        "vendor:ZTE",
        "/ban\\w*/",
        "action:ban",
        "action:any",
    ]
)


def _queries(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"({p[0]} {p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]} OR {p[1]})"),
        st.tuples(children, children).map(lambda p: f"({p[0]} -{p[1]})"),
        st.tuples(children, children, st.integers(0, 4)).map(lambda p: f"({p[0]} NEAR/{p[2]} {p[1]})"),
        st.tuples(st.sampled_from(["title:", "summary:"]), children).map(lambda p: f"{p[0]}{p[1]}"),
    )


@engines
@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    st.lists(st.recursive(_TERMS, _queries, max_leaves=5), min_size=1, max_size=4),
    _TEXT,
    _TEXT,
    st.sampled_from([None, "ban", "fine"]),
)
def test_matcher_agrees_with_a_reference_evaluator(
    engine: str, texts: list[str], title: str, summary: str, action: str | None
) -> None:
    queries = []
    for text in texts:
        with contextlib.suppress(QueryError):
            queries.append(parse_query(text, CATALOG))
    assume(queries)
    doc = MatchDoc(title=title, summary=summary, source="src", action=action)
    expected = [sid for sid, query in enumerate(queries) if _reference(query.root, doc)]
    matcher = Matcher(enumerate(queries), engine)
    found = matcher.match(doc)
    assert [match.subscription_id for match in found] == expected
    for match in found:
        for term in match.terms:
            assert fold(term) in fold(f"{title} {summary}")
    grouped = matcher.match_item(doc)  # what the poller reads: the same, per query group
    assert grouped.subscription_ids() == expected
    assert len(grouped) == len(expected) and bool(grouped) == bool(expected)
    assert [grouped.terms_of(sid) for sid in expected] == [match.terms for match in found]


def test_auto_starts_on_aho_corasick_and_switches_to_hyperscan_once_it_pays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if HYPERSCAN not in available_engines():
        pytest.skip("hyperscan not installed")
    monkeypatch.setattr(matcher_module, "_SWITCH_MIN_BYTES", 100)
    monkeypatch.setattr(matcher_module, "_SWITCH_BYTES_PER_LITERAL", 1)
    queries = [(1, parse_query("vendor:Huawei", CATALOG)), (2, parse_query('"tp link" ban*', CATALOG))]
    auto, fixed = Matcher(queries), Matcher(queries, AHOCORASICK)
    assert auto.engine == "none"  # nothing built before the first item
    doc = MatchDoc("Huawei and TP-Link; TP Link bans", "华为 " * 40, "x")
    engines_seen = []
    for _ in range(3):
        assert (
            auto.match(doc)
            == fixed.match(doc)
            == [Match(1, ("Huawei", "华为")), Match(2, ("TP Link", "bans"))]
        )
        engines_seen.append(auto.engine)
    assert engines_seen == [AHOCORASICK, HYPERSCAN, HYPERSCAN]
    assert Matcher(queries).prepare() == HYPERSCAN
    assert Matcher(queries, AHOCORASICK).prepare() == AHOCORASICK


def test_a_matcher_serves_several_threads_on_every_engine() -> None:
    queries = [(n, parse_query(q, CATALOG)) for n, q in enumerate(["vendor:Huawei", "ban*", '"entity list"'])]
    doc = MatchDoc("Commerce adds Huawei to the Entity List", "A ban follows.", "BIS")
    expected = Matcher(queries, AHOCORASICK).match(doc)
    # Fresh matchers, many times: the first calls race to build the scanner (a thread once read
    # "built" before the scanner was in place and matched nothing).
    for engine in available_engines():
        for _ in range(30):
            matcher = Matcher(queries, engine)
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(matcher.match, [doc] * 50))
            assert all(found == expected for found in results), engine


def test_terms_are_found_when_read_and_equal_a_plain_match() -> None:
    matcher = Matcher([(1, parse_query("huawei", CATALOG)), (2, parse_query("huawei ban", CATALOG))])
    found = matcher.match(MatchDoc("HUAWEI ban", "", "x"))
    assert found == [Match(1, ("HUAWEI",)), Match(2, ("HUAWEI", "ban"))]
    assert [Match(1, ("HUAWEI",)), Match(2, ("HUAWEI", "ban"))] == found
    assert {found[0], Match(1, ("HUAWEI",))} == {Match(1, ("HUAWEI",))}
    assert repr(found[0]) == repr(Match(1, ("HUAWEI",)))
    assert pickle.loads(pickle.dumps(found[1])) == Match(2, ("HUAWEI", "ban"))
    assert dataclasses.asdict(found[1]) == {"subscription_id": 2, "terms": ("HUAWEI", "ban")}
    assert found[0] != Match(1, ("huawei",))


@engines
def test_match_item_lists_subscriptions_per_query_and_words_terms_when_asked(engine: str) -> None:
    texts = {
        10: "vendor:Huawei",
        2: "vendor:Huawei",  # the same query: one group, two subscriptions
        7: "huawei ban",
        3: "huawei -title:report",
        4: "huawei -title:ban",  # excluded: "ban" is in the title
        5: "huawei action:ban",
        6: "huawei action:fine",
        8: "huawei -action:ban",
        9: "huawei NEAR/2 ban",
        11: "zte",
    }
    parsed: dict[str, Query] = {}
    matcher = Matcher(
        ((sid, parsed.setdefault(text, parse_query(text, CATALOG))) for sid, text in texts.items()), engine
    )
    doc = MatchDoc("Huawei ban upheld", "The ban on HUAWEI gear stays.", "x", action="ban")
    item = matcher.match_item(doc)
    assert item.subscription_ids() == [2, 3, 5, 7, 9, 10]
    assert len(item) == 6
    assert item.terms_of(7) == ("Huawei", "ban", "HUAWEI")
    assert item.terms_of(9) == ("Huawei", "ban", "HUAWEI")
    assert item.terms_of(2) == item.terms_of(10) == ("Huawei", "HUAWEI")
    assert list(item) == matcher.match(doc)
    assert not matcher.match_item(MatchDoc("Nothing here", "", "x"))
    assert len(matcher.match_item(MatchDoc("Nothing here", "", "x"))) == 0


@engines
def test_a_word_many_queries_pair_with_names_is_not_what_they_are_found_by(engine: str) -> None:
    # "equipment" is paired with 40 names: the queries are indexed by their names, and the answers
    # are the same whichever of the two sets is checked first.
    names = [f"vendor{index}" for index in range(40)]
    queries = [(index, parse_query(f"{name} equipment", CATALOG)) for index, name in enumerate(names)]
    queries.append((40, parse_query("equipment acme", CATALOG)))
    matcher = Matcher(queries, engine)
    assert (
        matcher.match_item(MatchDoc("Telecom equipment", "rules for equipment", "x")).subscription_ids() == []
    )
    doc = MatchDoc("vendor3 equipment", "and Acme equipment, vendor39", "x")
    assert [m.subscription_id for m in matcher.match(doc)] == [3, 39, 40]
    assert matcher.match(doc)[0].terms == ("vendor3", "equipment")
