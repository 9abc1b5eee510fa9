"""The query language: parsing, canonical printing, errors, and the vendor catalog."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ConfigError, QueryError
from bot.domain.query import (
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    Action,
    And,
    InField,
    Literal,
    Near,
    Not,
    Or,
    Phrase,
    Prefix,
    Query,
    Regex,
    VendorTerm,
    Word,
    parse_query,
)
from bot.domain.text import FoldedText, _fold_cluster, fold, fold_by_segments
from bot.domain.vendors import Vendor, VendorCatalog

CATALOG = VendorCatalog.load_default()


def parse(text: str) -> Query:
    return parse_query(text, CATALOG)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("kaspersky", "kaspersky"),
        ("Kaspersky's", "Kaspersky's"),
        ("TP-Link", "TP-Link"),
        ("C++ OR AT&T", "C++ OR AT&T"),
        ('"dhs directive"', '"dhs directive"'),
        ("direct*", "direct*"),
        ("a b", "a AND b"),
        ("a AND b", "a AND b"),
        ("a OR b", "a OR b"),
        ("a -b", "a AND NOT b"),
        ("a NOT b", "a AND NOT b"),
        ("a b OR c", "a AND b OR c"),
        ("a (b OR c)", "a AND (b OR c)"),
        ("a AND (b AND c)", "a AND b AND c"),
        ("(a OR b) OR c", "a OR b OR c"),
        ("((a))", "a"),
        ("a NEAR/5 b", "a NEAR/5 b"),
        ("a NEAR/5 b NEAR/2 c", "a NEAR/5 b NEAR/2 c"),
        ("a NEAR/5 (b NEAR/2 c)", "a NEAR/5 (b NEAR/2 c)"),
        ("x a NEAR/3 b", "x AND a NEAR/3 b"),
        ("(ban OR fine) NEAR/3 vendor:ZTE", "(ban OR fine) NEAR/3 vendor:ZTE"),
        ("title:huawei", "title:huawei"),
        ("Title:huawei", "title:huawei"),
        ("title:(huawei OR zte) ban", "title:(huawei OR zte) AND ban"),
        ('summary:"entity list"', 'summary:"entity list"'),
        ("source:cisa", "source:cisa"),
        ("title:summary:x", "title:summary:x"),
        ("vendor:kaspersky", "vendor:Kaspersky"),
        ("vendor:Касперский", "vendor:Kaspersky"),
        ("vendor:华为", "vendor:Huawei"),
        ('vendor:"China Mobile"', 'vendor:"China Mobile"'),
        ('vendor:"china mobile international usa"', 'vendor:"China Mobile"'),
        ("vendor:Kaspersky AND Lab", "vendor:Kaspersky AND Lab"),
        ("vendor:TikTok", "vendor:ByteDance"),
        ("action:BAN", "action:ban"),
        ("action:any vendor:ZTE", "action:any AND vendor:ZTE"),
        ("/CVE-\\d{4}-\\d+/", "/CVE-\\d{4}-\\d+/"),
        ("/a\\/b/ x", "/a\\/b/ AND x"),
        ("a -(b OR c)", "a AND NOT (b OR c)"),
        ("a --b", "a AND NOT NOT b"),
        ("a -title:b", "a AND NOT title:b"),
        ("10:30 foo:bar 24/7", "10:30 AND foo:bar AND 24/7"),
        ("and or not", "and AND or AND not"),
        ("NEARBY NEARLY", "NEARBY AND NEARLY"),
        ("华为", "华为"),
    ],
)
def test_parse_canonical_form(text: str, canonical: str) -> None:
    query = parse(text)
    assert str(query) == canonical
    assert parse(str(query)) == query


def test_parse_builds_the_expected_tree() -> None:
    query = parse('vendor:ZTE (ban OR "entity list") -title:rumor x NEAR/3 direct*')
    zte = CATALOG.lookup("ZTE")
    assert zte is not None
    assert query.root == And(
        (
            VendorTerm("ZTE", zte.all_names),
            Or((Word("ban"), Phrase("entity list"))),
            Not(InField("title", Word("rumor"))),
            Near(Word("x"), Prefix("direct"), 3),
        )
    )


def test_not_binds_tighter_than_near_so_not_inside_near_is_rejected() -> None:
    with pytest.raises(QueryError) as error:
        parse("a -b NEAR/3 c")
    assert "NEAR takes" in error.value.reason


def test_precedence_not_near_and_or() -> None:
    query = parse("a b NEAR/2 c OR d -e")
    assert query.root == Or(
        (
            And((Word("a"), Near(Word("b"), Word("c"), 2))),
            And((Word("d"), Not(Word("e")))),
        )
    )


def test_atoms_and_literals() -> None:
    query = parse('Kaspersky "Entity List" sanction* /x+y/ action:fine -ZTE vendor:DJI')
    kinds = [type(atom) for atom in query.atoms()]
    assert kinds == [Word, Phrase, Prefix, Regex, Action, Word, VendorTerm]
    literals = query.literals()
    assert literals[:4] == (
        Literal("kaspersky"),
        Literal("entity list"),
        Literal("sanction", prefix=True),
        Literal("zte"),
    )
    assert Literal("dji") in literals
    assert Literal("大疆") in literals
    assert Literal("sz dji technology co., ltd.") in literals


def test_unknown_vendor_falls_back_to_the_phrase_with_a_warning() -> None:
    query = parse('vendor:"Acme Widgets" ban')
    assert query.root == And((VendorTerm("Acme Widgets", ("Acme Widgets",), known=False), Word("ban")))
    assert query.warnings == ('unknown vendor "Acme Widgets": matching the words "Acme Widgets" instead',)
    again = parse(str(query))
    assert again == query
    assert again.warnings == query.warnings


def test_known_vendor_has_no_warning() -> None:
    assert parse("vendor:Hikvision").warnings == ()


def test_default_catalog_is_used_when_none_is_given() -> None:
    assert str(parse_query("vendor:海康威视")) == "vendor:Hikvision"


def test_custom_catalog() -> None:
    catalog = VendorCatalog([Vendor("Acme", ("Acme Corp", "アクメ"))])
    query = parse_query("vendor:アクメ", catalog)
    assert query.root == VendorTerm("Acme", ("Acme", "Acme Corp", "アクメ"))
    assert parse_query("vendor:Huawei", catalog).warnings


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ('huawei "emergency directive', 7, "unclosed quote"),
        ("(a OR b", 0, "missing closing parenthesis"),
        ("a (b (c)", 2, "missing closing parenthesis"),
        ("a)", 1, "unmatched closing parenthesis"),
        ("()", 0, "empty parentheses"),
        ("a OR", 2, "OR needs a term on both sides"),
        ("OR a", 0, "OR needs a term on both sides"),
        ("a OR OR b", 2, "OR needs a term on both sides"),
        ("a AND", 2, "AND needs a term on both sides"),
        ("a AND OR b", 2, "AND needs a term on both sides"),
        ("a NEAR/3", 2, "NEAR needs a term on both sides"),
        ("NEAR/3 a", 0, "NEAR needs a term on both sides"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/x b", 2, "NEAR needs a distance"),
        ("a NEAR/99 b", 2, "NEAR distance can be at most 50"),
        ("a NEAR/3 (b c)", 9, "NEAR takes a word"),
        ("action:ban NEAR/3 b", 11, "NEAR takes a word"),
        ("a NOT", 2, "NOT needs a term after it"),
        ("-huawei", 0, "would match items that contain none of its terms"),
        ("NOT a NOT b", 0, "would match items that contain none of its terms"),
        ("a OR -b", 5, "would match items that contain none of its terms"),
        ("- a", 0, "- must be followed directly by a term"),
        ("a -", 2, "- must be followed directly by a term"),
        ("vendor:China Mobile", 0, 'write multi-word vendor names in quotes: vendor:"China Mobile"'),
        ("vendor:Kaspersky Lab", 0, 'vendor:"Kaspersky Lab"'),
        ("x vendor:China Telecom", 2, 'vendor:"China Telecom"'),
        ("vendor:", 0, "vendor: needs a vendor name right after the colon"),
        ("vendor: Huawei", 0, "vendor: needs a vendor name right after the colon"),
        ("action:", 0, "action: needs an action type right after the colon"),
        ("a (", 2, "missing closing parenthesis"),
        ("vendor:(a OR b)", 7, "vendor: needs a name"),
        ("vendor:Kasp*", 7, "not a prefix"),
        ("title: huawei", 0, "title: needs a term right after the colon"),
        ("title:-huawei x", 6, "put the NOT before the field"),
        ("title:action:ban", 6, "action: applies to the whole item"),
        ("action:banned", 7, "unknown action type 'banned'"),
        ("action:(ban)", 7, "unknown action type"),
        ("/(ab/", 0, "invalid regular expression: missing )"),
        ("x /a**/", 2, "invalid regular expression: bad repetition operator"),
        ("/abc", 0, "unclosed regular expression"),
        ("//", 0, "empty regular expression"),
        ("/a*/", 0, "matches empty text"),
        ("/" + "a" * 301 + "/", 0, "longer than 300 characters"),
        ("/(((a{100}){100}){100})/", 0, "invalid regular expression"),
        ("di*", 0, "a prefix needs at least 3 letters"),
        ("a*b", 1, "* can only end a word"),
        ("direct**", 6, "* can only end a word"),
        ("&", 0, "has no letters or digits"),
        ('"  "', 0, "empty phrase"),
        ('x "!!"', 2, "has no letters or digits"),
        ("x" * (MAX_QUERY_LENGTH + 1), MAX_QUERY_LENGTH, "longer than 1000 characters"),
        (" ".join(["w"] * (MAX_TERMS + 1)), 2 * MAX_TERMS, "more than 50 terms"),
        ("(" * 25 + "a" + ")" * 25, 20, "nests more than 20 levels"),
        ("-" * 30 + "a b", 20, "nests more than 20 levels"),
    ],
)
def test_invalid_queries_report_position_and_reason(text: str, position: int, reason: str) -> None:
    with pytest.raises(QueryError) as error:
        parse(text)
    assert reason in error.value.reason
    assert error.value.position == position
    assert f"at position {position + 1}" in str(error.value)


def test_regex_program_size_is_capped() -> None:
    with pytest.raises(QueryError) as error:
        parse(r"/\pL{40}\pN{40}/")
    assert "too complex" in error.value.reason


# ---------------------------------------------------------------- round trip (property)

_WORDS = st.sampled_from(
    ["huawei", "Kaspersky's", "TP-Link", "c++", "ban", "directive", "5G", "华为", "Straße"]
)
_ATOM_TEXT = st.one_of(
    _WORDS,
    _WORDS.map(lambda w: f'"{w} list"'),
    st.sampled_from(["sanction*", "direct*"]),
    st.sampled_from(["vendor:ZTE", 'vendor:"China Mobile"', "vendor:Acme", "vendor:卡巴斯基"]),
    st.sampled_from(["/cve-\\d+/", "/a\\/b+/"]),
    st.sampled_from(["action:ban", "action:any"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda p: f"{p[0]} {p[1]}"),
        st.tuples(children, children).map(lambda p: f"{p[0]} AND {p[1]}"),
        st.tuples(children, children).map(lambda p: f"{p[0]} OR {p[1]}"),
        st.tuples(children, children).map(lambda p: f"{p[0]} -{p[1]}"),
        st.tuples(children, children, st.integers(0, 50)).map(lambda p: f"{p[0]} NEAR/{p[2]} {p[1]}"),
        children.map(lambda c: f"({c})"),
        st.tuples(st.sampled_from(["title:", "summary:", "source:"]), children).map(
            lambda p: f"{p[0]}({p[1]})"
        ),
        children.map(lambda c: f"NOT ({c}) x"),
    )


_QUERIES = st.recursive(_ATOM_TEXT, _combine, max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_QUERIES)
def test_canonical_form_round_trips(text: str) -> None:
    try:
        query = parse(text)
    except QueryError:
        assume(False)
        return
    canonical = str(query)
    again = parse(canonical)
    assert again == query
    assert str(again) == canonical
    assert again.warnings == query.warnings


def _parses_or_raises_query_error(text: str) -> None:
    try:
        query = parse(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        assert error.reason
        return
    assert parse(str(query)) == query


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    _parses_or_raises_query_error(text)


_OPERATOR_SOUP = st.lists(
    st.sampled_from(
        ['"', "(", ")", " ", "-", "*", "/", ":", "OR", "AND", "NOT", "NEAR/2", "title:", "vendor:"]
    )
    | st.sampled_from(["a", "b", "huawei", "action:", "ban", "\\", "é", "华"]),
    max_size=25,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_OPERATOR_SOUP)
def test_operator_soup_parses_or_raises_query_error(text: str) -> None:
    _parses_or_raises_query_error(text)


# ---------------------------------------------------------------- folding


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＫＡＳＰＥＲＳＫＹ", "kaspersky"),
        ("Kaspersky’s", "kaspersky's"),
        ("Straße", "strasse"),
        ("İstanbul", "istanbul"),
        ("Café", "cafe"),
        ("Cafe\u0301", "cafe"),
        ("ﬁnal", "final"),
        ("TP‑Link", "tp-link"),
        ("Hello\u00a0 \n\tWorld", "hello world"),
        (" edge ", " edge "),
        ("ΣΟΦΟΣ", "σοφοσ"),
        ("Лаборатория Касперского", "лаборатория касперского"),
        ("华为 Huawei", "华为 huawei"),
        ("ガイド バイ", "ガイド バイ"),
        ("ｶﾞｲﾄﾞ", "ガイド"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_stable_runs_really_fold_to_themselves() -> None:
    ranges = [(0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3)]
    chars = [chr(c) for low, high in ranges for c in range(low, high + 1)]
    changed = [char for char in chars if _fold_cluster(char) != char]
    assert changed == []


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_fold_equals_the_segment_definition_used_for_offsets(text: str) -> None:
    assert fold(text) == fold_by_segments(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=30),
    st.sampled_from(["Kaspersky", "ＫＡＳＰＥＲＳＫＹ", "Café\u0301", "Straße", "华为", "İstanbul"]),
    st.text(max_size=30),
)
def test_original_span_maps_a_folded_word_back_to_its_spelling(before: str, word: str, after: str) -> None:
    text = FoldedText(f"{before} {word} {after}")
    target = fold(word)
    start = len(fold(f"{before} "))
    assert text.folded[start : start + len(target)] == target
    ostart, oend = text.original_span(start, start + len(target))
    assert fold(text.original[ostart:oend]) == target


# ---------------------------------------------------------------- vendor catalog


@pytest.mark.parametrize(
    ("name", "vendor"),
    [
        ("Kaspersky", "Kaspersky"),
        ("KASPERSKY LAB", "Kaspersky"),
        ("AO Kaspersky Lab", "Kaspersky"),
        ("Лаборатория Касперского", "Kaspersky"),
        ("卡巴斯基", "Kaspersky"),
        ("华为", "Huawei"),
        ("Huawei Technologies Co., Ltd.", "Huawei"),
        ("zte corporation", "ZTE"),
        ("中兴", "ZTE"),
        ("海康威视", "Hikvision"),
        ("Zhejiang Dahua Technology", "Dahua"),
        ("海能达", "Hytera"),
        ("中国移动", "China Mobile"),
        ("China Telecom (Americas)", "China Telecom"),
        ("中国联通", "China Unicom"),
        ("ComNet (USA)", "Pacific Networks"),
        ("字节跳动", "ByteDance"),
        ("抖音", "ByteDance"),
        ("Da-Jiang Innovations", "DJI"),
        ("大疆", "DJI"),
        ("深度求索", "DeepSeek"),
        ("普联", "TP-Link"),
        ("ＴＰ－ＬＩＮＫ", "TP-Link"),
        ("  tp-link  ", "TP-Link"),
    ],
)
def test_catalog_lookup_any_alias(name: str, vendor: str) -> None:
    found = CATALOG.lookup(name)
    assert found is not None
    assert found.name == vendor


def test_catalog_names_and_unknown() -> None:
    names = CATALOG.names()
    assert {"Kaspersky", "Huawei", "ZTE", "Hikvision", "Dahua", "Hytera", "DJI", "TP-Link"} <= set(names)
    assert CATALOG.lookup("Djibouti") is None
    assert len(CATALOG) == len(names)
    assert all(vendor.aliases for vendor in CATALOG)


def test_catalog_from_toml_text() -> None:
    catalog = VendorCatalog.from_toml_text(
        '[[vendor]]\nname = "Acme"\naliases = ["Acme Corp"]\ncountry = "US"\nnote = "test"\n'
    )
    assert catalog.lookup("acme corp") == Vendor("Acme", ("Acme Corp",), "US", "test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[vendor]\n", "not valid TOML"),
        ('[[vendor]]\naliases = ["x"]\n', "has no name"),
        ('[[vendor]]\nname = "A"\naliases = "x"\n', "aliases must be a list"),
        ('[[vendor]]\nname = "A"\naliases = ["B"]\n[[vendor]]\nname = "b"\n', "names both"),
        ('[[vendor]]\nname = "A"\naliases = [" "]\n', "empty name or alias"),
        ('vendor = "x"\n', "use [[vendor]] tables"),
    ],
)
def test_catalog_rejects_bad_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        VendorCatalog.from_toml_text(text)
    assert message in str(error.value)
