"""NEAR is evaluated in time linear in the occurrences, and agrees with the reference evaluator.

The reference (tests/domain/test_matcher.py) numbers words by tokenizing the whole field and
compares every pair of occurrences; the matcher sorts one side and looks only at the window of
`distance` words around each occurrence of the other, counting each span once.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.matcher import Matcher
from bot.domain.models import MatchDoc
from bot.domain.query import MAX_QUERY_COST, parse_query
from bot.domain.query_eval import _token_starts
from bot.domain.text import fold, word_tokens
from tests.domain.test_matcher import _reference, engines

# Few words, so that texts repeat them and chains find many pairs (and overlaps: "tp link").
_WORDS = ["ban", "huawei", "fine", "tp-link", "tp", "link", "the", "華為", ",", "5g"]
_TEXT = st.lists(st.sampled_from(_WORDS), max_size=40).map(" ".join)
_OPERAND = st.sampled_from(
    ["ban", "huawei", "fine", "the", '"tp link"', "tp-link", "(ban OR fine)", "华为", "hua*"]
)


@st.composite
def _chains(draw: st.DrawFn) -> str:
    operands = draw(st.lists(_OPERAND, min_size=2, max_size=5))
    text = operands[0]
    for operand in operands[1:]:
        text += f" NEAR/{draw(st.integers(0, 6))} {operand}"
    if draw(st.booleans()):
        text = f"title:({text})" if draw(st.booleans()) else f"{text} OR fine"
    return text


@engines
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chains(), _TEXT, _TEXT)
def test_near_chains_agree_with_the_reference(engine: str, query_text: str, title: str, summary: str) -> None:
    query = parse_query(query_text)
    doc = MatchDoc(title=title, summary=summary, source="src", action=None)
    found = Matcher([(0, query)], engine).match(doc)
    assert bool(found) == _reference(query.root, doc), (query_text, title, summary)


def test_a_widest_chain_on_text_of_its_own_words_stays_within_the_budget() -> None:
    # Every word of the text is an occurrence of some side: the worst case for the pair window.
    words = ["ban", "huawei", "fine", "sanction", "zte"]
    matcher = Matcher([(0, parse_query(" NEAR/50 ".join(words)))])
    text = " ".join(words * 400)
    assert matcher.match(MatchDoc(title="", summary=text, source="s", action=None))
    assert 0 < matcher.work <= MAX_QUERY_COST and matcher.over_budget == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=120) | st.text(max_size=60))
def test_fast_token_starts_equal_the_token_regex(text: str) -> None:
    folded = fold(text)
    assert _token_starts(folded) == word_tokens(folded)
