"""Fuzzing (hypothesis): the query parser, the normaliser, every adapter and both renderers.

Properties, each with an asserted outcome:
- the query parser returns a query whose canonical text parses back to the same query, or raises
  QueryError with a position inside the text; nothing else (more in tests/domain/test_query.py);
- the normaliser (fold) agrees with its per-segment definition that match offsets rely on;
- every source adapter, given arbitrary bytes, returns entries or raises ParseError, nothing else
  (the adapter boundary; more byte-level mutation in tests/sources/test_parse.py);
- the Discord payload built from arbitrary text is within Discord's limits and pings nobody, and
  the console rendering holds no control character (more in tests/delivery/test_embed.py).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.delivery.embed import build_message, discord_len, embed_length
from bot.delivery.render import render_console
from bot.domain.errors import ParseError, QueryError
from bot.domain.query import parse_query
from bot.domain.text import fold, fold_by_segments
from bot.domain.vendors import VendorCatalog
from bot.sources.adapters import parse_document, supported_kinds
from tests.delivery.test_embed import alert
from tests.domain.test_query import _QUERIES

CATALOG = VendorCatalog.load_default()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUERY_ALPHABET = st.sampled_from(list('abcxyz "()*/-:ANDORNOTNEAR/5 title:vendor:action:ban\\.+?[]{}|^$'))
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")


def check_query(text: str) -> None:
    """Parse `text`: a round-tripping query, or QueryError with a position inside the text."""
    try:
        query = parse_query(text, CATALOG)
    except QueryError as error:
        assert 0 <= error.position <= len(text) and error.reason
        return
    assert parse_query(str(query), CATALOG) == query


@FUZZ
@given(st.text(max_size=200))
def test_query_parser_on_any_text(text: str) -> None:
    check_query(text)


@FUZZ
@given(st.text(QUERY_ALPHABET, max_size=80) | _QUERIES)
def test_query_parser_on_operator_soup_and_valid_queries(text: str) -> None:
    check_query(text)


@FUZZ
@given(st.text(max_size=300))
def test_fold_agrees_with_the_segment_definition(text: str) -> None:
    # The matcher maps folded offsets back through segments; the two definitions must agree.
    assert fold(text) == fold_by_segments(text)


KINDS = [k for k in supported_kinds() if k != "html"]  # page watches need a selector option
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@pytest.mark.parametrize("kind", KINDS)
@given(body=st.binary(max_size=2_000) | JSONISH.map(lambda doc: json.dumps(doc).encode()))
def test_adapters_raise_only_parse_error(kind: str, body: bytes) -> None:
    try:
        feed = parse_document(kind, body)
    except ParseError as error:
        assert str(error)
        return
    assert all(isinstance(e.title, str) and isinstance(e.text, str) for e in feed.entries)


@FUZZ
@given(body=st.binary(max_size=2_000))
def test_page_watch_raises_only_parse_error(body: bytes) -> None:
    try:
        parse_document("html", body, options={"item_selector": "li", "title_selector": "a"})
    except ParseError:
        return


@FUZZ
@given(
    title=st.text(max_size=3_000),
    text=st.text(max_size=8_000),
    source=st.text(max_size=300),
    terms=st.lists(st.text(min_size=1, max_size=100), max_size=30),
    role=st.none() | st.integers(1, 2**63 - 1),
)
def test_rendered_alerts_stay_within_limits_and_ping_nobody(
    title: str, text: str, source: str, terms: list[str], role: int | None
) -> None:
    hostile = alert(title=title, text=text, source_name=source, terms=tuple(terms), mention_role_id=role)
    message = build_message(hostile)
    [embed] = message["embeds"]
    assert embed_length(embed) <= 6000 and discord_len(embed.get("title", "")) <= 256
    assert discord_len(embed.get("description", "")) <= 4096
    assert all(
        discord_len(f["value"]) <= 1024 and discord_len(f["name"]) <= 256 for f in embed.get("fields", [])
    )
    assert message["allowed_mentions"] == {"parse": [], "roles": [str(role)] if role else []}
    assert message["content"] == (f"<@&{role}>" if role else "")
    printed = render_console(hostile)
    assert not UNSAFE.search(printed.replace("\n", ""))
