"""The full-text index preselects preview candidates without ever losing a match."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.prefilter import EVERY, NONE, fts_filter
from bot.domain.query import parse_query
from bot.services.insight import preview
from bot.storage import items, sources
from bot.storage.db import connect
from bot.storage.items import NewItem
from bot.storage.sources import SourceConfig

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HEADLINES = Path(__file__).resolve().parent.parent / "data" / "story_headlines.json"


def real_titles() -> list[str]:
    stories = json.loads(HEADLINES.read_text(encoding="utf-8"))["stories"]
    return [item["title"] for story in stories for item in story["items"]]


def variants(title: str) -> list[str]:
    """Derive the cases where FTS5 tokens and the whole-word rule differ."""
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in title)
    return [
        title,
        title.replace(" ", "_", 1),  # one word for the rule, two tokens for FTS5
        title.replace("Kaspersky", "Kaspersky华为"),  # a Han run right after a name
        fullwidth,  # NFKC folds it to the ASCII title
        title.replace("a", "á", 1),
    ]


QUERIES = [
    "kaspersky",
    "vendor:Kaspersky",
    "vendor:Huawei",
    '"kaspersky lab"',
    "kasp*",
    "sanction* AND kaspersky",
    "kaspersky -russia",
    "ban NEAR/3 kaspersky",
    "title:kaspersky OR summary:huawei",
    "source:bench",
    "action:ban kaspersky",
    "华为",
    "tp-link OR zte",
    "/kasp[e]rsky/",
    "-kaspersky bans",
]


def tokens(text: str) -> str:
    """Return FTS5's tokens of ASCII text, space-separated and padded."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _filled(location: str):
    database = connect(location)
    src = sources.add(database, SourceConfig("bench", "https://bench.example/feed"), NOW)
    titles = [v for title in real_titles() for v in variants(title)]
    new = [
        NewItem(f"i{n}", None, None, None, None, title, f"Summary of {title}", NOW, classified=False)
        for n, title in enumerate(titles)
    ]
    items.store_poll(database, src.id, NOW, NOW, new, [], etag=None, last_modified=None, body_hash=None)
    return database


@pytest.fixture
def db(tmp_path):
    """The FTS5 index is SQLite's: these items on SQLite only."""
    database = _filled(str(tmp_path / "regwatch.db"))
    yield database
    database.conn.close()


