"""Identities first, dedupe, then convert only what is new: across the parse worker's pickle too."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot.sources import parse as parse_module
from bot.sources.entries import LazyEntries, identities_of
from bot.sources.parse import parse_feed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
FIELDS = ("guid_or_id", "best_link", "title_text", "text", "published_at")


@pytest.mark.parametrize(
    "name",
    # Unique guids; no guids at all (identity by link); two guid elements in one item.
    ["news_guardian_us_2018.rss", "news_macworld_no_guids.rss", "edge_item_with_two_guid_elements.rss"],
)
def test_identities_cross_from_the_worker_so_the_receiver_reads_no_field(name, monkeypatch):
    feed = parse_feed((FIXTURES / name).read_bytes(), url="https://example.org/feed")
    expected = identities_of(feed.entries)
    sent = pickle.dumps(feed)  # what a parse worker sends back
    calls = dict.fromkeys(FIELDS, 0)
    for field in FIELDS:
        real = getattr(parse_module._Item, field)

        def counted(self, *args, _real=real, _field=field):
            calls[_field] += 1
            return _real(self, *args)

        monkeypatch.setattr(parse_module._Item, field, counted)
    received = pickle.loads(sent)
    assert isinstance(received.entries, LazyEntries)
    assert identities_of(received.entries) == expected
    assert calls == dict.fromkeys(FIELDS, 0) and received.entries.converted() == 0
    received.entries[0]  # a new entry is converted when read, in the receiver
    assert calls["title_text"] == 1 and received.entries.converted() == 1