@pytest.fixture
def any_db(backend, request, tmp_path):
    """These items on either backend (PostgreSQL previews read the whole period: docs/scaling.md)."""
    location = str(tmp_path / "regwatch.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    database = _filled(location)
    yield database
    database.conn.close()


@pytest.mark.parametrize("text", QUERIES)
def test_candidates_keep_every_match(any_db, text):
    db = any_db
    query = parse_query(text)
    since = NOW - timedelta(days=1)
    everything = items.recent(db, since, 100_000)
    stored, truncated, total = items.preview_candidates(db, since, 100_000, fts_filter(query))
    assert not truncated and total == len(everything)
    full = preview(everything, query, limit=10_000)
    narrowed = preview(stored, query, limit=10_000, scanned=total)
    assert [it.id for it, _ in narrowed.top] == [it.id for it, _ in full.top]
    assert narrowed.total == full.total and narrowed.scanned == full.scanned


def test_a_selective_query_reads_few_items(db):
    query = parse_query('"kaspersky lab"')
    since = NOW - timedelta(days=1)
    stored, _, total = items.preview_candidates(db, since, 100_000, fts_filter(query))
    assert fts_filter(query) == '"kaspersky lab"'
    assert len(stored) < total
    # ASCII items are read only when they have the phrase; others always are (they may fold to it).
    plain = [it for it in stored if (it.title + it.text).isascii()]
    assert plain and all(" kaspersky lab " in tokens(it.title + " " + it.text) for it in plain)
    assert fts_filter(parse_query("-kaspersky bans")) == '"bans"'
    assert fts_filter(parse_query("source:bench")) == EVERY
    assert fts_filter(parse_query("华为")) == NONE


def test_the_index_follows_deletes(db):
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")
    removed = db.execute("SELECT id FROM items ORDER BY id LIMIT 20").fetchall()
    db.execute(f"DELETE FROM items WHERE id IN ({','.join(str(r[0]) for r in removed)})")
    db.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")  # raises if out of step


@pytest.mark.parametrize("text", ["kaspersky", "vendor:Huawei", "kasp*", "tp-link OR zte", "-kaspersky bans"])
def test_a_capped_read_is_the_newest_of_the_full_read(db, text):
    # More candidates than the cap walk the period newest first; fewer join their rows: the same
    # items in the same order either way.
    fts = fts_filter(parse_query(text))
    since = NOW - timedelta(days=1)
    every, more, _ = items.preview_candidates(db, since, 100_000, fts)
    assert not more and len(every) > 7
    capped, truncated, _ = items.preview_candidates(db, since, 7, fts)
    assert truncated and [it.id for it in capped] == [it.id for it in every[:7]]
    assert capped == every[:7]


def _shuffled(location: str):
    """Items of three sources (shared, server 7's, server 8's) stored in an order unlike their fetch order."""
    import random

    database = connect(location)
    shared = sources.add(database, SourceConfig("bench", "https://bench.example/feed"), NOW)
    mine = sources.add_for_guild(database, SourceConfig("mine", "https://mine.example/feed"), NOW, 7)
    theirs = sources.add_for_guild(database, SourceConfig("theirs", "https://theirs.example/feed"), NOW, 8)
    assert mine is not None and theirs is not None
    titles = [v for title in real_titles() for v in variants(title)]
    minutes = list(range(len(titles)))
    random.Random(17).shuffle(minutes)  # ids and fetch times in different orders
    for n, (title, minute) in enumerate(zip(titles, minutes, strict=True)):
        src = (shared.id, mine.id, theirs.id)[n % 3]
        when = NOW - timedelta(minutes=minute // 3)  # some fetched at the same second: ties by id
        new = [NewItem(f"i{n}", None, None, None, None, title, f"Summary of {title}", when, classified=False)]
        items.store_poll(database, src, when, when, new, [], etag=None, last_modified=None, body_hash=None)
    return database


@pytest.mark.parametrize(("slack", "spread"), [(1_000, 4), (1, 4), (1, 10**9), (3, 0)])
@pytest.mark.parametrize("guild_id", [None, 7])
@pytest.mark.parametrize("text", ["kaspersky", "vendor:Huawei", "kasp*", "-kaspersky bans"])
def test_a_capped_read_in_any_id_order_and_scope(
    backend, request, tmp_path, monkeypatch, slack, spread, guild_id, text
):
    # The walk of a capped read goes in chunks (slack 1: many small ones), asks the index about
    # each chunk's id range or (spread 0) for its whole answer once: the same items either way,
    # under the names the server gave their sources, only from the sources it sees.
    from bot.storage import preview as preview_read

    location = str(tmp_path / "regwatch.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = _shuffled(location)
    monkeypatch.setattr(preview_read, "_SLACK", slack)
    monkeypatch.setattr(preview_read, "_SPREAD", spread)
    fts = fts_filter(parse_query(text))
    since = NOW - timedelta(days=1)
    every, more, total = items.preview_candidates(db, since, 100_000, fts, guild_id=guild_id)
    assert not more and len(every) > 40
    if guild_id is not None:
        assert {it.source_name for it in every} == {"bench", "mine"} and total < len(items.recent(db, since))
    for cap in (1, 7, 40, len(every) - 1):
        capped, truncated, _ = items.preview_candidates(db, since, cap, fts, guild_id=guild_id)
        assert truncated and capped == every[:cap]
    assert [it.stored() for it in every] == items.recent(
        db, since, 100_000, guild_id=guild_id, candidates=fts
    )
    db.conn.close()
